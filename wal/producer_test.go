package wal_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/onexbus/onexbus/internal/kbatch"
	"github.com/onexbus/onexbus/internal/testutil"
	"github.com/onexbus/onexbus/store"
	memstore "github.com/onexbus/onexbus/store/memory"
	"github.com/onexbus/onexbus/wal"
)

// producerBatch builds a batch of n records from producer pid at epoch
// with first sequence seq; the values name the batch.
func producerBatch(t testing.TB, pid int64, epoch int16, seq int32, n int) []byte {
	t.Helper()
	b := kbatch.NewBuilder(kbatch.CodecNone)
	b.SetProducer(pid, epoch, seq)
	for i := range n {
		v := fmt.Sprintf("p%d-e%d-s%d", pid, epoch, int(seq)+i)
		if err := b.Add(1_700_000_000_000+int64(i), nil, []byte(v), nil); err != nil {
			t.Fatal(err)
		}
	}
	out, err := b.Finish(nil)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// appendBatchErr appends one batch and returns AppendBatch's refusal or
// the result it reported.
func appendBatchErr(l *wal.Log, topic string, part int32, batch []byte) (wal.BatchResult, error) {
	ch := make(chan wal.BatchResult, 1)
	if err := l.AppendBatch(context.Background(), topic, part, batch, func(r wal.BatchResult) { ch <- r }); err != nil {
		return wal.BatchResult{}, err
	}
	r := <-ch
	return r, r.Err
}

// TestAppendBatchIdempotentAcrossReopen: through AppendBatch, a retry is
// answered with its original base offset and stored once, before and
// after a reopen; gaps and stale epochs are refused with the sentinels;
// producer windows are per partition.
func TestAppendBatchIdempotentAcrossReopen(t *testing.T) {
	backends(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		ctx := context.Background()
		l := openLog(t, open(t))
		createKafka(t, l, "k", 2)
		var bases []int64
		for i := range 3 {
			r := appendBatch(t, l, "k", 0, producerBatch(t, 9, 0, int32(i*4), 4))
			if r.Duplicate {
				t.Fatalf("batch %d taken for a duplicate", i)
			}
			bases = append(bases, r.BaseOffset)
		}
		if r := appendBatch(t, l, "k", 0, producerBatch(t, 9, 0, 4, 4)); !r.Duplicate || r.BaseOffset != bases[1] {
			t.Fatalf("retry of batch 1: %+v; want a duplicate at %d", r, bases[1])
		}
		if _, err := appendBatchErr(l, "k", 0, producerBatch(t, 9, 0, 20, 1)); !errors.Is(err, wal.ErrOutOfOrderSequence) {
			t.Fatalf("a gap: %v; want ErrOutOfOrderSequence", err)
		}
		// Another partition does not know producer 9 yet: any sequence.
		if r := appendBatch(t, l, "k", 1, producerBatch(t, 9, 0, 4, 4)); r.Duplicate || r.BaseOffset != 0 {
			t.Fatalf("the same sequence on partition 1: %+v; want appended at 0", r)
		}
		if err := l.Close(ctx); err != nil {
			t.Fatal(err)
		}

		l2 := openLog(t, open(t))
		for i, base := range bases {
			if r := appendBatch(t, l2, "k", 0, producerBatch(t, 9, 0, int32(i*4), 4)); !r.Duplicate || r.BaseOffset != base {
				t.Fatalf("retry of batch %d after the reopen: %+v; want a duplicate at %d", i, r, base)
			}
		}
		if r := appendBatch(t, l2, "k", 0, producerBatch(t, 9, 0, 12, 1)); r.Duplicate || r.BaseOffset != 12 {
			t.Fatalf("the next batch after the reopen: %+v; want appended at 12", r)
		}
		if r := appendBatch(t, l2, "k", 0, producerBatch(t, 9, 1, 0, 1)); r.Duplicate || r.BaseOffset != 13 {
			t.Fatalf("an epoch bump at sequence 0: %+v; want appended at 13", r)
		}
		if _, err := appendBatchErr(l2, "k", 0, producerBatch(t, 9, 0, 13, 1)); !errors.Is(err, wal.ErrInvalidProducerEpoch) {
			t.Fatalf("the old epoch after a bump: %v; want ErrInvalidProducerEpoch", err)
		}
		if _, end, _ := l2.Offsets("k", 0); end != 14 {
			t.Fatalf("end offset %d; want 14 (each batch stored once)", end)
		}
	})
}

// TestProducerStateSurvivesFailedCommit: a commit that fails keeps the
// batch queued and its window change pending; the next commit stores
// both, so a retry after a reopen is still a duplicate.
func TestProducerStateSurvivesFailedCommit(t *testing.T) {
	ctx := context.Background()
	fs := &failingStore{Store: memstore.New()}
	l := openLog(t, fs)
	createKafka(t, l, "k", 1)
	appendBatch(t, l, "k", 0, producerBatch(t, 3, 0, 0, 2))
	fs.mu.Lock()
	fs.fail = true
	fs.mu.Unlock()
	if _, err := appendBatchErr(l, "k", 0, producerBatch(t, 3, 0, 2, 2)); !errors.Is(err, wal.ErrCommit) {
		t.Fatalf("append while the store fails: %v; want ErrCommit", err)
	}
	fs.mu.Lock()
	fs.fail = false
	fs.mu.Unlock()
	// The client retries: the batch is queued already, so it is a duplicate
	// answered once the original is stored.
	if r := appendBatch(t, l, "k", 0, producerBatch(t, 3, 0, 2, 2)); !r.Duplicate || r.BaseOffset != 2 {
		t.Fatalf("retry after the failed commit: %+v; want a duplicate at 2", r)
	}
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	l2 := openLog(t, fs)
	if r := appendBatch(t, l2, "k", 0, producerBatch(t, 3, 0, 2, 2)); !r.Duplicate || r.BaseOffset != 2 {
		t.Fatalf("retry after the reopen: %+v; want a duplicate at 2", r)
	}
	if _, end, _ := l2.Offsets("k", 0); end != 4 {
		t.Fatalf("end offset %d; want 4", end)
	}
}

// TestDeleteTopicForgetsProducers: a topic deleted and created again
// under its name does not know the old topic's producers.
func TestDeleteTopicForgetsProducers(t *testing.T) {
	ctx := context.Background()
	st := memstore.New()
	l := openLog(t, st)
	createKafka(t, l, "k", 1)
	appendBatch(t, l, "k", 0, producerBatch(t, 4, 0, 0, 3))
	if err := l.DeleteTopic(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	createKafka(t, l, "k", 1)
	if r := appendBatch(t, l, "k", 0, producerBatch(t, 4, 0, 0, 3)); r.Duplicate {
		t.Fatalf("the new topic took a batch for a duplicate of the deleted one's: %+v", r)
	}
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	keys := 0
	if err := st.View(func(tx store.Tx) error {
		if b := tx.Bucket([]byte("producers")); b != nil {
			c := b.Cursor()
			for k, _ := c.First(); k != nil; k, _ = c.Next() {
				keys++
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if keys != 1 {
		t.Fatalf("%d stored producer windows; want 1 (the new topic's)", keys)
	}
}

// TestProducerExpiry: a producer idle past WithProducerExpiry is
// forgotten, after a reopen too (its last append time is stored): its
// next batch is accepted with any sequence. The committer deletes the
// stored window of an expired producer.
func TestProducerExpiry(t *testing.T) {
	ctx := context.Background()
	st := memstore.New()
	clock := newTestClock(time.Unix(1_700_000_000, 0))
	opts := []wal.Option{wal.WithClock(clock.Now), wal.WithProducerExpiry(time.Hour), wal.WithPolicy(wal.PolicySync, 10*time.Millisecond)}
	l := openLog(t, st, opts...)
	createKafka(t, l, "k", 1)
	appendBatch(t, l, "k", 0, producerBatch(t, 5, 0, 0, 2))
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	clock.Advance(59 * time.Minute)
	l2 := openLog(t, st, opts...)
	if _, err := appendBatchErr(l2, "k", 0, producerBatch(t, 5, 0, 500, 1)); !errors.Is(err, wal.ErrOutOfOrderSequence) {
		t.Fatalf("after 59 idle minutes: %v; want ErrOutOfOrderSequence", err)
	}
	if err := l2.Close(ctx); err != nil {
		t.Fatal(err)
	}
	clock.Advance(2 * time.Minute)
	l3 := openLog(t, st, opts...)
	if r := appendBatch(t, l3, "k", 0, producerBatch(t, 5, 0, 500, 1)); r.Duplicate || r.BaseOffset != 2 {
		t.Fatalf("after 61 idle minutes: %+v; want appended at 2", r)
	}
	storedWindows := func() int {
		n := 0
		if err := st.View(func(tx store.Tx) error {
			if b := tx.Bucket([]byte("producers")); b != nil {
				c := b.Cursor()
				for k, _ := c.First(); k != nil; k, _ = c.Next() {
					n++
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := storedWindows(); n != 1 {
		t.Fatalf("%d stored windows; want 1", n)
	}
	clock.Advance(2 * time.Hour)
	testutil.Eventually(t, 10*time.Second, func() bool { return storedWindows() == 0 }, "the expired window is deleted from the store")
}

// TestProducerExpiryAfterClockStepsBack: the wall clock runs ten hours
// ahead (an expiry pass runs then), is corrected back, and a producer
// that appends afterwards and then stays idle past the expiry is still
// forgotten: a step back of the clock must not hold expiry off until the
// clock has caught up with the ahead time (ten hours here).
func TestProducerExpiryAfterClockStepsBack(t *testing.T) {
	st := memstore.New()
	clock := newTestClock(time.Unix(1_700_000_000, 0))
	l := openLog(t, st, wal.WithClock(clock.Now), wal.WithProducerExpiry(time.Hour), wal.WithPolicy(wal.PolicySync, 10*time.Millisecond))
	createKafka(t, l, "k", 1)
	storedWindows := func() int {
		n := 0
		if err := st.View(func(tx store.Tx) error {
			if b := tx.Bucket([]byte("producers")); b != nil {
				c := b.Cursor()
				for k, _ := c.First(); k != nil; k, _ = c.Next() {
					n++
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		return n
	}
	appendBatch(t, l, "k", 0, producerBatch(t, 5, 0, 0, 1))
	clock.Advance(10 * time.Hour)
	testutil.Eventually(t, 10*time.Second, func() bool { return storedWindows() == 0 }, "producer 5 expired ten hours on")
	clock.Advance(-10*time.Hour + time.Minute)
	appendBatch(t, l, "k", 0, producerBatch(t, 6, 0, 0, 1))
	if n := storedWindows(); n != 1 {
		t.Fatalf("%d stored windows after producer 6 appended; want 1", n)
	}
	clock.Advance(2 * time.Hour)
	testutil.Eventually(t, 10*time.Second, func() bool { return storedWindows() == 0 },
		"producer 6, idle two hours (expiry 1h) after the clock stepped back, expired")
}
