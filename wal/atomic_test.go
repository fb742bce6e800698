package wal_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"

	"github.com/onexbus/onexbus/internal/faultstore"
	"github.com/onexbus/onexbus/internal/kbatch"
	"github.com/onexbus/onexbus/store"
	"github.com/onexbus/onexbus/store/bolt"
	memstore "github.com/onexbus/onexbus/store/memory"
	"github.com/onexbus/onexbus/wal"
)

// atomicTopics creates the topics the atomic tests write: "in" (the
// input, frames, 1 partition), "f" (frames, 2) and "k" (Kafka, 2).
func atomicTopics(t *testing.T, l *wal.Log) {
	t.Helper()
	createTopic(t, l, "in", wal.TopicConfig{Partitions: 1})
	createTopic(t, l, "f", wal.TopicConfig{Partitions: 2})
	createKafka(t, l, "k", 2)
}

// atomicBatch builds a batch of the bus's own (producer id -1) with values
// tag-0.. and the given message ids.
func atomicBatch(t testing.TB, tag string, ids [][16]byte) ([]byte, []wal.BatchID) {
	t.Helper()
	b := kbatch.NewBuilder(kbatch.CodecNone)
	var out []wal.BatchID
	for i, id := range ids {
		if err := b.Add(1_700_000_000_000, nil, fmt.Appendf(nil, "%s-%d", tag, i), nil); err != nil {
			t.Fatal(err)
		}
		out = append(out, wal.BatchID{MessageID: id})
	}
	batch, err := b.Finish(nil)
	if err != nil {
		t.Fatal(err)
	}
	return batch, out
}

// atomicOp is one consume-process-publish step: input record in, one
// output on each of f/0, f/1, k/0, k/1, and the cursor of group g on
// in/0 moved past in.
func atomicOp(t testing.TB, in int64) ([]wal.AtomicWrite, []wal.AtomicCursor) {
	t.Helper()
	var writes []wal.AtomicWrite
	for part := range int32(2) {
		writes = append(writes, wal.AtomicWrite{Topic: "f", Part: part,
			Records: []wal.Record{{Payload: fmt.Appendf(nil, "out-%d", in)}}})
		batch, ids := atomicBatch(t, fmt.Sprintf("out-%d", in), [][16]byte{{}})
		writes = append(writes, wal.AtomicWrite{Topic: "k", Part: part, Batch: batch, IDs: ids})
	}
	return writes, []wal.AtomicCursor{{Group: "g", Topic: "in", Part: 0, Offset: in + 1}}
}

// ends returns the visible end of f/0, f/1, k/0 and k/1.
func ends(t *testing.T, l *wal.Log) [4]int64 {
	t.Helper()
	var out [4]int64
	for i, tp := range []struct {
		topic string
		part  int32
	}{{"f", 0}, {"f", 1}, {"k", 0}, {"k", 1}} {
		_, end, err := l.Offsets(tp.topic, tp.part)
		if err != nil {
			t.Fatal(err)
		}
		out[i] = end
	}
	return out
}

// Records for frames and Kafka partitions and a cursor move go into the
// store together, on both stores and under every policy, and survive a
// reopen; a Handled mark is stored with them.
func TestAppendAtomicStoresRecordsAndCursorsTogether(t *testing.T) {
	for _, policy := range []wal.Policy{wal.PolicySync, wal.PolicyInterval, wal.PolicyNone} {
		t.Run(policy.String(), func(t *testing.T) {
			backends(t, func(t *testing.T, open func(t *testing.T) store.Store) {
				ctx := context.Background()
				l, err := wal.Open(open(t), wal.WithPolicy(policy, 0))
				if err != nil {
					t.Fatal(err)
				}
				atomicTopics(t, l)
				appendN(t, l, "in", 3, seq)
				writes, cursors := atomicOp(t, 0)
				cursors = append(cursors, wal.AtomicCursor{Group: "g", Topic: "in", Part: 0, Offset: 2, Handled: true})
				if err := l.AppendAtomic(ctx, writes, cursors); err != nil {
					t.Fatal(err)
				}
				if writes[0].Records[0].Offset != 0 || writes[1].BaseOffset != 0 {
					t.Fatalf("positions not set: record %+v, batch base %d", writes[0].Records[0], writes[1].BaseOffset)
				}
				if got := ends(t, l); got != [4]int64{1, 1, 1, 1} {
					t.Fatalf("ends after the op: %v", got)
				}
				if a, ok := l.Attempts("g", "in", 0, 2); !ok || !a.Handled() {
					t.Fatalf("handled mark after the op: %+v %v", a, ok)
				}
				if err := l.Close(ctx); err != nil {
					t.Fatal(err)
				}
				l = openLog(t, open(t))
				if got := ends(t, l); got != [4]int64{1, 1, 1, 1} {
					t.Fatalf("ends after reopen: %v", got)
				}
				if off, ok, _ := l.Cursor("g", "in", 0); !ok || off != 1 {
					t.Fatalf("cursor after reopen: %d %v, want 1", off, ok)
				}
				if a, ok := l.Attempts("g", "in", 0, 2); !ok || !a.Handled() {
					t.Fatalf("handled mark after reopen: %+v %v", a, ok)
				}
				// The mark goes when the cursor passes its record.
				if err := l.CommitCursors(ctx, "g", []wal.CursorCommit{{Topic: "in", Part: 0, Value: wal.CursorValue{Offset: 3}}}, true); err != nil {
					t.Fatal(err)
				}
				if _, ok := l.Attempts("g", "in", 0, 2); ok {
					t.Fatal("handled mark still there after the cursor passed it")
				}
			})
		})
	}
}

// A commit that fails stores nothing of the op: readers see none of its
// records, and a store whose later commits fail too (a process that dies
// before the disk works again) holds neither records nor cursor. Once
// the disk works, the next commit stores the whole op.
func TestAppendAtomicCommitFailureStoresNothing(t *testing.T) {
	for _, keep := range []bool{false, true} {
		t.Run(fmt.Sprintf("disk-recovers-%v", keep), func(t *testing.T) {
			ctx := context.Background()
			path := filepath.Join(t.TempDir(), "wal.db")
			st, err := bolt.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			fs := faultstore.New(st)
			l, err := wal.Open(fs)
			if err != nil {
				t.Fatal(err)
			}
			atomicTopics(t, l)
			appendN(t, l, "in", 2, seq)
			fs.Fail(faultstore.Rule{Kind: faultstore.KindCommit})
			writes, cursors := atomicOp(t, 0)
			err = l.AppendAtomic(ctx, writes, cursors)
			if !errors.Is(err, wal.ErrCommit) {
				t.Fatalf("atomic append on a failing commit: %v, want ErrCommit", err)
			}
			if got := ends(t, l); got != [4]int64{} {
				t.Fatalf("records of a failed op visible: ends %v", got)
			}
			if keep {
				fs.Clear()
				if err := l.Sync(ctx); err != nil {
					t.Fatal(err)
				}
				if got := ends(t, l); got != [4]int64{1, 1, 1, 1} {
					t.Fatalf("after the disk recovered: ends %v, want the whole op", got)
				}
			} else {
				fs.Fail(faultstore.Rule{Kind: faultstore.KindCommit, Count: 0})
			}
			_ = l.Close(ctx)
			if err := st.Close(); err != nil {
				t.Fatal(err)
			}
			st2, err := bolt.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = st2.Close() })
			l2 := openLog(t, st2)
			want, wantCur := [4]int64{}, int64(-1)
			if keep {
				want, wantCur = [4]int64{1, 1, 1, 1}, 1
			}
			cur, ok, _ := l2.Cursor("g", "in", 0)
			if !ok {
				cur = -1
			}
			if got := ends(t, l2); got != want || cur != wantCur {
				t.Fatalf("after reopen: ends %v cursor %d, want %v and %d", got, cur, want, wantCur)
			}
		})
	}
}

// An op with one bad part queues nothing at all.
func TestAppendAtomicRefusesBadOpsWhole(t *testing.T) {
	l := openLog(t, memstore.New(), wal.WithMaxRecordBytes(1024))
	atomicTopics(t, l)
	appendN(t, l, "in", 2, seq)
	good, cursors := atomicOp(t, 0)
	batch, ids := atomicBatch(t, "x", [][16]byte{{}})
	cases := []struct {
		name   string
		bad    wal.AtomicWrite
		cursor *wal.AtomicCursor
		want   error
	}{
		{"unknown topic", wal.AtomicWrite{Topic: "nope", Records: []wal.Record{{Payload: []byte("x")}}}, nil, wal.ErrUnknownTopic},
		{"bad partition", wal.AtomicWrite{Topic: "f", Part: 7, Records: []wal.Record{{Payload: []byte("x")}}}, nil, wal.ErrInvalidPartition},
		{"records for kafka", wal.AtomicWrite{Topic: "k", Records: []wal.Record{{Payload: []byte("x")}}}, nil, wal.ErrWrongFormat},
		{"batch for frames", wal.AtomicWrite{Topic: "f", Batch: batch, IDs: ids}, nil, wal.ErrWrongFormat},
		{"too large", wal.AtomicWrite{Topic: "f", Records: []wal.Record{{Payload: make([]byte, 2048)}}}, nil, wal.ErrRecordTooLarge},
		{"garbage batch", wal.AtomicWrite{Topic: "k", Batch: []byte("garbage"), IDs: ids}, nil, wal.ErrInvalidBatch},
		{"ids do not match", wal.AtomicWrite{Topic: "k", Batch: batch}, nil, wal.ErrInvalidBatch},
		{"cursor past the end", wal.AtomicWrite{Topic: "f", Records: []wal.Record{{Payload: []byte("x")}}},
			&wal.AtomicCursor{Group: "g", Topic: "in", Offset: 3}, wal.ErrInvalidCursor},
		{"bad group", wal.AtomicWrite{Topic: "f", Records: []wal.Record{{Payload: []byte("x")}}},
			&wal.AtomicCursor{Group: "", Topic: "in", Offset: 1}, wal.ErrInvalidOption},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			writes := append(append([]wal.AtomicWrite{}, good...), tc.bad)
			cur := cursors
			if tc.cursor != nil {
				cur = append(append([]wal.AtomicCursor{}, cursors...), *tc.cursor)
			}
			if err := l.AppendAtomic(context.Background(), writes, cur); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if got := ends(t, l); got != [4]int64{} {
				t.Fatalf("a refused op queued records: ends %v", got)
			}
			if _, ok, _ := l.Cursor("g", "in", 0); ok {
				t.Fatal("a refused op moved the cursor")
			}
		})
	}
}

// Message ids the topic saw within the dedup window are not stored
// again: frames records one by one, Kafka batches rebuilt without them.
func TestAppendAtomicDedup(t *testing.T) {
	ctx := context.Background()
	l := openLog(t, memstore.New())
	atomicTopics(t, l)
	idA, idB := [16]byte{1}, [16]byte{2}
	if err := l.Append(ctx, "f", 1, []wal.Record{{MessageID: idA, Payload: []byte("first")}}); err != nil {
		t.Fatal(err)
	}
	first, firstIDs := atomicBatch(t, "first", [][16]byte{idA})
	if err := l.AppendAtomic(ctx, []wal.AtomicWrite{{Topic: "k", Part: 1, Batch: first, IDs: firstIDs}}, nil); err != nil {
		t.Fatal(err)
	}
	batch, ids := atomicBatch(t, "kb", [][16]byte{idB, {}, idA})
	rebuilt := 0
	writes := []wal.AtomicWrite{
		{Topic: "f", Part: 0, Records: []wal.Record{{MessageID: idA, Payload: []byte("again")}, {Payload: []byte("new")}}},
		{Topic: "k", Part: 0, Batch: batch, IDs: ids, Rebuild: func(dups []wal.BatchDuplicate) ([]byte, []wal.BatchID, error) {
			rebuilt++
			if len(dups) != 1 || dups[0].Index != 2 || dups[0].Partition != 1 || dups[0].Offset != 0 {
				return nil, nil, fmt.Errorf("dups %+v", dups)
			}
			b, i := atomicBatch(t, "kb", [][16]byte{idB, {}})
			return b, i, nil
		}},
	}
	if err := l.AppendAtomic(ctx, writes, nil); err != nil {
		t.Fatal(err)
	}
	if r := writes[0].Records[0]; !r.Duplicate || r.Partition != 1 || r.Offset != 0 {
		t.Fatalf("frames duplicate: %+v", r)
	}
	if rebuilt != 1 {
		t.Fatalf("rebuilt %d times", rebuilt)
	}
	if got := ends(t, l); got != [4]int64{1, 1, 2, 1} {
		t.Fatalf("ends %v, want f/0 1, f/1 1, k/0 2, k/1 1", got)
	}
}

// snapshotStore wraps a store and, after every commit, checks the
// invariant of the ops the test runs against a copy of what the store
// then holds (opened as a log of its own): every output partition holds
// exactly as many records as group g's cursor on the input says were
// consumed. A commit that took part of an op breaks it.
type snapshotStore struct {
	store.Store
	mu       sync.Mutex
	commits  int
	problems []string
}

func (s *snapshotStore) Update(fn func(store.Tx) error) error {
	if err := s.Store.Update(fn); err != nil {
		return err
	}
	cp := memstore.New()
	err := s.Store.View(func(src store.Tx) error {
		return cp.Update(func(dst store.Tx) error {
			return src.ForEachBucket(func(name []byte) error {
				nb, err := dst.CreateBucket(bytes.Clone(name))
				if err != nil {
					return err
				}
				c := src.Bucket(name).Cursor()
				for k, v := c.First(); k != nil; k, v = c.Next() {
					if err := nb.Put(bytes.Clone(k), bytes.Clone(v)); err != nil {
						return err
					}
				}
				return nil
			})
		})
	})
	s.mu.Lock()
	defer s.mu.Unlock()
	s.commits++
	if err != nil {
		s.problems = append(s.problems, err.Error())
		return nil
	}
	l, err := wal.Open(cp)
	if err != nil {
		s.problems = append(s.problems, err.Error())
		return nil
	}
	defer l.Close(context.Background())
	if _, ok := l.Topic("k"); !ok {
		return nil // the topics are still being created
	}
	cur, _, _ := l.Cursor("g", "in", 0)
	var got [4]int64
	for i, tp := range []struct {
		topic string
		part  int32
	}{{"f", 0}, {"f", 1}, {"k", 0}, {"k", 1}} {
		_, got[i], _ = l.Offsets(tp.topic, tp.part)
	}
	if got != [4]int64{cur, cur, cur, cur} {
		s.problems = append(s.problems, fmt.Sprintf("commit %d: cursor %d, output ends %v", s.commits, cur, got))
	}
	return nil
}

// Concurrent commits (plain appends to other partitions, cursor commits
// of other groups) never split an op across two store transactions.
func TestAppendAtomicNeverSplitByConcurrentCommits(t *testing.T) {
	for _, policy := range []wal.Policy{wal.PolicySync, wal.PolicyNone} {
		t.Run(policy.String(), func(t *testing.T) {
			ctx := context.Background()
			ss := &snapshotStore{Store: memstore.New()}
			l := openLog(t, ss, wal.WithPolicy(policy, 0))
			atomicTopics(t, l)
			createTopic(t, l, "noise", wal.TopicConfig{Partitions: 1})
			const ops = 40
			appendN(t, l, "in", ops, seq)
			stop := make(chan struct{})
			var wg sync.WaitGroup
			wg.Go(func() {
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					if err := l.Append(ctx, "noise", 0, []wal.Record{{Payload: []byte("n")}}); err != nil {
						t.Error(err)
						return
					}
					if err := l.CommitCursor("other", "noise", 0, int64(i), false); err != nil {
						t.Error(err)
						return
					}
				}
			})
			for in := range int64(ops) {
				writes, cursors := atomicOp(t, in)
				if err := l.AppendAtomic(ctx, writes, cursors); err != nil {
					t.Fatal(err)
				}
			}
			close(stop)
			wg.Wait()
			if err := l.Sync(ctx); err != nil {
				t.Fatal(err)
			}
			ss.mu.Lock()
			defer ss.mu.Unlock()
			if len(ss.problems) > 0 {
				t.Fatalf("%d of %d commits held part of an op:\n%v", len(ss.problems), ss.commits, ss.problems)
			}
			if got := ends(t, l); got != [4]int64{ops, ops, ops, ops} {
				t.Fatalf("ends %v", got)
			}
		})
	}
}

// Handled marks go with the cursor passing them and with their group,
// from memory and from the store.
func TestHandledMarksGo(t *testing.T) {
	ctx := context.Background()
	st := memstore.New()
	l := openLog(t, st)
	atomicTopics(t, l)
	appendN(t, l, "in", 10, seq)
	var marks []wal.AtomicCursor
	for _, off := range []int64{7, 3, 5, 8} {
		marks = append(marks, wal.AtomicCursor{Group: "g", Topic: "in", Offset: off, Handled: true},
			wal.AtomicCursor{Group: "h", Topic: "in", Offset: off, Handled: true})
	}
	if err := l.AppendAtomic(ctx, nil, marks); err != nil {
		t.Fatal(err)
	}
	if err := l.CommitCursor("g", "in", 0, 6, false); err != nil {
		t.Fatal(err)
	}
	handled := func(l *wal.Log, group string) []int64 {
		var out []int64
		for off := range int64(10) {
			if a, ok := l.Attempts(group, "in", 0, off); ok && a.Handled() {
				out = append(out, off)
			}
		}
		return out
	}
	if got := fmt.Sprint(handled(l, "g")); got != "[7 8]" {
		t.Fatalf("g's marks after its cursor passed 3 and 5: %s", got)
	}
	if err := l.DeleteGroup(ctx, "h"); err != nil {
		t.Fatal(err)
	}
	if got := handled(l, "h"); len(got) != 0 {
		t.Fatalf("marks of a deleted group: %v", got)
	}
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	l2 := openLog(t, st)
	if got := fmt.Sprint(handled(l2, "g"), handled(l2, "h")); got != "[7 8] []" {
		t.Fatalf("marks after reopen: %s", got)
	}
}
