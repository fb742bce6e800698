package wal_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/onexbus/onexbus/internal/testutil"
	memstore "github.com/onexbus/onexbus/store/memory"
	"github.com/onexbus/onexbus/wal"
)

// A hold takes effect before HoldRetentionOf returns, even while a commit
// round that listed the holds before it is computing the floor: that
// round must not store a floor made without the new hold, which would
// let count retention drop records the new group has not consumed (every
// Subscription of the memory bus holds, so this is the memory bus's
// Subscribe racing a commit).
func TestHoldRetentionNotUndoneByACommitUnderWay(t *testing.T) {
	ctx := context.Background()
	const bound = 5
	l := openLog(t, memstore.New(), wal.WithPolicy(wal.PolicyNone, 0))
	createTopic(t, l, "t", wal.TopicConfig{Partitions: 1, Retention: wal.Retention{MaxMessages: bound}})
	appendN(t, l, "t", 10, seq)
	// g0 has consumed everything: its hold does not keep anything.
	if err := l.CommitCursor("g0", "t", 0, 10, false); err != nil {
		t.Fatal(err)
	}
	// g0's match is the hook: armed, its next call (the committer's,
	// while it computes the floor) waits for gate.
	var armed atomic.Bool
	entered, gate := make(chan struct{}), make(chan struct{})
	var openGate sync.Once
	t.Cleanup(func() { openGate.Do(func() { close(gate) }) }) // before the log's Close
	release0, err := l.HoldRetentionOf("g0", func(string) bool {
		if armed.CompareAndSwap(true, false) {
			close(entered)
			<-gate
		}
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	defer release0()
	if err := l.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	armed.Store(true)
	appendN(t, l, "t", 1, seq)
	start, _, err := l.Offsets("t", 0)
	if err != nil {
		t.Fatal(err)
	}
	synced := make(chan error, 1)
	go func() { synced <- l.Sync(ctx) }()
	testutil.Receive(t, entered, 10*time.Second) // the round knows only g0's hold

	type holdResult struct {
		release func()
		err     error
	}
	held := make(chan holdResult, 1)
	go func() {
		release, err := l.HoldRetentionOf("g", nil)
		held <- holdResult{release, err}
	}()
	h := testutil.Receive(t, held, 10*time.Second)
	if h.err != nil {
		t.Fatal(h.err)
	}
	defer h.release()
	openGate.Do(func() { close(gate) })
	if err := testutil.Receive(t, synced, 10*time.Second); err != nil {
		t.Fatal(err)
	}

	// g has consumed nothing since its hold: nothing from start on goes.
	appendN(t, l, "t", 3*bound, seq)
	if got, _, _ := l.Offsets("t", 0); got != start {
		t.Fatalf("start moved from %d to %d past a group holding since before", start, got)
	}
}

// A hold that returns while a commit round is writing (its floor computed
// before the hold) holds that round's byte and age retention too: the
// round must not drop what the new group has not consumed.
func TestHoldRetentionHoldsTheCommitWriting(t *testing.T) {
	ctx := context.Background()
	st := &gatedStore{Store: memstore.New(), gate: make(chan struct{}), entered: make(chan struct{})}
	var openGate sync.Once
	t.Cleanup(func() { openGate.Do(func() { close(st.gate) }) }) // before the log's Close
	l := openLog(t, st, wal.WithPolicy(wal.PolicyNone, 0), wal.WithChunk(5, 1<<10))
	createTopic(t, l, "t", wal.TopicConfig{Partitions: 1, Retention: wal.Retention{MaxBytes: 1}})
	appendN(t, l, "t", 10, seq)
	if err := l.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	start, _, err := l.Offsets("t", 0)
	if err != nil || start == 0 {
		t.Fatalf("start %d (%v): byte retention dropped nothing, the test proves nothing", start, err)
	}
	st.hold.Store(true)
	appendN(t, l, "t", 10, seq)
	synced := make(chan error, 1)
	go func() { synced <- l.Sync(ctx) }()
	testutil.Receive(t, st.entered, 10*time.Second) // the round's floor is made: no hold
	release, err := l.HoldRetentionOf("g", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	openGate.Do(func() { close(st.gate) })
	if err := testutil.Receive(t, synced, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := l.Offsets("t", 0); got != start {
		t.Fatalf("start moved from %d to %d past a group holding since before the round wrote", start, got)
	}
}
