package core_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/internal/testutil"
)

// Publish remembers the topic it published to last (bus.go, topicCache),
// and a change of that topic is seen by the very next publish: a topic
// grown to more partitions takes a message for a new partition at once,
// and a topic deleted and published to again starts anew at offset 0,
// with the default configuration.
func TestPublishSeesTopicChangesAtOnce(t *testing.T) {
	forEachBackend(t, func(t *testing.T, newBus func(...core.Option) *core.Bus) {
		b := newBus()
		ctx := context.Background()
		publish := func(m *core.Message) (int64, error) { return b.Publish(ctx, m) }
		for range 3 { // the topic is the last one published to
			if _, err := publish(&core.Message{Topic: "t", Value: []byte("x")}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := publish(&core.Message{Topic: "t", Partition: 3, ExplicitPartition: true}); !errors.Is(err, core.ErrInvalidPartition) {
			t.Fatalf("partition 3 of a 1-partition topic: %v, want ErrInvalidPartition", err)
		}
		if _, err := b.CreateTopic(ctx, "t", core.TopicConfig{Partitions: 4}); err != nil {
			t.Fatal(err)
		}
		off, err := publish(&core.Message{Topic: "t", Partition: 3, ExplicitPartition: true})
		if err != nil || off != 0 {
			t.Fatalf("partition 3 after growing to 4: offset %d, %v", off, err)
		}

		if err := b.Kafka().DeleteTopic(ctx, "t"); err != nil {
			t.Fatal(err)
		}
		m := &core.Message{Topic: "t", Value: []byte("y")}
		off, err = publish(m)
		if err != nil || off != 0 || m.Partition != 0 {
			t.Fatalf("after delete: partition %d offset %d, %v; want a new topic, 0/0", m.Partition, off, err)
		}
		if _, err := publish(&core.Message{Topic: "t", Partition: 3, ExplicitPartition: true}); !errors.Is(err, core.ErrInvalidPartition) {
			t.Fatalf("partition 3 of the re-created 1-partition topic: %v, want ErrInvalidPartition", err)
		}
	})
}

// An Unsubscribe waiting (without a deadline) for calls under way is
// woken by the last of them to end, and not before: with four calls
// held, it is still waiting after three have returned, and returns once
// the fourth has (a call ending after Unsubscribe set the inactive bit
// must wake it; endCall).
func TestUnsubscribeWokenByLastCall(t *testing.T) {
	forEachBackend(t, func(t *testing.T, newBus func(...core.Option) *core.Bus) {
		b := newBus()
		ctx := context.Background()
		const n = 4
		started := make(chan struct{}, n)
		release := make(chan struct{}, n)
		failed := make(chan struct{}) // a failed test lets the held calls go before the bus closes
		t.Cleanup(func() { close(failed) })
		var finished atomic.Int32
		sub, err := b.Subscribe(ctx, "t", "g", func(context.Context, *core.Message) error {
			started <- struct{}{}
			select {
			case <-release:
			case <-failed:
			}
			finished.Add(1)
			return nil
		}, core.SubscribeOrdering(core.OrderNone, n))
		if err != nil {
			t.Fatal(err)
		}
		for i := range n {
			if _, err := b.Publish(ctx, msg("t", fmt.Sprint(i))); err != nil {
				t.Fatal(err)
			}
		}
		for range n {
			testutil.Receive(t, started, wait)
		}
		returned := make(chan int32, 1) // the calls finished when Unsubscribe returned
		go func() {
			if err := sub.Unsubscribe(ctx); err != nil {
				t.Errorf("Unsubscribe: %v", err)
			}
			returned <- finished.Load()
		}()
		// Unsubscribe has set the inactive bit once the member is gone.
		testutil.Eventually(t, wait, func() bool { return b.Health().Subscribers == 0 }, "Unsubscribe to remove the member")
		for range n - 1 {
			release <- struct{}{}
		}
		testutil.Eventually(t, wait, func() bool { return finished.Load() == n-1 }, "three calls to return")
		select {
		case f := <-returned:
			t.Fatalf("Unsubscribe returned with a call still under way (%d finished)", f)
		default:
		}
		release <- struct{}{}
		if f := testutil.Receive(t, returned, wait); f != n {
			t.Fatalf("Unsubscribe returned after %d calls finished, want %d", f, n)
		}
	})
}

// Unsubscribe waits for every handler call under way, however many run
// at once, and none starts after it: while four calls are held it gives
// up with its context's error (it waited, and the subscription is
// inactive from then on), and no call starts afterwards.
func TestUnsubscribeWaitsForEveryRunningCall(t *testing.T) {
	forEachBackend(t, func(t *testing.T, newBus func(...core.Option) *core.Bus) {
		b := newBus()
		ctx := context.Background()
		const n = 4
		started := make(chan struct{}, n)
		release := make(chan struct{})
		var finished, after atomic.Int32
		var unsubscribed atomic.Bool
		sub, err := b.Subscribe(ctx, "t", "g", func(context.Context, *core.Message) error {
			if unsubscribed.Load() {
				after.Add(1)
			}
			started <- struct{}{}
			<-release
			finished.Add(1)
			return nil
		}, core.SubscribeOrdering(core.OrderNone, n))
		if err != nil {
			t.Fatal(err)
		}
		for i := range n {
			if _, err := b.Publish(ctx, msg("t", fmt.Sprint(i))); err != nil {
				t.Fatal(err)
			}
		}
		for range n {
			testutil.Receive(t, started, wait)
		}
		short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
		defer cancel()
		if err := sub.Unsubscribe(short); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Unsubscribe with %d calls held: %v, want the context's deadline", n, err)
		}
		unsubscribed.Store(true)
		close(release)
		testutil.Eventually(t, wait, func() bool { return finished.Load() == n }, "the held calls to return")
		if err := sub.Unsubscribe(ctx); err != nil {
			t.Fatalf("second Unsubscribe: %v", err)
		}
		if _, err := b.Publish(ctx, msg("t", "late")); err != nil {
			t.Fatal(err)
		}
		h, got := collector(10)
		if _, err := b.Subscribe(ctx, "t", "witness", h, core.SubscribeStart(core.StartEarliest)); err != nil {
			t.Fatal(err)
		}
		for range n + 1 {
			testutil.Receive(t, got, wait)
		}
		if a := after.Load(); a != 0 {
			t.Fatalf("%d calls started after Unsubscribe", a)
		}
	})
}
