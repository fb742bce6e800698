package wal

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/onexbus/onexbus/internal/testutil"
	memstore "github.com/onexbus/onexbus/store/memory"
)

// openCombineLog opens a log on a memory store with topic "t" of one
// partition and returns it with that partition.
func openCombineLog(t *testing.T, policy Policy) (*Log, *partition) {
	t.Helper()
	l, err := Open(memstore.New(), WithPolicy(policy, 0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close(context.Background()) })
	if _, err := l.CreateTopic("t", TopicConfig{Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	_, p, err := l.partition("t", 0)
	if err != nil {
		t.Fatal(err)
	}
	return l, p
}

type appendResult struct {
	recs []Record
	err  error
}

// goAppend starts an Append of one record with payload v to t/0 and
// returns where its result arrives.
func goAppend(l *Log, v string) <-chan appendResult {
	ch := make(chan appendResult, 1)
	go func() {
		recs := []Record{{Payload: []byte(v)}}
		err := l.Append(context.Background(), "t", 0, recs)
		ch <- appendResult{recs, err}
	}()
	return ch
}

// holdToken takes p's combining token for the test, as an appender
// holding it would; appends that come meanwhile wait in the pending list.
func holdToken(t *testing.T, p *partition) {
	t.Helper()
	if !p.combining.CompareAndSwap(0, 1) {
		t.Fatal("the combining token is held")
	}
}

// waitPending waits until n requests are pending in p and their
// appenders have parked.
func waitPending(t *testing.T, p *partition, n int) {
	t.Helper()
	testutil.Eventually(t, 5*time.Second, func() bool {
		k := 0
		for r := p.pending.Load(); r != nil; r = r.next {
			if r.state.Load() != reqParked {
				return false
			}
			k++
		}
		return k == n
	}, "appends pending and parked")
}

// An appender that finds the combining token held leaves its records in
// the pending list and waits on its request, not on the partition lock;
// the token's holder queues them and completes it. Here the test holds
// the token and the partition lock while the appenders return, so they
// never took the lock.
func TestAppendCompletedByHoldersCombine(t *testing.T) {
	l, p := openCombineLog(t, PolicyNone)
	holdToken(t, p)
	a := goAppend(l, "a")
	waitPending(t, p, 1)
	b := goAppend(l, "b")
	waitPending(t, p, 2)
	p.mu.Lock()
	served := l.takePendingLocked(p)
	releaseReqs(served) // before unlocking: the appenders cannot take the lock
	ra := testutil.Receive(t, a, 5*time.Second)
	rb := testutil.Receive(t, b, 5*time.Second)
	end := p.next
	p.mu.Unlock()
	if l.leaveCombiner(p) {
		t.Fatal("the token taken back with nothing pending")
	}
	if ra.err != nil || rb.err != nil {
		t.Fatalf("append errors %v, %v", ra.err, rb.err)
	}
	// Oldest first: a was pushed before b.
	if ra.recs[0].Offset != 0 || rb.recs[0].Offset != 1 || end != 2 {
		t.Fatalf("offsets a %d, b %d, end %d; want 0, 1, 2", ra.recs[0].Offset, rb.recs[0].Offset, end)
	}
	var got []string
	if _, err := l.Read(context.Background(), "t", 0, 0, 1<<20, func(e *Entry) error {
		got = append(got, string(e.Payload))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] != "a" || got[1] != "b" {
		t.Fatalf("read %q, want [a b]", got)
	}
	if p.combining.Load() != 0 || p.pending.Load() != nil {
		t.Fatal("the token held or a request left pending")
	}
}

// A holder that finds requests pending when it leaves hands the token to
// the newest, whose appender queues its own records and the others', and
// then frees the token.
func TestAppendTokenHandedToPending(t *testing.T) {
	l, p := openCombineLog(t, PolicyNone)
	holdToken(t, p)
	a := goAppend(l, "a")
	waitPending(t, p, 1)
	b := goAppend(l, "b")
	waitPending(t, p, 2)
	if l.leaveCombiner(p) {
		t.Fatal("leaving with requests pending took the token back instead of handing it over")
	}
	ra := testutil.Receive(t, a, 5*time.Second)
	rb := testutil.Receive(t, b, 5*time.Second)
	if ra.err != nil || rb.err != nil {
		t.Fatalf("append errors %v, %v", ra.err, rb.err)
	}
	// b, the newest, got the token and queued its own first.
	if rb.recs[0].Offset != 0 || ra.recs[0].Offset != 1 {
		t.Fatalf("offsets a %d, b %d; want 1, 0", ra.recs[0].Offset, rb.recs[0].Offset)
	}
	testutil.Eventually(t, 5*time.Second, func() bool { return p.combining.Load() == 0 }, "the heir frees the token")
	if p.pending.Load() != nil {
		t.Fatal("a request left pending")
	}
}

// An append that pushes its request just as the holder frees the token
// is not left waiting: it (or the holder's second look) takes the free
// token and queues it.
func TestAppendPendingQueuedAfterTokenFreed(t *testing.T) {
	l, p := openCombineLog(t, PolicyNone)
	holdToken(t, p)
	a := goAppend(l, "a")
	waitPending(t, p, 1)
	// The holder looked (nothing pending) just before the push, so the
	// appender found the token held; now it frees the token.
	if !l.freeToken(p) {
		t.Fatal("the second look did not take the token back for the pending append")
	}
	l.combineSession(p, nil)
	r := testutil.Receive(t, a, 5*time.Second)
	if r.err != nil || r.recs[0].Offset != 0 {
		t.Fatalf("append: offset %d, %v", r.recs[0].Offset, r.err)
	}
	if p.combining.Load() != 0 || p.pending.Load() != nil {
		t.Fatal("the token held or a request left pending")
	}
}

// Close while appends are pending ends them with ErrClosed: nothing of
// theirs is queued, a pending AppendAsyncTo's completion is never told.
func TestAppendPendingEndedByClose(t *testing.T) {
	l, p := openCombineLog(t, PolicySync)
	holdToken(t, p)
	a := goAppend(l, "a")
	told := make(chan error, 1)
	asyncErr := make(chan error, 1)
	go func() {
		asyncErr <- l.AppendAsync(context.Background(), "t", 0, []Record{{Payload: []byte("b")}}, func(err error) { told <- err })
	}()
	waitPending(t, p, 2)
	if err := l.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if l.leaveCombiner(p) {
		t.Fatal("leaving with requests pending took the token back instead of handing it over")
	}
	if r := testutil.Receive(t, a, 5*time.Second); !errors.Is(r.err, ErrClosed) {
		t.Fatalf("pending Append: %v, want ErrClosed", r.err)
	}
	if err := testutil.Receive(t, asyncErr, 5*time.Second); !errors.Is(err, ErrClosed) {
		t.Fatalf("pending AppendAsync: %v, want ErrClosed", err)
	}
	select {
	case err := <-told:
		t.Fatalf("the refused async append's completion was told %v", err)
	default:
	}
	if p.next != 0 {
		t.Fatalf("%d records queued after Close", p.next)
	}
}

// DeleteTopic while an append is pending ends it with ErrUnknownTopic.
func TestAppendPendingEndedByDeleteTopic(t *testing.T) {
	l, p := openCombineLog(t, PolicyNone)
	holdToken(t, p)
	a := goAppend(l, "a")
	waitPending(t, p, 1)
	if err := l.DeleteTopic(context.Background(), "t"); err != nil {
		t.Fatal(err)
	}
	if l.leaveCombiner(p) {
		t.Fatal("leaving with a request pending took the token back instead of handing it over")
	}
	if r := testutil.Receive(t, a, 5*time.Second); !errors.Is(r.err, ErrUnknownTopic) {
		t.Fatalf("pending Append: %v, want ErrUnknownTopic", r.err)
	}
	if err := l.Append(context.Background(), "t", 0, []Record{{Payload: []byte("c")}}); !errors.Is(err, ErrUnknownTopic) {
		t.Fatalf("Append after DeleteTopic: %v", err)
	}
}

// A pending AppendAsyncTo over the back-pressure bound is refused for
// room by the holder (nothing queued), waits for the committer and is
// queued on its retry; its completion is told once.
func TestAppendAsyncPendingWaitsForRoom(t *testing.T) {
	l, p := openCombineLog(t, PolicyNone)
	l.cfg.maxPendingBytes = 1 // any queued record is over the bound
	tl, _, err := l.partition("t", 0)
	if err != nil {
		t.Fatal(err)
	}
	holdToken(t, p)
	told := make(chan error, 2)
	asyncErr := make(chan error, 1)
	go func() {
		asyncErr <- l.AppendAsync(context.Background(), "t", 0, []Record{{Payload: []byte("b")}}, func(err error) { told <- err })
	}()
	waitPending(t, p, 1)
	p.mu.Lock()
	// An append queued ahead of it (as a holder's own) takes the tail over.
	l.framesLocked(tl, p, 0, []Record{{Payload: []byte("first")}}, 1)
	over := p.tail.bytes > l.cfg.maxPendingBytes
	served := l.takePendingLocked(p)
	full, next := served.full, p.next
	p.mu.Unlock()
	releaseReqs(served)
	if l.leaveCombiner(p) {
		t.Fatal("the token taken back with nothing pending")
	}
	if !over || !full || next != 1 {
		t.Fatalf("tail over %v; request refused for room %v, next %d: want true, true, 1", over, full, next)
	}
	if err := testutil.Receive(t, asyncErr, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := testutil.Receive(t, told, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if _, end, err := l.Offsets("t", 0); err != nil || end != 2 {
		t.Fatalf("end %d (%v), want 2", end, err)
	}
	select {
	case err := <-told:
		t.Fatalf("completion told twice (%v)", err)
	default:
	}
}
