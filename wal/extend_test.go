package wal_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/onexbus/onexbus/store"
	"github.com/onexbus/onexbus/store/bolt"
	memstore "github.com/onexbus/onexbus/store/memory"
	"github.com/onexbus/onexbus/wal"
)

// chunkSpans returns the stored chunks of partition 0 of topic as
// first offset -> offsets spanned, read from the index entries.
func chunkSpans(t *testing.T, st store.Store, topic string) map[int64]int64 {
	t.Helper()
	spans := map[int64]int64{}
	err := st.View(func(tx store.Tx) error {
		b := tx.Bucket([]byte("i/" + topic + "/0"))
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			spans[int64(binary.BigEndian.Uint64(k))] = int64(binary.BigEndian.Uint32(v))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return spans
}

func openBolt(t *testing.T, path string) *bolt.Store {
	t.Helper()
	st, err := bolt.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// A synchronous appender's records fill chunks across commits: each
// commit stores a small chunk, and the commit that fills the trailing run
// of them merges it into one chunk of ChunkRecords records, after a
// reopen too; merged chunks and the run read back whole, by offset, by
// time and by correlation id.
func TestChunksFillAcrossCommits(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "wal.db")
	st := openBolt(t, path)
	l := openLog(t, st)
	createTopic(t, l, "f", wal.TopicConfig{Partitions: 1})
	corr := func(i int) [16]byte {
		var id [16]byte
		binary.BigEndian.PutUint64(id[:], uint64(i)+1)
		id[15] = 0xc0
		return id
	}
	appendOne := func(l *wal.Log, i int) {
		t.Helper()
		rec := []wal.Record{{Timestamp: int64(1000 + i), CorrelationID: corr(i), Payload: []byte(fmt.Sprintf("rec-%d", i))}}
		if err := l.Append(ctx, "f", 0, rec); err != nil {
			t.Fatal(err)
		}
		if rec[0].Offset != int64(i) {
			t.Fatalf("record %d at offset %d", i, rec[0].Offset)
		}
	}
	for i := range 250 {
		appendOne(l, i)
	}
	if got, want := chunkSpans(t, st, "f"), withRun(map[int64]int64{0: 100, 100: 100}, 200, 250); !mapsEqual(got, want) {
		t.Fatalf("chunks %v, want %v", got, want)
	}
	check := func(l *wal.Log, n int) {
		t.Helper()
		got, damaged, err := readEvery(l, "f")
		if err != nil || len(damaged) != 0 || len(got) != n {
			t.Fatalf("read %d records, damage %v, %v; want %d", len(got), damaged, err, n)
		}
		for i := range n {
			if got[int64(i)] != fmt.Sprintf("rec-%d", i) {
				t.Fatalf("offset %d holds %q", i, got[int64(i)])
			}
		}
		for _, i := range []int{0, 99, 150, n - 1} {
			var found []int64
			if err := l.ReadCorrelation(ctx, "f", 0, corr(i), func(e *wal.Entry) error {
				found = append(found, e.Offset)
				return nil
			}); err != nil || len(found) != 1 || found[0] != int64(i) {
				t.Fatalf("correlation of record %d found at %v, %v", i, found, err)
			}
			if off, err := l.OffsetForTime(ctx, "f", 0, int64(1000+i)); err != nil || off != int64(i) {
				t.Fatalf("offset for the time of record %d: %d, %v", i, off, err)
			}
		}
	}
	check(l, 250)
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	l = openLog(t, st)
	check(l, 250)
	for i := 250; i < 310; i++ {
		appendOne(l, i)
	}
	if got, want := chunkSpans(t, st, "f"), withRun(map[int64]int64{0: 100, 100: 100, 200: 100}, 300, 310); !mapsEqual(got, want) {
		t.Fatalf("chunks after a reopen %v, want %v", got, want)
	}
	check(l, 310)
}

// Kafka batches appended one at a time fill a chunk up to ChunkBytes,
// whole batches only, and a Fetch returns them byte for byte.
func TestKafkaChunksFillAcrossCommits(t *testing.T) {
	ctx := context.Background()
	st := openBolt(t, filepath.Join(t.TempDir(), "wal.db"))
	l := openLog(t, st, wal.WithChunk(100, 1<<10))
	createKafka(t, l, "k", 1)
	var want []byte
	for i := range 40 {
		b := build(t, batchSpec{n: 2}, fmt.Sprint(i))
		if r := appendBatch(t, l, "k", 0, b); r.BaseOffset != int64(2*i) {
			t.Fatalf("batch %d at %d", i, r.BaseOffset)
		}
		want = append(want, stamped(b, int64(2*i))...)
	}
	spans := chunkSpans(t, st, "k")
	if len(spans) < 2 || len(spans) > 20 {
		t.Fatalf("%d chunks for 40 batches of %d B in chunks of 1 KiB: %v", len(spans), len(want)/40, spans)
	}
	err := st.View(func(tx store.Tx) error {
		c := tx.Bucket([]byte("d/k/0")).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if len(v)-1 > 1<<10 {
				t.Errorf("chunk %x holds %d B of batches, over 1 KiB", k, len(v)-1)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got, next, err := l.ReadBatches(ctx, "k", 0, 0, 1<<20, nil)
	if err != nil || next != 80 || !bytes.Equal(got, want) {
		t.Fatalf("fetch: %d bytes to %d, %v; want %d bytes to 80", len(got), next, err, len(want))
	}
}

// A chunk that fails its CRCs is never merged: the records after it
// stay readable in chunks of their own and merge without it, and the
// damage stays where it was.
func TestDamagedNewestChunkNotExtended(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "wal.db")
	st := openBolt(t, path)
	l := openLog(t, st)
	createTopic(t, l, "f", wal.TopicConfig{Partitions: 1})
	var recs []wal.Record
	for i := range 10 {
		recs = append(recs, wal.Record{Payload: []byte(fmt.Sprintf("rec-%d", i))})
	}
	if err := l.Append(ctx, "f", 0, recs); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	err := st.Update(func(tx store.Tx) error {
		b := tx.Bucket([]byte("d/f/0"))
		key := make([]byte, 8)
		v := bytes.Clone(b.Get(key))
		v[len(v)-1] ^= 0x10 // the last record's payload
		return b.Put(key, v)
	})
	if err != nil {
		t.Fatal(err)
	}
	l = openLog(t, st)
	appendTo := func(end int) {
		t.Helper()
		_, from, _ := l.Offsets("f", 0)
		for i := int(from); i < end; i++ {
			if err := l.Append(ctx, "f", 0, []wal.Record{{Payload: []byte(fmt.Sprintf("rec-%d", i))}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	appendTo(15)
	if got, want := chunkSpans(t, st, "f"), withRun(map[int64]int64{0: 10}, 10, 15); !mapsEqual(got, want) {
		t.Fatalf("chunks %v, want %v", got, want)
	}
	// The commit of offset 99 fills the run 0..99: it merges 10..99 only.
	appendTo(100)
	if got, want := chunkSpans(t, st, "f"), map[int64]int64{0: 10, 10: 90}; !mapsEqual(got, want) {
		t.Fatalf("chunks %v, want %v", got, want)
	}
	got, damaged, err := readEvery(l, "f")
	if err != nil {
		t.Fatal(err)
	}
	if len(damaged) != 1 || damaged[0] != [2]int64{9, 10} {
		t.Fatalf("damage %v, want the record at 9", damaged)
	}
	for i := range 100 {
		if want := fmt.Sprintf("rec-%d", i); i != 9 && got[int64(i)] != want {
			t.Fatalf("offset %d holds %q, want %q", i, got[int64(i)], want)
		}
	}
}

// The memory store keeps a chunk per commit: extending would copy what it
// keeps without a copy.
func TestMemoryStoreChunksNotExtended(t *testing.T) {
	st := memstore.New()
	l := openLog(t, st)
	createTopic(t, l, "f", wal.TopicConfig{Partitions: 1})
	for range 3 {
		if err := l.Append(context.Background(), "f", 0, []wal.Record{{Payload: []byte("x")}}); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := chunkSpans(t, st, "f"), map[int64]int64{0: 1, 1: 1, 2: 1}; !mapsEqual(got, want) {
		t.Fatalf("chunks %v, want %v", got, want)
	}
}

// withRun adds to spans a trailing run of one-record chunks from first to
// end.
func withRun(spans map[int64]int64, first, end int64) map[int64]int64 {
	for off := first; off < end; off++ {
		spans[off] = 1
	}
	return spans
}

func mapsEqual(a, b map[int64]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// A flipped bit in one record of a full chunk costs that record only: the
// reader steps over a frame whose length holds and whose next frame
// checks out. A damaged length word loses the rest of the chunk, reported
// as one stretch.
func TestDamagedRecordInFullChunk(t *testing.T) {
	for _, tc := range []struct {
		name string
		at   func(i int) int // byte to flip, from the start of record 10's payload
		want [2]int64
	}{
		{"payload", func(i int) int { return i + 2 }, [2]int64{10, 11}},
		{"length", func(i int) int { return i - 48 + 2 }, [2]int64{10, 20}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			st := openBolt(t, filepath.Join(t.TempDir(), "wal.db"))
			l := openLog(t, st, wal.WithChunk(20, 64<<10)) // the 20th append merges the run
			createTopic(t, l, "f", wal.TopicConfig{Partitions: 1})
			for i := range 20 {
				if err := l.Append(ctx, "f", 0, []wal.Record{{Payload: []byte(fmt.Sprintf("rec-%02d", i))}}); err != nil {
					t.Fatal(err)
				}
			}
			if got := chunkSpans(t, st, "f"); len(got) != 1 {
				t.Fatalf("chunks %v, want one", got)
			}
			err := st.Update(func(tx store.Tx) error {
				b := tx.Bucket([]byte("d/f/0"))
				key := make([]byte, 8)
				v := bytes.Clone(b.Get(key))
				i := bytes.Index(v, []byte("rec-10"))
				v[tc.at(i)] ^= 0x01
				return b.Put(key, v)
			})
			if err != nil {
				t.Fatal(err)
			}
			got, damaged, err := readEvery(l, "f")
			if err != nil {
				t.Fatal(err)
			}
			if len(damaged) != 1 || damaged[0] != tc.want {
				t.Fatalf("damage %v, want %v", damaged, tc.want)
			}
			for i := range 20 {
				if int64(i) >= tc.want[0] && int64(i) < tc.want[1] {
					continue
				}
				if want := fmt.Sprintf("rec-%02d", i); got[int64(i)] != want {
					t.Fatalf("offset %d holds %q, want %q", i, got[int64(i)], want)
				}
			}
		})
	}
}

// Retention by age drops whole chunks, so a chunk older than an eighth of
// MaxAge is merged with no newer records: old records still go when they
// age out.
func TestExtensionKeepsAgeRetention(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var clock atomic.Pointer[time.Time]
	clock.Store(&now)
	st := openBolt(t, filepath.Join(t.TempDir(), "wal.db"))
	l := openLog(t, st, wal.WithClock(func() time.Time { return *clock.Load() }), wal.WithChunk(5, 64<<10))
	createTopic(t, l, "f", wal.TopicConfig{Partitions: 1, Retention: wal.Retention{MaxAge: time.Minute}})
	add := func(at time.Time) {
		t.Helper()
		if err := l.Append(ctx, "f", 0, []wal.Record{{Timestamp: at.UnixNano(), Payload: []byte("x")}}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 5 {
		add(now.Add(time.Duration(i) * time.Second))
	}
	if got := chunkSpans(t, st, "f"); len(got) != 1 {
		t.Fatalf("chunks %v: records 1 s apart under MaxAge 1m should share one", got)
	}
	later := now.Add(2 * time.Hour)
	clock.Store(&later)
	add(later)
	add(later)
	if start, end, _ := l.Offsets("f", 0); start != 5 || end != 7 {
		t.Fatalf("offsets %d..%d two hours later, want 5..7 (the old chunk aged out)", start, end)
	}
}
