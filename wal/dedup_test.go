package wal_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/onexbus/onexbus/store"
	"github.com/onexbus/onexbus/store/bolt"
	memstore "github.com/onexbus/onexbus/store/memory"
	"github.com/onexbus/onexbus/wal"
)

// testClock is a settable clock for WithClock.
type testClock struct {
	mu  sync.Mutex // protects now
	now time.Time
}

func newTestClock(at time.Time) *testClock { return &testClock{now: at} }

// Now returns the clock's time.
func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

// Advance moves the clock forward by d.
func (c *testClock) Advance(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

// heapAfterGC returns the live heap after two GCs (the second frees what
// finalisers of the first released).
func heapAfterGC() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// topicsHeap creates n single-partition topics with default settings,
// appends one record with a message id to each (so each topic's dedup
// state holds one id) and returns the heap the log holds per topic.
func topicsHeap(tb testing.TB, n int) (perTopic float64) {
	tb.Helper()
	st := memstore.New()
	before := heapAfterGC()
	l, err := wal.Open(st)
	if err != nil {
		tb.Fatal(err)
	}
	for i := range n {
		if _, err := l.CreateTopic("t"+strconv.Itoa(i), wal.TopicConfig{Partitions: 1}); err != nil {
			tb.Fatal(err)
		}
	}
	// 64 appenders share group commits, as concurrent publishers do.
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for w := range 64 {
		wg.Go(func() {
			for i := w; i < n; i += 64 {
				var id [16]byte
				binary.BigEndian.PutUint64(id[:], uint64(i)+1)
				rec := []wal.Record{{Timestamp: time.Now().UnixNano(), MessageID: id, Payload: []byte("x")}}
				if err := l.Append(context.Background(), "t"+strconv.Itoa(i), 0, rec); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		tb.Fatal(err)
	}
	after := heapAfterGC()
	runtime.KeepAlive(l)
	runtime.KeepAlive(st)
	if err := l.Close(context.Background()); err != nil {
		tb.Fatal(err)
	}
	return float64(after-min(before, after)) / float64(n)
}

// TestTopicHeapGrowsWithUse is issue 9's finding "every topic costs about
// 3 MB of heap on its first append": dedup pre-sized a 50,000-entry map
// per topic. A topic with one record must now cost a few KiB, so 10,000
// topics with default settings fit in well under 200 MB (the memory store
// holds the records too, which a bbolt store would keep in its mmap).
func TestTopicHeapGrowsWithUse(t *testing.T) {
	n := 10_000
	if testing.Short() {
		n = 1_000
	}
	per := topicsHeap(t, n)
	t.Logf("%d topics: %.0f B of heap per topic, %.1f MiB in all", n, per, per*float64(n)/(1<<20))
	if limit := 20_000.0; per > limit {
		t.Fatalf("a topic with one record costs %.0f B of heap; want at most %.0f", per, limit)
	}
}

// BenchmarkTopicsHeap reports the heap per topic (and in all) of n
// single-partition topics with default settings and one record each. One
// op is the whole run; only the metrics matter.
func BenchmarkTopicsHeap(b *testing.B) {
	for _, n := range []int{100, 1_000, 10_000} {
		b.Run(fmt.Sprintf("topics=%d", n), func(b *testing.B) {
			var per float64
			for b.Loop() {
				per = topicsHeap(b, n)
			}
			b.ReportMetric(per, "heap-B/topic")
			b.ReportMetric(per*float64(n)/(1<<20), "heap-MiB")
		})
	}
}

// dedupStores runs fn on a memory store and on a bbolt file; reopen
// returns the store as a crash would leave it (for bbolt: a copy of the
// file taken while the first log is still open, so nothing Close does
// can help).
func dedupStores(t *testing.T, fn func(t *testing.T, st store.Store, crash func() store.Store)) {
	t.Run("memory", func(t *testing.T) {
		st := memstore.New()
		fn(t, st, func() store.Store { return st })
	})
	t.Run("bolt", func(t *testing.T) {
		dir := t.TempDir()
		st, err := bolt.Open(dir + "/log.db")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = st.Close() })
		crashes := 0
		fn(t, st, func() store.Store {
			crashes++
			cp := copyFile(t, dir+"/log.db", fmt.Sprintf("%s/crashed-%d.db", dir, crashes))
			st2, err := bolt.Open(cp)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = st2.Close() })
			return st2
		})
	})
}

func copyFile(t *testing.T, from, to string) string {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return to
}

// TestDedupAfterRestartUsesAppendTime is issue 9's finding "200
// ten-minute-old Kafka records re-ingested after a crash became 400":
// recovery measured the window on the records' own timestamps while live
// dedup uses append time. Records appended just now with old timestamps
// must still be deduplicated after a crash.
func TestDedupAfterRestartUsesAppendTime(t *testing.T) {
	dedupStores(t, func(t *testing.T, st store.Store, crash func() store.Store) {
		clock := newTestClock(time.Unix(1_700_000_000, 0))
		ctx := context.Background()
		l := openLog(t, st, wal.WithClock(clock.Now))
		createTopic(t, l, "ingest", wal.TopicConfig{Partitions: 1})
		old := clock.Now().Add(-10 * time.Minute).UnixNano()
		batch := func() []wal.Record {
			recs := make([]wal.Record, 200)
			for i := range recs {
				var id [16]byte
				binary.BigEndian.PutUint64(id[8:], uint64(i)+1)
				recs[i] = wal.Record{Timestamp: old + int64(i), MessageID: id, Payload: []byte("r" + strconv.Itoa(i))}
			}
			return recs
		}
		if err := l.Append(ctx, "ingest", 0, batch()); err != nil {
			t.Fatal(err)
		}
		clock.Advance(30 * time.Second)
		l2 := openLog(t, crash(), wal.WithClock(clock.Now))
		recs := batch()
		if err := l2.Append(ctx, "ingest", 0, recs); err != nil {
			t.Fatal(err)
		}
		for i, r := range recs {
			if !r.Duplicate || r.Offset != int64(i) {
				t.Fatalf("record %d re-ingested after the restart: %+v; want a duplicate of offset %d", i, r, i)
			}
		}
		if _, end, _ := l2.Offsets("ingest", 0); end != 200 {
			t.Fatalf("end offset %d after re-ingesting 200 records; want 200", end)
		}

		// Past the window (by append time), the ids are forgotten after a
		// restart as they are live.
		clock.Advance(2 * time.Minute)
		if err := l2.Close(ctx); err != nil {
			t.Fatal(err)
		}
		l3 := openLog(t, crash(), wal.WithClock(clock.Now))
		recs = batch()
		if err := l3.Append(ctx, "ingest", 0, recs); err != nil {
			t.Fatal(err)
		}
		if recs[0].Duplicate || recs[0].Offset != 200 {
			t.Fatalf("past the window: %+v; want a new record at offset 200", recs[0])
		}
	})
}

// TestDedupAfterRestartIgnoresFutureTimestamps: a record stamped in the
// future was still appended long ago; once its append time is past the
// window it is forgotten after a restart, as it is live.
func TestDedupAfterRestartIgnoresFutureTimestamps(t *testing.T) {
	clock := newTestClock(time.Unix(1_700_000_000, 0))
	st := memstore.New()
	ctx := context.Background()
	l := openLog(t, st, wal.WithClock(clock.Now))
	createTopic(t, l, "t", wal.TopicConfig{Partitions: 1})
	id := [16]byte{9}
	future := clock.Now().Add(time.Hour).UnixNano()
	if err := l.Append(ctx, "t", 0, []wal.Record{{Timestamp: future, MessageID: id, Payload: []byte("a")}}); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	clock.Advance(10 * time.Minute)
	l2 := openLog(t, st, wal.WithClock(clock.Now))
	recs := []wal.Record{{Timestamp: future, MessageID: id, Payload: []byte("a")}}
	if err := l2.Append(ctx, "t", 0, recs); err != nil {
		t.Fatal(err)
	}
	if recs[0].Duplicate {
		t.Fatalf("appended 10 minutes ago (window 2 minutes) but deduplicated after a restart: %+v", recs[0])
	}
}

// TestAppendTimeMarksStayBounded: the append-time marks a partition keeps
// do not grow with its commits: about window/resolution + 1 of them.
func TestAppendTimeMarksStayBounded(t *testing.T) {
	clock := newTestClock(time.Unix(1_700_000_000, 0))
	st := memstore.New()
	ctx := context.Background()
	l := openLog(t, st, wal.WithClock(clock.Now))
	createTopic(t, l, "t", wal.TopicConfig{Partitions: 2})
	for i := range 1000 {
		if err := l.Append(ctx, "t", int32(i%2), []wal.Record{{Timestamp: int64(i), Payload: []byte("x")}}); err != nil {
			t.Fatal(err)
		}
		clock.Advance(time.Second)
	}
	marks := 0
	if err := st.View(func(tx store.Tx) error {
		if b := tx.Bucket([]byte("appendtimes")); b != nil {
			c := b.Cursor()
			for k, _ := c.First(); k != nil; k, _ = c.Next() {
				marks++
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// 2 minutes of window plus one 15 s resolution, per partition.
	if marks < 2 || marks > 2*11 {
		t.Fatalf("%d append-time marks after 1,000 commits over 1,000 s on 2 partitions; want 2..22", marks)
	}
}

// TestDedupAfterRestartWithoutMarks: a log whose append-time marks are
// gone (no appendtimes bucket) rebuilds its window on record timestamps,
// the best guess left.
func TestDedupAfterRestartWithoutMarks(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	clock := func() time.Time { return now }
	st := memstore.New()
	ctx := context.Background()
	l := openLog(t, st, wal.WithClock(clock))
	createTopic(t, l, "t", wal.TopicConfig{Partitions: 1})
	id := [16]byte{7}
	if err := l.Append(ctx, "t", 0, []wal.Record{{Timestamp: now.UnixNano(), MessageID: id, Payload: []byte("a")}}); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := st.Update(func(tx store.Tx) error { return tx.DeleteBucket([]byte("appendtimes")) }); err != nil {
		t.Fatal(err)
	}
	l2 := openLog(t, st, wal.WithClock(clock))
	recs := []wal.Record{{Timestamp: now.UnixNano(), MessageID: id, Payload: []byte("a")}}
	if err := l2.Append(ctx, "t", 0, recs); err != nil {
		t.Fatal(err)
	}
	if !recs[0].Duplicate || recs[0].Offset != 0 {
		t.Fatalf("after a restart of a log without marks: %+v; want a duplicate of offset 0", recs[0])
	}
}
