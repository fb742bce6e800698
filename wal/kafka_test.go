package wal_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/onexbus/onexbus/internal/kbatch"
	"github.com/onexbus/onexbus/store"
	"github.com/onexbus/onexbus/store/bolt"
	memstore "github.com/onexbus/onexbus/store/memory"
	"github.com/onexbus/onexbus/wal"
)

// backends runs fn on the memory store and on a real bbolt file; reopen
// returns a store over the same data (the same memory store, or the file
// opened again after the previous one is closed).
func backends(t *testing.T, fn func(t *testing.T, open func(t *testing.T) store.Store)) {
	t.Run("memory", func(t *testing.T) {
		st := memstore.New()
		fn(t, func(*testing.T) store.Store { return st })
	})
	t.Run("bolt", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "wal.db")
		var last *bolt.Store
		fn(t, func(t *testing.T) store.Store {
			t.Helper()
			if last != nil {
				_ = last.Close()
			}
			st, err := bolt.Open(path, bolt.WithTimeout(0))
			if err != nil {
				t.Fatal(err)
			}
			last = st
			t.Cleanup(func() { _ = st.Close() })
			return st
		})
	})
}

// batchSpec is one test batch: n records with timestamps ts(i) (Unix ms).
type batchSpec struct {
	n     int
	codec kbatch.Codec
	ts    func(i int) int64
}

func build(t testing.TB, s batchSpec, tag string) []byte {
	t.Helper()
	b := kbatch.NewBuilder(s.codec)
	for i := range s.n {
		ts := int64(1_700_000_000_000 + i)
		if s.ts != nil {
			ts = s.ts(i)
		}
		hdr := []kbatch.RecordHeader{{Key: []byte("h"), Value: []byte(tag)}}
		if err := b.Add(ts, []byte(fmt.Sprintf("k%d", i)), []byte(fmt.Sprintf("%s-%d", tag, i)), hdr); err != nil {
			t.Fatal(err)
		}
	}
	out, err := b.Finish(nil)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func createKafka(t *testing.T, l *wal.Log, name string, parts int32) {
	t.Helper()
	createTopic(t, l, name, wal.TopicConfig{Partitions: parts, Format: wal.FormatKafka})
}

// appendBatch appends one batch and waits for its result.
func appendBatch(t *testing.T, l *wal.Log, topic string, part int32, batch []byte) wal.BatchResult {
	t.Helper()
	ch := make(chan wal.BatchResult, 1)
	if err := l.AppendBatch(context.Background(), topic, part, batch, func(r wal.BatchResult) { ch <- r }); err != nil {
		t.Fatal(err)
	}
	r := <-ch
	if r.Err != nil {
		t.Fatal(r.Err)
	}
	return r
}

// stamped is batch as the log stores it at base: base offset and leader
// epoch 0 written into a copy.
func stamped(batch []byte, base int64) []byte {
	c := bytes.Clone(batch)
	kbatch.SetBaseOffset(c, base)
	kbatch.SetLeaderEpoch(c, 0)
	return c
}

func splitBatches(t *testing.T, b []byte) [][]byte {
	t.Helper()
	var out [][]byte
	for len(b) > 0 {
		n, err := kbatch.BatchLen(b)
		if err != nil {
			t.Fatalf("record set does not split: %v", err)
		}
		if err := kbatch.CheckCRC(b); err != nil {
			t.Fatal(err)
		}
		out = append(out, b[:n])
		b = b[n:]
	}
	return out
}

// Batches come back byte for byte (with the log's base offset and leader
// epoch), from memory and bbolt, before and after a reopen; a chunk's
// bytes after the version byte are a valid fetch record set.
func TestBatchChunkRoundTrip(t *testing.T) {
	specs := []batchSpec{{n: 1}, {n: 5, codec: kbatch.CodecSnappy}, {n: 300}, {n: 40, codec: kbatch.CodecZstd},
		{n: 7, codec: kbatch.CodecLZ4}, {n: 3, codec: kbatch.CodecGzip}, {n: 2000}}
	for _, policy := range []wal.Policy{wal.PolicySync, wal.PolicyInterval, wal.PolicyNone} {
		t.Run(policy.String(), func(t *testing.T) {
			backends(t, func(t *testing.T, open func(*testing.T) store.Store) {
				st := open(t)
				l := openLog(t, st, wal.WithPolicy(policy, 0), wal.WithChunk(100, 4<<10))
				createKafka(t, l, "k", 1)
				var want []byte
				base := int64(0)
				for i, s := range specs {
					b := build(t, s, fmt.Sprint(i))
					r := appendBatch(t, l, "k", 0, b)
					if r.BaseOffset != base || r.Duplicate {
						t.Fatalf("batch %d: %+v, want base %d", i, r, base)
					}
					want = append(want, stamped(b, base)...)
					base += int64(s.n)
				}
				check := func(l *wal.Log) {
					t.Helper()
					got, next, err := l.ReadBatches(context.Background(), "k", 0, 0, 1<<30, nil)
					if err != nil {
						t.Fatal(err)
					}
					if next != base || !bytes.Equal(got, want) {
						t.Fatalf("read back %d bytes up to %d, want %d bytes up to %d", len(got), next, len(want), base)
					}
					if _, end, _ := l.Offsets("k", 0); end != base {
						t.Fatalf("end %d, want %d", end, base)
					}
				}
				check(l)
				if err := l.Close(context.Background()); err != nil {
					t.Fatal(err)
				}
				st = open(t)
				err := st.View(func(tx store.Tx) error {
					c := tx.Bucket([]byte("d/k/0")).Cursor()
					chunks := 0
					for k, v := c.First(); k != nil; k, v = c.Next() {
						chunks++
						if v[0] != 2 {
							t.Fatalf("chunk %x has version %d", k, v[0])
						}
						bs := splitBatches(t, v[1:])
						if h, _ := kbatch.ParseHeader(bs[0]); h.BaseOffset != int64(binary64(k)) {
							t.Fatalf("chunk key %x, first batch at %d", k, h.BaseOffset)
						}
						// A batch is never split; one over the chunk size is
						// alone in its chunk.
						if len(v)-1 > 4<<10 && len(bs) != 1 {
							t.Fatalf("chunk %x of %d bytes holds %d batches", k, len(v), len(bs))
						}
					}
					// Under PolicySync each append is its own commit, and each
					// commit its own chunk; otherwise small batches share one.
					if chunks < 2 || chunks > len(specs) || (policy != wal.PolicySync && chunks == len(specs)) {
						t.Fatalf("%d chunks for %d batches of which some exceed the chunk size", chunks, len(specs))
					}
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				check(openLog(t, st))
			})
		})
	}
}

func binary64(k []byte) uint64 {
	var v uint64
	for _, c := range k {
		v = v<<8 | uint64(c)
	}
	return v
}

// A read from an offset inside a batch starts with that batch; the byte
// budget returns whole batches, at least one when any is visible and
// none when none is.
func TestReadBatchesFromMidBatchAndBudget(t *testing.T) {
	l := openLog(t, memstore.New())
	createKafka(t, l, "k", 1)
	var bs [][]byte
	for i, n := range []int{10, 20, 30} {
		b := build(t, batchSpec{n: n}, fmt.Sprint(i))
		appendBatch(t, l, "k", 0, b)
		bs = append(bs, b)
	}
	bases := []int64{0, 10, 30}
	ctx := context.Background()
	cases := []struct {
		name     string
		from     int64
		maxBytes int
		want     []int // batch indexes
		next     int64
	}{
		{"from 0, all", 0, 1 << 20, []int{0, 1, 2}, 60},
		{"mid first batch", 5, 1 << 20, []int{0, 1, 2}, 60},
		{"mid second batch", 15, 1 << 20, []int{1, 2}, 60},
		{"last offset of a batch", 29, 1 << 20, []int{1, 2}, 60},
		{"first offset of a batch", 30, 1 << 20, []int{2}, 60},
		{"budget below one batch", 0, 1, []int{0}, 10},
		{"budget zero", 15, 0, []int{1}, 30},
		{"budget one byte short of two", 0, len(bs[0]) + len(bs[1]) - 1, []int{0}, 10},
		{"budget exactly two", 0, len(bs[0]) + len(bs[1]), []int{0, 1}, 30},
		{"at the end", 60, 1 << 20, nil, 60},
		{"past the end", 99, 1 << 20, nil, 99},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			prefix := []byte("keep")
			got, next, err := l.ReadBatches(ctx, "k", 0, c.from, c.maxBytes, bytes.Clone(prefix))
			if err != nil {
				t.Fatal(err)
			}
			want := bytes.Clone(prefix)
			for _, i := range c.want {
				want = append(want, stamped(bs[i], bases[i])...)
			}
			if !bytes.Equal(got, want) || next != c.next {
				t.Fatalf("got %d bytes, next %d; want %d bytes (batches %v), next %d", len(got), next, len(want), c.want, c.next)
			}
		})
	}
	empty := "e"
	createKafka(t, l, empty, 1)
	got, next, err := l.ReadBatches(ctx, empty, 0, 0, 0, nil)
	if err != nil || len(got) != 0 || next != 0 {
		t.Fatalf("empty partition: %d bytes, next %d, %v", len(got), next, err)
	}
}

// Under PolicySync ReadBatches and Read see only committed batches: a
// batch is visible once its done has been called.
func TestReadBatchesOnlyDurable(t *testing.T) {
	st := &gatedStore{Store: memstore.New(), gate: make(chan struct{}), entered: make(chan struct{})}
	l := openLog(t, st)
	createKafka(t, l, "k", 1)
	st.hold.Store(true)
	done := make(chan wal.BatchResult, 1)
	b := build(t, batchSpec{n: 3}, "x")
	if err := l.AppendBatch(context.Background(), "k", 0, b, func(r wal.BatchResult) { done <- r }); err != nil {
		t.Fatal(err)
	}
	<-st.entered // the commit holding the batch is in its transaction
	got, next, err := l.ReadBatches(context.Background(), "k", 0, 0, 1<<20, nil)
	if err != nil || len(got) != 0 || next != 0 {
		t.Fatalf("before the commit: %d bytes, next %d, %v", len(got), next, err)
	}
	select {
	case r := <-done:
		t.Fatalf("done before the commit: %+v", r)
	default:
	}
	st.hold.Store(false)
	close(st.gate)
	if r := <-done; r.Err != nil || r.BaseOffset != 0 {
		t.Fatalf("result %+v", r)
	}
	got, next, err = l.ReadBatches(context.Background(), "k", 0, 0, 1<<20, nil)
	if err != nil || !bytes.Equal(got, stamped(b, 0)) || next != 3 {
		t.Fatalf("after the commit: %d bytes, next %d, %v", len(got), next, err)
	}
}

// Per-record Read walks the records inside batches, compressed or not,
// from any offset, with millisecond timestamps in nanoseconds and each
// record's bytes as framed.
func TestKafkaPerRecordRead(t *testing.T) {
	backends(t, func(t *testing.T, open func(*testing.T) store.Store) {
		l := openLog(t, open(t), wal.WithChunk(100, 2<<10))
		createKafka(t, l, "k", 1)
		codecs := []kbatch.Codec{kbatch.CodecNone, kbatch.CodecGzip, kbatch.CodecSnappy, kbatch.CodecLZ4, kbatch.CodecZstd}
		type rec struct {
			off int64
			ts  int64
			val string
		}
		var want []rec
		base := int64(0)
		for i, c := range codecs {
			n := 10 + i
			tag := c.String()
			appendBatch(t, l, "k", 0, build(t, batchSpec{n: n, codec: c, ts: func(j int) int64 { return int64(1000*i + j) }}, tag))
			for j := range n {
				want = append(want, rec{base + int64(j), int64(1000*i+j) * 1e6, fmt.Sprintf("%s-%d", tag, j)})
			}
			base += int64(n)
		}
		for _, from := range []int64{0, 3, 10, 25, base - 1, base} {
			var got []rec
			next, err := l.Read(context.Background(), "k", 0, from, 1<<30, func(e *wal.Entry) error {
				var r kbatch.Record
				n, err := kbatch.ReadRecord(e.Payload, &r)
				if err != nil || n != len(e.Payload) {
					return fmt.Errorf("payload of %d: %d of %d bytes: %w", e.Offset, n, len(e.Payload), err)
				}
				if !e.Kafka || e.Batch.Control() || r.Offset(&e.Batch) != e.Offset {
					return fmt.Errorf("entry %d: kafka %v, batch %+v", e.Offset, e.Kafka, e.Batch)
				}
				got = append(got, rec{e.Offset, e.Timestamp, string(r.Value)})
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if next != base || !slices.Equal(got, want[from:]) {
				t.Fatalf("from %d: next %d, got %v", from, next, got)
			}
		}
		// A bounded read stops inside a batch and resumes there.
		var offs []int64
		from := int64(0)
		for from < base {
			next, err := l.Read(context.Background(), "k", 0, from, 4, func(e *wal.Entry) error {
				offs = append(offs, e.Offset)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			from = next
		}
		if len(offs) != int(base) || offs[len(offs)-1] != base-1 {
			t.Fatalf("reads of 4: %d offsets, last %d", len(offs), offs[len(offs)-1])
		}
	})
}

// The log refuses operations of the other format, and bytes that are not
// one batch.
func TestAppendBatchErrors(t *testing.T) {
	l := openLog(t, memstore.New(), wal.WithMaxRecordBytes(4<<10))
	createKafka(t, l, "k", 1)
	createTopic(t, l, "f", wal.TopicConfig{Partitions: 1})
	ctx := context.Background()
	b := build(t, batchSpec{n: 2}, "x")
	never := func(wal.BatchResult) { t.Error("done called for a refused batch") }
	cases := []struct {
		name  string
		topic string
		part  int32
		batch []byte
		want  error
	}{
		{"frames topic", "f", 0, b, wal.ErrWrongFormat},
		{"unknown topic", "nope", 0, b, wal.ErrUnknownTopic},
		{"bad partition", "k", 1, b, wal.ErrInvalidPartition},
		{"truncated", "k", 0, b[:len(b)-1], wal.ErrInvalidBatch},
		{"two batches", "k", 0, append(bytes.Clone(b), b...), wal.ErrInvalidBatch},
		{"not a batch", "k", 0, []byte("hello"), wal.ErrInvalidBatch},
		{"too large", "k", 0, build(t, batchSpec{n: 500}, "big"), wal.ErrRecordTooLarge},
		{"span below its records", "k", 0, func() []byte {
			c := build(t, batchSpec{n: 3}, "s")
			binary.BigEndian.PutUint32(c[23:], 0) // LastOffsetDelta 0 for 3 records
			return c
		}(), wal.ErrInvalidBatch},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := l.AppendBatch(ctx, c.topic, c.part, c.batch, never); !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
	if err := l.Append(ctx, "k", 0, []wal.Record{{Payload: []byte("x")}}); !errors.Is(err, wal.ErrWrongFormat) {
		t.Fatalf("Append to a kafka topic: %v", err)
	}
	if _, _, err := l.ReadBatches(ctx, "f", 0, 0, 100, nil); !errors.Is(err, wal.ErrWrongFormat) {
		t.Fatalf("ReadBatches of a frames topic: %v", err)
	}
	if _, err := l.CreateTopic("k", wal.TopicConfig{Partitions: 1}); !errors.Is(err, wal.ErrInvalidTopicConfig) {
		t.Fatalf("changing the format: %v", err)
	}
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := l.AppendBatch(ctx, "k", 0, b, never); !errors.Is(err, wal.ErrClosed) {
		t.Fatalf("after close: %v", err)
	}
}

// Concurrent AppendBatch calls get dense, disjoint offset ranges.
func TestAppendBatchConcurrent(t *testing.T) {
	l := openLog(t, memstore.New())
	createKafka(t, l, "k", 1)
	const writers, each = 8, 25
	var wg sync.WaitGroup
	var mu sync.Mutex
	bases := map[int64]int{}
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				n := 1 + (w+i)%4
				r := appendBatch(t, l, "k", 0, build(t, batchSpec{n: n}, "c"))
				mu.Lock()
				bases[r.BaseOffset] = n
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	keys := slices.Sorted(func(yield func(int64) bool) {
		for k := range bases {
			if !yield(k) {
				return
			}
		}
	})
	next := int64(0)
	for _, k := range keys {
		if k != next {
			t.Fatalf("batch at %d, expected %d", k, next)
		}
		next += int64(bases[k])
	}
	got, end, err := l.ReadBatches(context.Background(), "k", 0, 0, 1<<30, nil)
	if err != nil || end != next || len(splitBatches(t, got)) != writers*each {
		t.Fatalf("read %d bytes to %d (want %d): %v", len(got), end, next, err)
	}
}

// Readers running beside appenders and the committer (tail and store,
// every policy) only ever see whole, CRC-valid batches with dense offsets,
// byte for byte as appended; a Watch fires for each new end.
func TestReadBatchesWhileAppending(t *testing.T) {
	for _, policy := range []wal.Policy{wal.PolicySync, wal.PolicyInterval, wal.PolicyNone} {
		t.Run(policy.String(), func(t *testing.T) {
			l := openLog(t, memstore.New(), wal.WithPolicy(policy, time.Millisecond), wal.WithChunk(100, 2<<10))
			createKafka(t, l, "k", 1)
			const batches = 400
			want := make([][]byte, batches)
			var mu sync.Mutex
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range batches {
					b := build(t, batchSpec{n: 1 + i%5, codec: []kbatch.Codec{kbatch.CodecNone, kbatch.CodecSnappy}[i%2]}, fmt.Sprint(i))
					r := appendBatch(t, l, "k", 0, b)
					mu.Lock()
					want[i] = stamped(b, r.BaseOffset)
					mu.Unlock()
				}
			}()
			ctx := context.Background()
			seen := 0
			for seen < batches {
				got, next, err := l.ReadBatches(ctx, "k", 0, 0, 1<<30, nil)
				if err != nil {
					t.Fatal(err)
				}
				bs := splitBatches(t, got)
				mu.Lock()
				for i, b := range bs {
					if want[i] != nil && !bytes.Equal(b, want[i]) {
						mu.Unlock()
						t.Fatalf("batch %d differs from what was appended", i)
					}
				}
				mu.Unlock()
				seen = len(bs)
				fired := make(chan struct{})
				cancel, err := l.Watch([]wal.WatchPos{{Topic: "k", Part: 0, After: next}}, func() { close(fired) })
				if err != nil {
					t.Fatal(err)
				}
				if seen < batches {
					<-fired
				}
				cancel()
			}
			wg.Wait()
		})
	}
}
