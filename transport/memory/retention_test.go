package memory_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/internal/testutil"
	"github.com/onexbus/onexbus/transport/memory"
)

// A topic created on first use is bounded by DefaultRetention, and an
// option given to New replaces it.
func TestMemoryBusDefaultRetention(t *testing.T) {
	ctx := context.Background()
	b, err := memory.New()
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close(ctx)
	if _, err := b.Publish(ctx, &core.Message{Topic: "t1", Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	if tc, ok := b.TopicConfig("t1"); !ok || tc.Retention != memory.DefaultRetention() || tc.Partitions != 1 {
		t.Fatalf("topic config %+v (%v), want retention %+v", tc, ok, memory.DefaultRetention())
	}
	if d := memory.DefaultRetention(); d.MaxMessages <= 0 || d.MaxBytes <= 0 {
		t.Fatalf("DefaultRetention %+v bounds neither messages nor bytes", memory.DefaultRetention())
	}

	own := core.TopicConfig{Partitions: 2, Retention: core.Retention{MaxMessages: 7}}
	o, err := memory.New(core.WithDefaultTopicConfig(own))
	if err != nil {
		t.Fatal(err)
	}
	defer o.Close(ctx)
	if _, err := o.Publish(ctx, &core.Message{Topic: "t1", Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	if tc, _ := o.TopicConfig("t1"); tc != own {
		t.Fatalf("topic config %+v, want the caller's %+v", tc, own)
	}
}

// Retention never drops what a subscribed group has not consumed: with a
// handler held on the first of 50 messages and a bound of 10, all 50
// stay in the log and are delivered in order, once the handler goes on.
// Once they are consumed the log drops them down to the bound, and after
// Unsubscribe nothing is held any more.
func TestMemoryBusRetentionKeepsWhatASubscribedGroupHasNotConsumed(t *testing.T) {
	ctx := context.Background()
	const topic, bound, n = "t1", 10, 50
	b, err := memory.New(core.WithDefaultTopicConfig(core.TopicConfig{Partitions: 1, Retention: core.Retention{MaxMessages: bound}}))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close(ctx)
	held, release := heldGate()
	defer release() // before Close, which waits for the handler
	started := make(chan struct{}, 1)
	got := make(chan int64, 2*n)
	sub, err := b.Subscribe(ctx, topic, "g", func(_ context.Context, m *core.Message) error {
		if m.Offset == 0 {
			started <- struct{}{}
			<-held
		}
		got <- m.Offset
		return nil
	}, core.SubscribeStart(core.StartEarliest))
	if err != nil {
		t.Fatal(err)
	}
	publish := func(count int) {
		t.Helper()
		for range count {
			if _, err := b.Publish(ctx, &core.Message{Topic: topic, Value: make([]byte, 100)}); err != nil {
				t.Fatal(err)
			}
		}
		if err := b.Sync(ctx); err != nil { // a commit round: retention runs
			t.Fatal(err)
		}
	}
	publish(1)
	testutil.Receive(t, started, 10*time.Second)
	publish(n - 1)
	if start, err := b.StartOffset(topic, 0); err != nil || start != 0 {
		t.Fatalf("start offset %d (%v) while the group has consumed nothing, want 0", start, err)
	}
	release()
	for want := range int64(n) {
		if off := testutil.Receive(t, got, 10*time.Second); off != want {
			t.Fatalf("delivered offset %d, want %d", off, want)
		}
	}
	// Consumed: the next commit rounds drop down to the bound.
	testutil.Eventually(t, 10*time.Second, func() bool {
		if off, ok, _ := b.CommittedOffset("g", topic, 0); !ok || off < n {
			return false
		}
		publish(1)
		end, _ := b.EndOffset(topic, 0)
		start, _ := b.StartOffset(topic, 0)
		return end-start <= bound
	}, "retention drops what the group consumed")
	for len(got) > 0 {
		<-got
	}

	if err := sub.Unsubscribe(ctx); err != nil {
		t.Fatal(err)
	}
	// No group holds the topic now: the bound alone decides (floors
	// follow at the next commit rounds: they only ever lag).
	testutil.Eventually(t, 10*time.Second, func() bool {
		publish(bound)
		end, _ := b.EndOffset(topic, 0)
		start, _ := b.StartOffset(topic, 0)
		return end-start <= bound
	}, "retention bounds the topic after Unsubscribe")
}

// Every member of every subscribed group holds: a second group that lags
// keeps the messages the first has consumed, and a member leaving its
// group does not release what the group's other member holds.
func TestMemoryBusRetentionHeldByEveryGroup(t *testing.T) {
	ctx := context.Background()
	const topic, bound, n = "t1", 5, 30
	b, err := memory.New(core.WithDefaultTopicConfig(core.TopicConfig{Partitions: 1, Retention: core.Retention{MaxMessages: bound}}))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close(ctx)
	fast := make(chan int64, n)
	if _, err := b.Subscribe(ctx, topic, "fast", func(_ context.Context, m *core.Message) error {
		fast <- m.Offset
		return nil
	}, core.SubscribeStart(core.StartEarliest)); err != nil {
		t.Fatal(err)
	}
	held, release := heldGate()
	defer release() // before Close, which waits for the handler
	slow := make(chan int64, n)
	slowHandler := func(_ context.Context, m *core.Message) error {
		<-held
		slow <- m.Offset
		return nil
	}
	first, err := b.Subscribe(ctx, topic, "slow", slowHandler, core.SubscribeStart(core.StartEarliest))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Subscribe(ctx, topic, "slow", slowHandler, core.SubscribeStart(core.StartEarliest)); err != nil {
		t.Fatal(err)
	}
	for range n {
		if _, err := b.Publish(ctx, &core.Message{Topic: topic, Value: []byte("v")}); err != nil {
			t.Fatal(err)
		}
	}
	for range n {
		testutil.Receive(t, fast, 10*time.Second)
	}
	// One member of the slow group leaves while the group still holds
	// every message (a call may be under way: Unsubscribe waits for it
	// only until its context ends, and the handler is held).
	leave, cancel := context.WithCancel(ctx)
	cancel()
	_ = first.Unsubscribe(leave)
	testutil.Eventually(t, 10*time.Second, func() bool {
		off, ok, _ := b.CommittedOffset("fast", topic, 0)
		return ok && off == n
	}, "the fast group commits every message")
	if err := b.Sync(ctx); err != nil {
		t.Fatal(err)
	}
	if start, err := b.StartOffset(topic, 0); err != nil || start != 0 {
		t.Fatalf("start offset %d (%v) while the slow group has consumed nothing, want 0", start, err)
	}
	release()
	seen := map[int64]bool{}
	for len(seen) < n {
		off := testutil.Receive(t, slow, 10*time.Second)
		if off < 0 || off >= n {
			t.Fatalf("slow group got offset %d", off)
		}
		seen[off] = true
	}
}

// heldGate returns a channel that handlers wait on and the idempotent
// func that opens it.
func heldGate() (<-chan struct{}, func()) {
	c := make(chan struct{})
	var once sync.Once
	return c, func() { once.Do(func() { close(c) }) }
}
