package core_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/onexbus/onexbus/core"
)

// A handler learns its group and attempt number, and RetryAfter sets a
// floor under the backoff: a retry asked for in 10 minutes waits for it
// even though the policy's backoff is at most 4 s.
func TestDeliveryInfoAndRetryAfter(t *testing.T) {
	inBubbles(t, func(t *testing.T, be backend) {
		b := dlqBus(t, be, nil, 3)
		ctx := context.Background()
		var mu sync.Mutex
		var attempts []int
		var times []time.Time
		if _, err := b.Subscribe(ctx, "onex.evt.billing.paid.v1", "mailer", func(ctx context.Context, _ *core.Message) error {
			d, ok := core.Delivery(ctx)
			if !ok || d.Group != "mailer" {
				t.Errorf("delivery info %+v, %v", d, ok)
			}
			mu.Lock()
			defer mu.Unlock()
			attempts = append(attempts, d.Attempt)
			times = append(times, time.Now())
			if d.Attempt == 1 {
				return core.RetryAfter(errors.New("not yet"), 10*time.Minute)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Publish(ctx, &core.Message{Topic: "onex.evt.billing.paid.v1", Value: []byte("v")}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Hour)
		synctest.Wait()
		mu.Lock()
		defer mu.Unlock()
		if len(attempts) != 2 || attempts[0] != 1 || attempts[1] != 2 {
			t.Fatalf("attempts %v, want [1 2]", attempts)
		}
		if d := times[1].Sub(times[0]); d < 10*time.Minute || d > 10*time.Minute+time.Second {
			t.Fatalf("retry after %v, want 10m", d)
		}
	})
	if _, ok := core.Delivery(context.Background()); ok {
		t.Fatal("Delivery reported info outside a handler")
	}
	if core.RetryAfter(nil, time.Second) != nil {
		t.Fatal("RetryAfter(nil) is not nil")
	}
}
