package wal_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/onexbus/onexbus/store"
	memstore "github.com/onexbus/onexbus/store/memory"
	"github.com/onexbus/onexbus/wal"
)

// diskStore is a memory store that the log checks as it checks a disk:
// embedding store.Store hides store.Volatile. Tests that damage stored
// values through Put use it (a memory store's values cannot be damaged
// at rest, so the log does not re-check them).
type diskStore struct{ store.Store }

func openLog(t *testing.T, st store.Store, opts ...wal.Option) *wal.Log {
	t.Helper()
	l, err := wal.Open(st, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close(context.Background()) })
	return l
}

func createTopic(t *testing.T, l *wal.Log, name string, cfg wal.TopicConfig) {
	t.Helper()
	if _, err := l.CreateTopic(name, cfg); err != nil {
		t.Fatal(err)
	}
}

func appendN(t *testing.T, l *wal.Log, topic string, n int, ts func(i int) int64) {
	t.Helper()
	for i := range n {
		rec := []wal.Record{{Timestamp: ts(i), Payload: []byte(fmt.Sprintf("rec-%d", i))}}
		if err := l.Append(context.Background(), topic, 0, rec); err != nil {
			t.Fatal(err)
		}
	}
}

func readAll(t *testing.T, l *wal.Log, topic string, from int64) []string {
	t.Helper()
	var out []string
	_, err := l.Read(context.Background(), topic, 0, from, 1<<30, func(e *wal.Entry) error {
		out = append(out, fmt.Sprintf("%d:%s", e.Offset, e.Payload))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func seq(i int) int64 { return int64(i) }

func TestReopenRecoversOffsetsCursorsAndStart(t *testing.T) {
	for _, policy := range []wal.Policy{wal.PolicySync, wal.PolicyInterval, wal.PolicyNone} {
		t.Run(policy.String(), func(t *testing.T) {
			st := memstore.New()
			l, err := wal.Open(st, wal.WithPolicy(policy, 0), wal.WithChunk(7, 1<<10))
			if err != nil {
				t.Fatal(err)
			}
			createTopic(t, l, "t", wal.TopicConfig{Partitions: 1, Retention: wal.Retention{MaxMessages: 30}})
			appendN(t, l, "t", 50, seq)
			if err := l.CommitCursor("g", "t", 0, 42, false); err != nil {
				t.Fatal(err)
			}
			if err := l.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			l2 := openLog(t, st)
			start, end, err := l2.Offsets("t", 0)
			if err != nil || start != 20 || end != 50 {
				t.Fatalf("offsets after reopen: %d..%d, %v; want 20..50", start, end, err)
			}
			if off, ok, _ := l2.Cursor("g", "t", 0); !ok || off != 42 {
				t.Fatalf("cursor after reopen: %d, %v", off, ok)
			}
			got := readAll(t, l2, "t", 0)
			if len(got) != 30 || got[0] != "20:rec-20" || got[29] != "49:rec-49" {
				t.Fatalf("read after reopen: %v", got)
			}
			appendN(t, l2, "t", 1, seq)
			if _, end, _ := l2.Offsets("t", 0); end != 51 {
				t.Fatalf("append after reopen: end %d", end)
			}
		})
	}
}

func TestDedupWindowAndReopen(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	st := memstore.New()
	l, err := wal.Open(st, wal.WithClock(clock), wal.WithDedup(time.Minute, 1000))
	if err != nil {
		t.Fatal(err)
	}
	createTopic(t, l, "t", wal.TopicConfig{Partitions: 1})
	id := [16]byte{1, 2, 3}
	appendOne := func(l *wal.Log) wal.Record {
		recs := []wal.Record{{Timestamp: clock().UnixNano(), MessageID: id, Payload: []byte("x")}}
		if err := l.Append(context.Background(), "t", 0, recs); err != nil {
			t.Fatal(err)
		}
		return recs[0]
	}
	if r := appendOne(l); r.Duplicate || r.Offset != 0 {
		t.Fatalf("first: %+v", r)
	}
	if r := appendOne(l); !r.Duplicate || r.Offset != 0 {
		t.Fatalf("second within window: %+v", r)
	}
	if err := l.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	l2 := openLog(t, st, wal.WithClock(clock), wal.WithDedup(time.Minute, 1000))
	if r := appendOne(l2); !r.Duplicate || r.Offset != 0 {
		t.Fatalf("after reopen within window: %+v", r)
	}
	mu.Lock()
	now = now.Add(2 * time.Minute)
	mu.Unlock()
	if r := appendOne(l2); r.Duplicate || r.Offset != 1 {
		t.Fatalf("after the window: %+v", r)
	}
}

func TestRetentionByBytesAndAge(t *testing.T) {
	now := time.Unix(2_000_000, 0)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	t.Run("bytes", func(t *testing.T) {
		l := openLog(t, memstore.New(), wal.WithChunk(10, 1<<10))
		createTopic(t, l, "t", wal.TopicConfig{Partitions: 1, Retention: wal.Retention{MaxBytes: 2000}})
		appendN(t, l, "t", 200, seq)
		if err := l.Sync(context.Background()); err != nil {
			t.Fatal(err)
		}
		start, end, _ := l.Offsets("t", 0)
		// Frames are 40+8+6..8 bytes: 2000 bytes hold about 37 of them,
		// rounded down to whole chunks of 10.
		if end != 200 || end-start > 40 || end-start < 20 {
			t.Fatalf("kept %d..%d", start, end)
		}
	})
	t.Run("age", func(t *testing.T) {
		l := openLog(t, memstore.New(), wal.WithChunk(10, 1<<10), wal.WithClock(clock))
		createTopic(t, l, "t", wal.TopicConfig{Partitions: 1, Retention: wal.Retention{MaxAge: time.Hour}})
		old := now.Add(-2 * time.Hour).UnixNano()
		appendN(t, l, "t", 30, func(int) int64 { return old })
		appendN(t, l, "t", 5, func(int) int64 { return now.UnixNano() })
		if err := l.Sync(context.Background()); err != nil {
			t.Fatal(err)
		}
		if start, end, _ := l.Offsets("t", 0); start != 30 || end != 35 {
			t.Fatalf("kept %d..%d, want 30..35", start, end)
		}
	})
}

func TestOffsetForTimeAndCorrelation(t *testing.T) {
	l := openLog(t, memstore.New(), wal.WithChunk(4, 1<<10))
	createTopic(t, l, "t", wal.TopicConfig{Partitions: 1})
	cid := [16]byte{9, 9, 9, 9, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}
	for i := range 20 {
		r := []wal.Record{{Timestamp: int64(i * 10), Payload: []byte{byte(i)}}}
		if i%5 == 0 {
			r[0].CorrelationID = cid
		}
		if err := l.Append(context.Background(), "t", 0, r); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct{ ts, want int64 }{{0, 0}, {55, 6}, {190, 19}, {1000, 20}} {
		if got, err := l.OffsetForTime(context.Background(), "t", 0, tc.ts); err != nil || got != tc.want {
			t.Errorf("OffsetForTime(%d) = %d, %v; want %d", tc.ts, got, err, tc.want)
		}
	}
	var offs []int64
	err := l.ReadCorrelation(context.Background(), "t", 0, cid, func(e *wal.Entry) error {
		offs = append(offs, e.Offset)
		return nil
	})
	if err != nil || fmt.Sprint(offs) != "[0 5 10 15]" {
		t.Fatalf("correlation: %v, %v", offs, err)
	}
}

// A flipped bit in a stored chunk is reported with its location, never
// panics, and the records after the damaged chunk stay readable.
func TestCorruptChunkIsReportedAndSkippable(t *testing.T) {
	st := diskStore{memstore.New()}
	l := openLog(t, st, wal.WithChunk(5, 1<<10))
	createTopic(t, l, "t", wal.TopicConfig{Partitions: 1})
	for c := range 3 {
		var recs []wal.Record
		for i := c * 5; i < c*5+5; i++ {
			recs = append(recs, wal.Record{Timestamp: int64(i), Payload: []byte(fmt.Sprintf("rec-%d", i))})
		}
		// One append of five is one commit and one chunk of five.
		if err := l.Append(context.Background(), "t", 0, recs); err != nil {
			t.Fatal(err)
		}
	}
	err := st.Update(func(tx store.Tx) error {
		b := tx.Bucket([]byte("d/t/0"))
		key := []byte{0, 0, 0, 0, 0, 0, 0, 5}
		v := append([]byte(nil), b.Get(key)...)
		v[len(v)-1] ^= 0x40
		return b.Put(key, v)
	})
	if err != nil {
		t.Fatal(err)
	}
	var got []int64
	_, err = l.Read(context.Background(), "t", 0, 0, 100, func(e *wal.Entry) error {
		got = append(got, e.Offset)
		return nil
	})
	var ce *wal.CorruptError
	if !errors.As(err, &ce) || !errors.Is(err, wal.ErrCorrupt) {
		t.Fatalf("read over damage: %v", err)
	}
	if ce.Topic != "t" || ce.Partition != 0 || ce.Offset != 9 || ce.Next != 10 {
		t.Fatalf("location: %+v", ce)
	}
	if fmt.Sprint(got) != "[0 1 2 3 4 5 6 7 8]" {
		t.Fatalf("records before damage: %v", got)
	}
	rest := readAll(t, l, "t", ce.Next)
	if len(rest) != 5 || rest[0] != "10:rec-10" {
		t.Fatalf("after the damage: %v", rest)
	}
}

func TestAppendErrors(t *testing.T) {
	l := openLog(t, memstore.New(), wal.WithMaxRecordBytes(10))
	createTopic(t, l, "t", wal.TopicConfig{Partitions: 2})
	ctx := context.Background()
	cases := []struct {
		name  string
		topic string
		part  int32
		size  int
		want  error
	}{
		{"unknown topic", "nope", 0, 1, wal.ErrUnknownTopic},
		{"partition past the end", "t", 2, 1, wal.ErrInvalidPartition},
		{"negative partition", "t", -1, 1, wal.ErrInvalidPartition},
		{"too large", "t", 0, 11, wal.ErrRecordTooLarge},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := l.Append(ctx, tc.topic, tc.part, []wal.Record{{Payload: make([]byte, tc.size)}})
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := l.CreateTopic("t", wal.TopicConfig{Partitions: 1}); !errors.Is(err, wal.ErrInvalidTopicConfig) {
		t.Fatalf("shrink: %v", err)
	}
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := l.Append(ctx, "t", 0, []wal.Record{{}}); !errors.Is(err, wal.ErrClosed) {
		t.Fatalf("after close: %v", err)
	}
}

// failingStore fails every Update while fail is set.
type failingStore struct {
	store.Store
	mu   sync.Mutex
	fail bool
}

func (f *failingStore) Update(fn func(store.Tx) error) error {
	f.mu.Lock()
	fail := f.fail
	f.mu.Unlock()
	if fail {
		return errors.New("disk on fire")
	}
	return f.Store.Update(fn)
}

// A failed commit is reported to the appender; the records stay queued
// and a later commit stores them, in order, with their offsets.
func TestCommitFailureKeepsRecordsQueued(t *testing.T) {
	fs := &failingStore{Store: memstore.New()}
	l := openLog(t, fs)
	createTopic(t, l, "t", wal.TopicConfig{Partitions: 1})
	fs.mu.Lock()
	fs.fail = true
	fs.mu.Unlock()
	err := l.Append(context.Background(), "t", 0, []wal.Record{{Payload: []byte("a")}})
	if !errors.Is(err, wal.ErrCommit) {
		t.Fatalf("append while the store fails: %v", err)
	}
	if _, end, _ := l.Offsets("t", 0); end != 0 {
		t.Fatalf("uncommitted record visible under sync policy: end %d", end)
	}
	fs.mu.Lock()
	fs.fail = false
	fs.mu.Unlock()
	if err := l.Append(context.Background(), "t", 0, []wal.Record{{Payload: []byte("b")}}); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, l, "t", 0); fmt.Sprint(got) != "[0:a 1:b]" {
		t.Fatalf("got %v", got)
	}
}

// The same message id appended concurrently to different partitions is
// stored once (the dedup check and insert are one step).
func TestDedupAcrossPartitionsConcurrently(t *testing.T) {
	l := openLog(t, memstore.New(), wal.WithPolicy(wal.PolicyNone, 0))
	createTopic(t, l, "t", wal.TopicConfig{Partitions: 4})
	const ids = 2000
	stored := make([]int, ids)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for part := range int32(4) {
		wg.Go(func() {
			for i := range ids {
				id := [16]byte{byte(i), byte(i >> 8), 7}
				recs := []wal.Record{{MessageID: id, Payload: []byte("x")}}
				if err := l.Append(context.Background(), "t", part, recs); err != nil {
					t.Error(err)
					return
				}
				if !recs[0].Duplicate {
					mu.Lock()
					stored[i]++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	for i, n := range stored {
		if n != 1 {
			t.Fatalf("id %d stored %d times", i, n)
		}
	}
}

// Close reports a final commit that failed instead of claiming success.
func TestCloseReportsFailedFinalCommit(t *testing.T) {
	fs := &failingStore{Store: memstore.New()}
	l, err := wal.Open(fs, wal.WithPolicy(wal.PolicyNone, time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	createTopic(t, l, "t", wal.TopicConfig{Partitions: 1})
	if err := l.Append(context.Background(), "t", 0, []wal.Record{{Payload: []byte("queued")}}); err != nil {
		t.Fatal(err)
	}
	fs.mu.Lock()
	fs.fail = true
	fs.mu.Unlock()
	if err := l.Close(context.Background()); !errors.Is(err, wal.ErrCommit) {
		t.Fatalf("close with a failing final commit: %v", err)
	}
}

// AppendAsync returns at once with offsets set; done runs once the
// records are committed, in offset order per partition.
func TestAppendAsync(t *testing.T) {
	l := openLog(t, memstore.New())
	createTopic(t, l, "t", wal.TopicConfig{Partitions: 1})
	const n = 1000
	var mu sync.Mutex
	var acked []int64
	var wg sync.WaitGroup
	wg.Add(n)
	for i := range n {
		recs := []wal.Record{{Payload: []byte{byte(i)}}}
		err := l.AppendAsync(context.Background(), "t", 0, recs, func(err error) {
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			acked = append(acked, recs[0].Offset)
			mu.Unlock()
			wg.Done()
		})
		if err != nil {
			t.Fatal(err)
		}
		if recs[0].Offset != int64(i) {
			t.Fatalf("offset %d, want %d", recs[0].Offset, i)
		}
	}
	wg.Wait()
	for i, off := range acked {
		if off != int64(i) {
			t.Fatalf("ack %d is for offset %d", i, off)
		}
	}
	if _, end, _ := l.Offsets("t", 0); end != n {
		t.Fatalf("end %d", end)
	}
}

// A duplicate is acknowledged only once its first copy is durable, even
// when that copy waits, uncommitted, in another partition; and an async
// duplicate of a stored record is acknowledged at once.
func TestDuplicateWaitsForFirstCopy(t *testing.T) {
	fs := &failingStore{Store: memstore.New()}
	l := openLog(t, fs)
	createTopic(t, l, "t", wal.TopicConfig{Partitions: 2})
	id := [16]byte{42}
	fs.mu.Lock()
	fs.fail = true
	fs.mu.Unlock()
	if err := l.Append(context.Background(), "t", 1, []wal.Record{{MessageID: id, Payload: []byte("a")}}); !errors.Is(err, wal.ErrCommit) {
		t.Fatalf("first copy: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	retry := []wal.Record{{MessageID: id, Payload: []byte("a")}}
	if err := l.Append(ctx, "t", 0, retry); err == nil {
		t.Fatal("a retry was acknowledged while its first copy was not stored")
	}
	if !retry[0].Duplicate || retry[0].Partition != 1 {
		t.Fatalf("retry %+v, want a duplicate of partition 1", retry[0])
	}
	fs.mu.Lock()
	fs.fail = false
	fs.mu.Unlock()
	if err := l.Append(context.Background(), "t", 0, []wal.Record{{MessageID: id, Payload: []byte("a")}}); err != nil {
		t.Fatalf("retry once the store is back: %v", err)
	}
	done := make(chan error, 1)
	if err := l.AppendAsync(context.Background(), "t", 0, []wal.Record{{MessageID: id, Payload: []byte("a")}}, func(err error) { done <- err }); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("async duplicate of a stored record never acknowledged")
	}
}
