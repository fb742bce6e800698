package wal_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/onexbus/onexbus/internal/faultstore"
	"github.com/onexbus/onexbus/internal/testutil"
	"github.com/onexbus/onexbus/store"
	memstore "github.com/onexbus/onexbus/store/memory"
	"github.com/onexbus/onexbus/wal"
)

// storedTxnIDs returns the keys of bucket txnids.
func storedTxnIDs(t *testing.T, st store.Store) []string {
	t.Helper()
	var ids []string
	if err := st.View(func(tx store.Tx) error {
		if b := tx.Bucket([]byte("txnids")); b != nil {
			c := b.Cursor()
			for k, _ := c.First(); k != nil; k, _ = c.Next() {
				ids = append(ids, string(k))
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return ids
}

func setTxnID(t *testing.T, l *wal.Log, id string, pid int64) {
	t.Helper()
	if err := l.SetTxnProducer(context.Background(), id, wal.TxnProducer{ProducerID: pid, TimeoutMillis: 60_000}); err != nil {
		t.Fatalf("register %s: %v", id, err)
	}
}

// expireTxnIDs runs an expiry pass and checks which ids are registered
// (the committer's own passes may have forgotten some first).
func expireTxnIDs(t *testing.T, l *wal.Log, when string, want ...string) {
	t.Helper()
	if _, err := l.ExpireTxnIDs(); err != nil {
		t.Fatalf("%s: expiry pass: %v", when, err)
	}
	for _, id := range []string{"used", "open", "idle", "app", "a", "b", "c"} {
		_, ok := l.TxnProducer(id)
		if ok != slices.Contains(want, id) {
			t.Fatalf("%s: id %q registered %v; want registered %v", when, id, ok, want)
		}
	}
	if n := l.TxnIDCount(); n != len(want) {
		t.Fatalf("%s: %d ids registered; want %v", when, n, want)
	}
}

// TestTxnIDExpiry: a transactional id whose last use (registration or
// the end of a transaction) is older than WithTxnIDExpiry is forgotten,
// in memory and in the store; one with a transaction open in the log is
// never forgotten by this rule; the last use survives a restart, so
// after a reopen an id is neither forgotten early nor kept for ever.
func TestTxnIDExpiry(t *testing.T) {
	backends(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		ctx := context.Background()
		clock := newTestClock(time.Unix(1_700_000_000, 0))
		opts := []wal.Option{wal.WithClock(clock.Now), wal.WithTxnIDExpiry(time.Hour), wal.WithPolicy(wal.PolicySync, 10*time.Millisecond)}
		st := open(t)
		l := openLog(t, st, opts...)
		createKafka(t, l, "t", 1)
		setTxnID(t, l, "used", 7)
		setTxnID(t, l, "open", 8)
		setTxnID(t, l, "idle", 9)
		appendBatch(t, l, "t", 0, txnBatch(t, 8, 0, 0, 2, "open")) // pid 8 keeps a transaction open

		clock.Advance(50 * time.Minute)
		// A transaction of "used" ends (it wrote nothing here: the end
		// still counts as a use).
		if err := l.EndTransaction(ctx, wal.TxnEnd{ProducerID: 7, Commit: true}); err != nil {
			t.Fatal(err)
		}
		expireTxnIDs(t, l, "at 50m", "used", "open", "idle")

		clock.Advance(11 * time.Minute) // 61m: "idle" is past the hour
		expireTxnIDs(t, l, "at 61m", "used", "open")
		if got := storedTxnIDs(t, st); !slices.Equal(got, []string{"open", "used"}) {
			t.Fatalf("stored ids at 61m: %v", got)
		}

		clock.Advance(3 * time.Hour) // "open" is 4 hours idle, its transaction open
		if err := l.Close(ctx); err != nil {
			t.Fatal(err)
		}
		// Restart at 4h01m: "used" was last used at 50m (the pass at 61m
		// stored that), so it is past the hour; "open" was aborted at
		// Open (a new epoch: a use now).
		st = open(t)
		l = openLog(t, st, opts...)
		if tp, ok := l.TxnProducer("open"); !ok || tp.Epoch != 1 {
			t.Fatalf(`"open" after the restart: %+v %v; want epoch 1 (the abort at Open)`, tp, ok)
		}
		expireTxnIDs(t, l, "after the restart", "open")
		if got := storedTxnIDs(t, st); !slices.Equal(got, []string{"open"}) {
			t.Fatalf("stored ids after the restart's pass: %v", got)
		}
		clock.Advance(59 * time.Minute)
		expireTxnIDs(t, l, "59m after the abort at Open", "open")
		clock.Advance(2 * time.Minute)
		expireTxnIDs(t, l, "61m after the abort at Open")
	})
}

// TestTxnIDExpiryNeverEarlyAfterRestart: a transaction end updates the
// last use in memory only; the pass stores it once it lags by more than
// expiry/16, and a reopen takes the stored one plus that lag, so an id
// used within the expiry is still registered after a restart.
func TestTxnIDExpiryNeverEarlyAfterRestart(t *testing.T) {
	ctx := context.Background()
	st := memstore.New()
	clock := newTestClock(time.Unix(1_700_000_000, 0))
	opts := []wal.Option{wal.WithClock(clock.Now), wal.WithTxnIDExpiry(16 * time.Hour)}
	l := openLog(t, st, opts...)
	setTxnID(t, l, "app", 3)
	// Ends every 10 minutes for 20 hours: each within the lag (1h) of
	// the stored use or rewritten by the pass.
	for range 120 {
		clock.Advance(10 * time.Minute)
		if err := l.EndTransaction(ctx, wal.TxnEnd{ProducerID: 3, Commit: true}); err != nil {
			t.Fatal(err)
		}
		expireTxnIDs(t, l, "while in use", "app")
	}
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	clock.Advance(15 * time.Hour) // idle 15h < 16h
	l = openLog(t, st, opts...)
	expireTxnIDs(t, l, "15h idle, after a restart", "app")
	clock.Advance(3 * time.Hour) // 18h: past the expiry plus the lag
	expireTxnIDs(t, l, "18h idle, after a restart")
}

// TestTxnIDCap: at WithMaxTxnIDs registered ids a new id is refused with
// ErrTxnIDsFull, nothing stored; a registered id may still move on; once
// one expires the new id is accepted (the full registry expires ids
// before refusing, without waiting for the pass).
func TestTxnIDCap(t *testing.T) {
	ctx := context.Background()
	st := memstore.New()
	clock := newTestClock(time.Unix(1_700_000_000, 0))
	l := openLog(t, st, wal.WithClock(clock.Now), wal.WithTxnIDExpiry(time.Hour), wal.WithMaxTxnIDs(2))
	setTxnID(t, l, "a", 1)
	clock.Advance(30 * time.Minute)
	setTxnID(t, l, "b", 2)
	err := l.SetTxnProducer(ctx, "c", wal.TxnProducer{ProducerID: 3})
	if !errors.Is(err, wal.ErrTxnIDsFull) {
		t.Fatalf("a third id with room for 2: %v; want ErrTxnIDsFull", err)
	}
	if got := storedTxnIDs(t, st); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("stored after the refusal: %v", got)
	}
	if err := l.SetTxnProducer(ctx, "a", wal.TxnProducer{ProducerID: 1, Epoch: 1}); err != nil {
		t.Fatalf("a registered id's new epoch when full: %v", err)
	}
	clock.Advance(61 * time.Minute) // "a" (used at 30m) and "b" (30m) expired
	setTxnID(t, l, "c", 3)
	if n := l.TxnIDCount(); n != 1 {
		t.Fatalf("%d ids after c was accepted; want 1 (a and b expired to make room)", n)
	}
	if got := storedTxnIDs(t, st); !slices.Equal(got, []string{"c"}) {
		t.Fatalf("stored after the expiry: %v", got)
	}
	if _, err := wal.Open(memstore.New(), wal.WithMaxTxnIDs(0)); !errors.Is(err, wal.ErrInvalidOption) {
		t.Fatalf("WithMaxTxnIDs(0): %v", err)
	}
	if _, err := wal.Open(memstore.New(), wal.WithTxnIDExpiry(time.Second)); !errors.Is(err, wal.ErrInvalidOption) {
		t.Fatalf("WithTxnIDExpiry(1s): %v", err)
	}
}

// abortBook is what a test wrote: every aborted transaction and every
// record's fate.
type abortBook struct {
	aborted   []wal.AbortedTxn
	committed []int64 // offsets a read_committed reader delivers
}

// writeTxns writes n transactions of alternating outcome (random, from
// seed) on t/part with several producers, one of them a long transaction
// spanning most of the others, and returns what a reader must see.
func writeTxns(t *testing.T, l *wal.Log, part int32, n int, seed uint64) abortBook {
	t.Helper()
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(seed, 1))
	var b abortBook
	_, next, err := l.Offsets("t", part)
	if err != nil {
		t.Fatal(err)
	}
	long := int64(1000 + part) // the long transaction: open across the others
	longFirst := next
	appendBatch(t, l, "t", part, txnBatch(t, long, 0, 0, 1, "long"))
	next++
	seq := map[int64]int32{}
	for i := range n {
		pid := int64(10 + i%4)
		recs := 1 + rng.IntN(3)
		first := next
		appendBatch(t, l, "t", part, txnBatch(t, pid, 0, seq[pid], recs, fmt.Sprintf("p%d-%d", part, i)))
		seq[pid] += int32(recs)
		next += int64(recs)
		commit := rng.IntN(2) == 0
		if err := l.EndTransaction(ctx, wal.TxnEnd{ProducerID: pid, Commit: commit, Partitions: []wal.TxnPartition{{Topic: "t", Part: part}}}); err != nil {
			t.Fatal(err)
		}
		if commit {
			for o := first; o < next; o++ {
				b.committed = append(b.committed, o)
			}
		} else {
			b.aborted = append(b.aborted, wal.AbortedTxn{ProducerID: pid, FirstOffset: first, LastOffset: next})
		}
		next++ // the marker
	}
	if err := l.EndTransaction(ctx, wal.TxnEnd{ProducerID: long, Partitions: []wal.TxnPartition{{Topic: "t", Part: part}}}); err != nil {
		t.Fatal(err)
	}
	b.aborted = append(b.aborted, wal.AbortedTxn{ProducerID: long, FirstOffset: longFirst, LastOffset: next})
	return b
}

// wantAborted filters the book's aborted transactions to those with
// records in [from, to), by marker offset.
func (b abortBook) wantAborted(from, to int64) []wal.AbortedTxn {
	var out []wal.AbortedTxn
	for _, a := range b.aborted {
		if a.LastOffset >= from && a.FirstOffset < to {
			out = append(out, a)
		}
	}
	slices.SortFunc(out, func(x, y wal.AbortedTxn) int { return int(x.LastOffset - y.LastOffset) })
	return out
}

// checkAborted compares AbortedTransactions and ReadCommitted with the
// book over every window of several sizes.
func checkAborted(t *testing.T, l *wal.Log, part int32, b abortBook, when string) {
	t.Helper()
	_, end, err := l.Offsets("t", part)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []int64{1, 3, 17, end} {
		for from := int64(0); from < end; from += max(1, w/2) {
			to := min(end, from+w)
			got, err := l.AbortedTransactions("t", part, from, to)
			if err != nil {
				t.Fatal(err)
			}
			if want := b.wantAborted(from, to); !slices.Equal(got, want) {
				t.Fatalf("%s: partition %d aborted in [%d, %d) = %v, want %v", when, part, from, to, got, want)
			}
		}
	}
	// ReadCommitted in small reads delivers exactly the committed records.
	var got []int64
	for from := int64(0); from < end; {
		next, err := l.ReadCommitted(context.Background(), "t", part, from, 5, func(e *wal.Entry) error {
			if !e.Batch.Control() && !e.Aborted {
				got = append(got, e.Offset)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if next <= from {
			t.Fatalf("%s: ReadCommitted from %d made no progress", when, from)
		}
		from = next
	}
	if !slices.Equal(got, b.committed) {
		t.Fatalf("%s: partition %d read_committed delivers %v, want %v", when, part, got, b.committed)
	}
}

// TestAbortedIndexBounded: with room for 5 entries in memory, two
// partitions with 40 transactions each (about half aborted, one long
// transaction across all of them) keep at most 5 entries in memory, and
// every read still lists exactly the aborted transactions of its range
// (the rest come from the store) and ReadCommitted skips exactly their
// records; after a restart too. Retention moving the start deletes the
// entries before it, from memory and from the store.
func TestAbortedIndexBounded(t *testing.T) {
	backends(t, func(t *testing.T, open func(t *testing.T) store.Store) {
		ctx := context.Background()
		st := open(t)
		opts := []wal.Option{wal.WithAbortedIndexMemory(5)}
		l := openLog(t, st, opts...)
		createKafka(t, l, "t", 2)
		books := []abortBook{writeTxns(t, l, 0, 40, 1), writeTxns(t, l, 1, 40, 2)}
		if n := l.AbortedIndexInMemory(); n > 5 {
			t.Fatalf("%d aborted entries in memory; the bound is 5", n)
		}
		total := len(books[0].aborted) + len(books[1].aborted)
		if total < 20 {
			t.Fatalf("only %d aborted transactions written", total)
		}
		t.Logf("%d aborted transactions, %d entries in memory", total, l.AbortedIndexInMemory())
		for p, b := range books {
			checkAborted(t, l, int32(p), b, "before the restart")
		}
		if err := l.Close(ctx); err != nil {
			t.Fatal(err)
		}
		st = open(t)
		l = openLog(t, st, opts...)
		if n := l.AbortedIndexInMemory(); n > 5 {
			t.Fatalf("%d aborted entries in memory after the restart; the bound is 5", n)
		}
		for p, b := range books {
			checkAborted(t, l, int32(p), b, "after the restart")
		}

		// Retention: partition 0 starts past its 10th aborted marker.
		cut := books[0].aborted[len(books[0].aborted)/2].LastOffset + 1
		if _, err := l.DeleteRecords(ctx, "t", 0, cut); err != nil {
			t.Fatal(err)
		}
		if err := l.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		var kept []wal.AbortedTxn
		for _, a := range books[0].aborted {
			if a.LastOffset >= cut {
				kept = append(kept, a)
			}
		}
		_, end, _ := l.Offsets("t", 0)
		if got, _ := l.AbortedTransactions("t", 0, cut, end); !slices.Equal(got, kept) {
			t.Fatalf("aborted after retention = %v, want %v", got, kept)
		}
		if n := storedAborted(t, st, 0); n != len(kept) {
			t.Fatalf("%d aborted entries stored for partition 0 after retention; want %d", n, len(kept))
		}
		if n := storedAborted(t, st, 1); n != len(books[1].aborted) {
			t.Fatalf("%d aborted entries stored for partition 1; want %d", n, len(books[1].aborted))
		}
	})
}

// TestAbortedIndexNoneInMemory: with no room at all every read goes to
// the store and is still exact.
func TestAbortedIndexNoneInMemory(t *testing.T) {
	l := openLog(t, memstore.New(), wal.WithAbortedIndexMemory(0))
	createKafka(t, l, "t", 1)
	b := writeTxns(t, l, 0, 30, 3)
	if err := l.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	r := appendBatch(t, l, "t", 0, producerBatch(t, 99, 0, 0, 1))
	b.committed = append(b.committed, r.BaseOffset)
	if n := l.AbortedIndexInMemory(); n != 0 {
		t.Fatalf("%d entries in memory with room for none", n)
	}
	checkAborted(t, l, 0, b, "none in memory")
}

// storedAborted counts partition part's aborted entries in the store.
func storedAborted(t *testing.T, st store.Store, part int32) int {
	t.Helper()
	n := 0
	prefix := append([]byte("t\x00"), byte(part>>24), byte(part>>16), byte(part>>8), byte(part), 'a')
	if err := st.View(func(tx store.Tx) error {
		if b := tx.Bucket([]byte("txnparts")); b != nil {
			c := b.Cursor()
			for k, _ := c.Seek(prefix); k != nil && len(k) > len(prefix) && string(k[:len(prefix)]) == string(prefix); k, _ = c.Next() {
				n++
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestTxnIDUsedDuringExpiryPassKept: the pass chooses the expired ids,
// then deletes them in a store write that does not hold the registry; an
// id used again in between (here its transaction begins while the write
// is stalled) stays registered, and the next pass stores it again, so a
// restart still knows it.
func TestTxnIDUsedDuringExpiryPassKept(t *testing.T) {
	fs := faultstore.New(memstore.New())
	clock := newTestClock(time.Unix(1_700_000_000, 0))
	opts := []wal.Option{wal.WithClock(clock.Now), wal.WithTxnIDExpiry(time.Hour)}
	l := openLog(t, fs, opts...)
	setTxnID(t, l, "back", 5)
	clock.Advance(61 * time.Minute)

	release := fs.Stall()
	before := fs.Commits()
	passed := make(chan error, 1)
	go func() {
		_, err := l.ExpireTxnIDs()
		passed <- err
	}()
	// A pass (this one or the committer's tick) has chosen its ids once
	// its store write started.
	testutil.Eventually(t, 20*time.Second, func() bool { return fs.Commits() > before }, "an expiry pass reaches its store write")
	l.TouchTxnProducer("back")
	release()
	if err := <-passed; err != nil {
		t.Fatal(err)
	}
	if _, ok := l.TxnProducer("back"); !ok {
		t.Fatal(`"back", used while the pass deleted it, is no longer registered`)
	}
	if _, err := l.ExpireTxnIDs(); err != nil {
		t.Fatal(err)
	}
	if got := storedTxnIDs(t, fs); !slices.Equal(got, []string{"back"}) {
		t.Fatalf("stored ids after the next pass: %v, want [back]", got)
	}
}

// syncFailingStore is a memory store whose Sync (store.Syncer) fails
// once failing is set.
type syncFailingStore struct {
	store.Store
	failing *atomic.Bool
}

func (s syncFailingStore) Sync() error {
	if s.failing.Load() {
		return errors.New("test: fdatasync failed")
	}
	return nil
}

// TestTxnEndingWaitReportsFailedFinalSync: under PolicyInterval a
// transaction end is durable only once synced; when the log closes and
// its final sync fails, Wait returns that failure, not nil (an EndTxn
// answered committed while its markers may be lost).
func TestTxnEndingWaitReportsFailedFinalSync(t *testing.T) {
	st := syncFailingStore{memstore.New(), new(atomic.Bool)}
	l := openLog(t, st, wal.WithPolicy(wal.PolicyInterval, time.Hour))
	createKafka(t, l, "t", 1)
	setTxnID(t, l, "app", 4)
	appendBatch(t, l, "t", 0, txnBatch(t, 4, 0, 0, 2, "app"))
	ending, err := l.QueueTransactionEnd(wal.TxnEnd{ProducerID: 4, Commit: true, Partitions: []wal.TxnPartition{{Topic: "t", Part: 0}}})
	if err != nil {
		t.Fatal(err)
	}
	st.failing.Store(true)
	if err := l.Close(context.Background()); err == nil {
		t.Fatal("Close with a failing final sync returned nil")
	}
	if err := ending.Wait(context.Background()); err == nil {
		t.Fatal("Wait after a failed final sync returned nil: the end was reported durable")
	}
}
