package wal_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/onexbus/onexbus/store"
	memstore "github.com/onexbus/onexbus/store/memory"
	"github.com/onexbus/onexbus/wal"
)

// DeleteRecords moves the start (inside a batch too), deletes the chunks
// wholly below it, survives a reopen, and refuses offsets past the end.
func TestDeleteRecords(t *testing.T) {
	backends(t, func(t *testing.T, open func(*testing.T) store.Store) {
		ctx := context.Background()
		st := open(t)
		l := openLog(t, st, wal.WithoutChunkExtension()) // a chunk per batch
		createKafka(t, l, "k", 1)
		var bs [][]byte
		for range 4 {
			b := build(t, batchSpec{n: 10}, "d")
			appendBatch(t, l, "k", 0, b)
			bs = append(bs, b)
		}
		start, err := l.DeleteRecords(ctx, "k", 0, 15)
		if err != nil || start != 15 {
			t.Fatalf("delete below 15: %d, %v", start, err)
		}
		check := func(l *wal.Log) {
			t.Helper()
			if s, e, _ := l.Offsets("k", 0); s != 15 || e != 40 {
				t.Fatalf("offsets %d..%d, want 15..40", s, e)
			}
			// A read from below the start begins with the batch holding it.
			got, next, err := l.ReadBatches(ctx, "k", 0, 0, 1<<20, nil)
			want := append(stamped(bs[1], 10), stamped(bs[2], 20)...)
			want = append(want, stamped(bs[3], 30)...)
			if err != nil || next != 40 || !bytes.Equal(got, want) {
				t.Fatalf("read after delete: %d bytes to %d, %v", len(got), next, err)
			}
			var first int64 = -1
			if _, err := l.Read(ctx, "k", 0, 0, 1, func(e *wal.Entry) error { first = e.Offset; return nil }); err != nil || first != 15 {
				t.Fatalf("first record %d, %v", first, err)
			}
		}
		check(l)
		err = st.View(func(tx store.Tx) error {
			if v := tx.Bucket([]byte("d/k/0")).Get([]byte{0, 0, 0, 0, 0, 0, 0, 0}); v != nil {
				t.Fatal("the chunk below the start is still stored")
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if s, err := l.DeleteRecords(ctx, "k", 0, 5); err != nil || s != 15 {
			t.Fatalf("delete below the start: %d, %v", s, err)
		}
		if _, err := l.DeleteRecords(ctx, "k", 0, 41); !errors.Is(err, wal.ErrOffsetOutOfRange) {
			t.Fatalf("past the end: %v", err)
		}
		if err := l.Close(ctx); err != nil {
			t.Fatal(err)
		}
		l = openLog(t, open(t))
		check(l)
		if s, err := l.DeleteRecords(ctx, "k", 0, -1); err != nil || s != 40 {
			t.Fatalf("delete all: %d, %v", s, err)
		}
		if got, next, err := l.ReadBatches(ctx, "k", 0, 0, 1<<20, nil); err != nil || len(got) != 0 || next != 40 {
			t.Fatalf("after deleting all: %d bytes, next %d, %v", len(got), next, err)
		}
	})
}

// Watch fires once, without locks held, for the first partition whose
// end passes its position; cancel stops it; deletion and Close fire it.
func TestWatch(t *testing.T) {
	for _, policy := range []wal.Policy{wal.PolicySync, wal.PolicyNone} {
		t.Run(policy.String(), func(t *testing.T) {
			ctx := context.Background()
			l := openLog(t, memstore.New(), wal.WithPolicy(policy, 0))
			createKafka(t, l, "a", 2)
			createKafka(t, l, "b", 1)
			var fired atomic.Int32
			ch := make(chan struct{}, 4)
			fn := func() {
				fired.Add(1)
				// Calling into the log proves no lock of it is held.
				_, _, _ = l.Offsets("a", 0)
				ch <- struct{}{}
			}
			cancel, err := l.Watch([]wal.WatchPos{{Topic: "a", Part: 0, After: 0}, {Topic: "a", Part: 1, After: 0}, {Topic: "b", Part: 0, After: 0}}, fn)
			if err != nil {
				t.Fatal(err)
			}
			defer cancel()
			if fired.Load() != 0 {
				t.Fatal("fired with nothing appended")
			}
			appendBatch(t, l, "a", 1, build(t, batchSpec{n: 2}, "w"))
			<-ch
			appendBatch(t, l, "b", 0, build(t, batchSpec{n: 2}, "w"))
			appendBatch(t, l, "a", 0, build(t, batchSpec{n: 2}, "w"))
			if n := fired.Load(); n != 1 {
				t.Fatalf("fired %d times", n)
			}
			// Already past: fires before Watch returns.
			if _, err := l.Watch([]wal.WatchPos{{Topic: "a", Part: 1, After: 1}}, fn); err != nil {
				t.Fatal(err)
			}
			if n := fired.Load(); n != 2 {
				t.Fatalf("an already-passed position fired %d times in all", n)
			}
			<-ch
			// Cancelled: never fires.
			c2, err := l.Watch([]wal.WatchPos{{Topic: "a", Part: 1, After: 2}}, func() { t.Error("cancelled watch fired") })
			if err != nil {
				t.Fatal(err)
			}
			c2()
			c2()
			appendBatch(t, l, "a", 1, build(t, batchSpec{n: 1}, "w"))
			// Deletion fires.
			if _, err := l.Watch([]wal.WatchPos{{Topic: "b", Part: 0, After: 100}}, fn); err != nil {
				t.Fatal(err)
			}
			if err := l.DeleteTopic(ctx, "b"); err != nil {
				t.Fatal(err)
			}
			<-ch
			// Close fires.
			if _, err := l.Watch([]wal.WatchPos{{Topic: "a", Part: 0, After: 100}}, fn); err != nil {
				t.Fatal(err)
			}
			if err := l.Close(ctx); err != nil {
				t.Fatal(err)
			}
			<-ch
			if _, err := l.Watch([]wal.WatchPos{{Topic: "a", Part: 0}}, fn); !errors.Is(err, wal.ErrClosed) {
				t.Fatalf("after close: %v", err)
			}
		})
	}
	l := openLog(t, memstore.New())
	if _, err := l.Watch([]wal.WatchPos{{Topic: "nope"}}, func() {}); !errors.Is(err, wal.ErrUnknownTopic) {
		t.Fatalf("unknown topic: %v", err)
	}
}

// Topic ids, the cluster id and formats persist; DeleteTopic removes a
// topic's records and cursors, and a topic created again under the name
// is new; CreatePartitions and SetRetention change a topic.
func TestTopicAdmin(t *testing.T) {
	backends(t, func(t *testing.T, open func(*testing.T) store.Store) {
		ctx := context.Background()
		l := openLog(t, open(t))
		createKafka(t, l, "k", 1)
		createTopic(t, l, "f", wal.TopicConfig{Partitions: 2})
		id, ok := l.TopicID("k")
		fid, _ := l.TopicID("f")
		cluster := l.ClusterID()
		if !ok || id == ([16]byte{}) || id == fid || len(cluster) != 22 {
			t.Fatalf("ids: %x %x %q", id, fid, cluster)
		}
		appendBatch(t, l, "k", 0, build(t, batchSpec{n: 3}, "a"))
		if err := l.CommitCursor("g", "k", 0, 2, false); err != nil {
			t.Fatal(err)
		}
		if err := l.CreatePartitions(ctx, "k", 3); err != nil {
			t.Fatal(err)
		}
		if err := l.CreatePartitions(ctx, "k", 2); !errors.Is(err, wal.ErrInvalidTopicConfig) {
			t.Fatalf("shrink: %v", err)
		}
		if err := l.SetRetention(ctx, "k", wal.Retention{MaxMessages: 7}); err != nil {
			t.Fatal(err)
		}
		if err := l.Close(ctx); err != nil {
			t.Fatal(err)
		}
		l = openLog(t, open(t))
		cfg, _ := l.Topic("k")
		if id2, _ := l.TopicID("k"); id2 != id || l.ClusterID() != cluster || cfg.Format != wal.FormatKafka ||
			cfg.Partitions != 3 || cfg.Retention.MaxMessages != 7 {
			t.Fatalf("after reopen: id %x, cluster %q, config %+v", id2, l.ClusterID(), cfg)
		}
		if err := l.DeleteTopic(ctx, "k"); err != nil {
			t.Fatal(err)
		}
		if _, ok := l.TopicID("k"); ok {
			t.Fatal("deleted topic has an id")
		}
		if err := l.DeleteTopic(ctx, "k"); !errors.Is(err, wal.ErrUnknownTopic) {
			t.Fatalf("second delete: %v", err)
		}
		if err := l.AppendBatch(ctx, "k", 0, build(t, batchSpec{n: 1}, "x"), func(wal.BatchResult) {}); !errors.Is(err, wal.ErrUnknownTopic) {
			t.Fatalf("append to a deleted topic: %v", err)
		}
		createKafka(t, l, "k", 1)
		if id3, _ := l.TopicID("k"); id3 == id {
			t.Fatal("a new topic of the same name kept the old id")
		}
		if _, end, _ := l.Offsets("k", 0); end != 0 {
			t.Fatalf("a new topic of the same name ends at %d", end)
		}
		if _, ok, _ := l.Cursor("g", "k", 0); ok {
			t.Fatal("the deleted topic's cursor survived")
		}
		if err := l.Close(ctx); err != nil {
			t.Fatal(err)
		}
		l = openLog(t, open(t))
		if _, end, _ := l.Offsets("k", 0); end != 0 {
			t.Fatalf("after reopen the new topic ends at %d", end)
		}
	})
}

// A store written by log format 1 (topics but no format marker) is
// refused with an error naming the version, never read; so is a marker of
// an unknown version.
func TestOldFormatRefused(t *testing.T) {
	st := memstore.New()
	err := st.Update(func(tx store.Tx) error {
		meta, err := tx.CreateBucket([]byte("meta"))
		if err != nil {
			return err
		}
		v := binary.BigEndian.AppendUint32(nil, 1)
		v = append(v, make([]byte, 24)...)
		return meta.Put([]byte("topic/old"), v)
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = wal.Open(st)
	if !errors.Is(err, wal.ErrFormatVersion) || !strings.Contains(err.Error(), "format 1") {
		t.Fatalf("format 1 store: %v", err)
	}
	st = memstore.New()
	l := openLog(t, st)
	if err := l.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	err = st.Update(func(tx store.Tx) error {
		meta := tx.Bucket([]byte("meta"))
		v := bytes.Clone(meta.Get([]byte("format")))
		v[3] = 9 // version 9, checksum now wrong: damaged, not misread
		return meta.Put([]byte("format"), v)
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := wal.Open(st); err == nil {
		t.Fatal("a damaged format marker opened")
	}
}

// Retention never drops records a held group has not consumed: a
// forwarder's position (transport/kafka) holds them until it moves.
func TestHoldRetention(t *testing.T) {
	for _, r := range []wal.Retention{{MaxMessages: 10}, {MaxBytes: 1}, {MaxAge: time.Nanosecond}} {
		t.Run("", func(t *testing.T) {
			now := time.Unix(1_000_000, 0)
			l := openLog(t, memstore.New(), wal.WithChunk(5, 1<<10), wal.WithClock(func() time.Time { return now }))
			createTopic(t, l, "t", wal.TopicConfig{Partitions: 1, Retention: r})
			// Without a hold, retention drops records whatever a forwarder
			// sent: the finding this guards against.
			createTopic(t, l, "unheld", wal.TopicConfig{Partitions: 1, Retention: r})
			if err := l.CommitCursor("fwd", "unheld", 0, 0, false); err != nil {
				t.Fatal(err)
			}
			for range 30 {
				if err := l.Append(context.Background(), "unheld", 0, []wal.Record{{Timestamp: now.Add(-time.Hour).UnixNano(), Payload: []byte("x")}}); err != nil {
					t.Fatal(err)
				}
			}
			if s, _, _ := l.Offsets("unheld", 0); s == 0 {
				t.Fatal("retention kept everything without a hold; the test proves nothing")
			}
			release, err := l.HoldRetention("fwd")
			if err != nil {
				t.Fatal(err)
			}
			appendN(t, l, "t", 30, func(int) int64 { return now.Add(-time.Hour).UnixNano() })
			if s, _, _ := l.Offsets("t", 0); s != 0 {
				t.Fatalf("retention dropped up to %d with no forwarder position", s)
			}
			if err := l.CommitCursor("fwd", "t", 0, 12, false); err != nil {
				t.Fatal(err)
			}
			appendN(t, l, "t", 10, func(int) int64 { return now.Add(-time.Hour).UnixNano() })
			s, _, _ := l.Offsets("t", 0)
			if s > 12 {
				t.Fatalf("retention dropped up to %d past the forwarder at 12", s)
			}
			if r.MaxMessages > 0 && s != 12 {
				t.Fatalf("count retention stopped at %d, not the forwarder's 12", s)
			}
			release()
			release()
			appendN(t, l, "t", 10, func(int) int64 { return now.Add(-time.Hour).UnixNano() })
			appendN(t, l, "t", 1, func(int) int64 { return now.Add(-time.Hour).UnixNano() })
			if s2, _, _ := l.Offsets("t", 0); s2 <= 12 {
				t.Fatalf("released: start still %d", s2)
			}
		})
	}
}

// Under PolicyInterval the log commits once an interval, not once a
// chunk: the store fsyncs every commit (bbolt's NoSync is not safe
// against a power loss), so each commit is an fsync.
func TestIntervalCommitsOncePerInterval(t *testing.T) {
	st := &countingUpdates{Store: memstore.New()}
	l := openLog(t, st, wal.WithPolicy(wal.PolicyInterval, time.Hour), wal.WithChunk(10, 64<<10))
	createTopic(t, l, "t", wal.TopicConfig{Partitions: 1})
	before := st.n.Load()
	appendN(t, l, "t", 500, seq) // 50 chunks' worth, under 16 chunks of bytes
	if n := st.n.Load() - before; n != 0 {
		t.Fatalf("%d commits before the interval", n)
	}
	if err := l.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := st.n.Load() - before; n != 1 {
		t.Fatalf("%d commits for one Sync", n)
	}
	if got := readAll(t, l, "t", 0); len(got) != 500 {
		t.Fatalf("read %d", len(got))
	}
}

type countingUpdates struct {
	store.Store
	n atomic.Int64
}

func (s *countingUpdates) Update(fn func(store.Tx) error) error {
	s.n.Add(1)
	return s.Store.Update(fn)
}

// A topic cannot be created again while its deletion is removing its
// buckets: the new topic's first commit would write into them.
func TestCreateDuringDeleteRefused(t *testing.T) {
	ctx := context.Background()
	st := &gatedStore{Store: memstore.New(), gate: make(chan struct{}), entered: make(chan struct{})}
	l := openLog(t, st)
	createKafka(t, l, "k", 1)
	appendBatch(t, l, "k", 0, build(t, batchSpec{n: 2}, "x"))
	st.hold.Store(true)
	deleted := make(chan error, 1)
	go func() { deleted <- l.DeleteTopic(ctx, "k") }()
	<-st.entered
	if _, err := l.CreateTopic("k", wal.TopicConfig{Partitions: 1, Format: wal.FormatKafka}); !errors.Is(err, wal.ErrTopicDeleting) {
		t.Fatalf("create during delete: %v", err)
	}
	st.hold.Store(false)
	close(st.gate)
	if err := <-deleted; err != nil {
		t.Fatal(err)
	}
	createKafka(t, l, "k", 1)
	if _, end, _ := l.Offsets("k", 0); end != 0 {
		t.Fatalf("new topic ends at %d", end)
	}
}
