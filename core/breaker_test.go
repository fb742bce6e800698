package core_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/store"
)

// inBubbles runs fn in a synctest bubble once per store backend (memory
// and bbolt), so timers, retries and breakers run on fake time on both.
func inBubbles(t *testing.T, fn func(t *testing.T, be backend)) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) { fn(t, be) })
		})
	}
}

// busOn opens a bus on be's store with opts.
func busOn(t *testing.T, be backend, st store.Store, opts ...core.Option) *core.Bus {
	t.Helper()
	if st == nil {
		st = be.open(t, t.TempDir())
	}
	b, err := core.New(append([]core.Option{core.WithStore(st), be.policy}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close(context.Background()) })
	return b
}

// breakerBus is a bus whose retries are quick and whose breaker opens
// after 5 failures for reset.
func breakerBus(t *testing.T, be backend, reset time.Duration) *core.Bus {
	t.Helper()
	return busOn(t, be, nil,
		core.WithRetry(core.RetryPolicy{MaxAttempts: 100, Base: time.Millisecond, Max: 10 * time.Millisecond}),
		core.WithBreaker(core.BreakerPolicy{Threshold: 5, ResetTimeout: reset}),
	)
}

func breakerOf(t *testing.T, b *core.Bus, topic, group string) core.BreakerHealth {
	t.Helper()
	for _, br := range b.Health().Breakers {
		if br.Topic == topic && br.Group == group {
			return br
		}
	}
	t.Fatalf("no breaker for %s/%s", topic, group)
	return core.BreakerHealth{}
}

// ACCEPTANCE 21: threshold 5, a handler that always fails, 6 messages (or
// 10 concurrent publishes): the handler runs exactly 5 times, then the
// breaker is open and the messages wait, none lost, no attempt burned.
func TestBreakerOpensAfterThreshold(t *testing.T) {
	for _, tc := range []struct {
		name       string
		messages   int
		concurrent bool
	}{{"six messages", 6, false}, {"ten concurrent publishes", 10, true}} {
		t.Run(tc.name, func(t *testing.T) {
			inBubbles(t, func(t *testing.T, be backend) {
				b := breakerBus(t, be, time.Hour)
				ctx := context.Background()
				var calls atomic.Int32
				if _, err := b.Subscribe(ctx, "t1", "g", func(context.Context, *core.Message) error {
					calls.Add(1)
					return errors.New("down")
				}); err != nil {
					t.Fatal(err)
				}
				var wg sync.WaitGroup
				for i := range tc.messages {
					publish := func() {
						if _, err := b.Publish(ctx, msg("t1", string(rune('a'+i)))); err != nil {
							t.Error(err)
						}
					}
					if tc.concurrent {
						wg.Go(publish)
					} else {
						publish()
					}
				}
				wg.Wait()
				time.Sleep(time.Minute)
				synctest.Wait()
				if n := calls.Load(); n != 5 {
					t.Fatalf("handler ran %d times, want 5", n)
				}
				br := breakerOf(t, b, "t1", "g")
				if br.State != core.BreakerOpen || br.Opens != 1 {
					t.Fatalf("breaker %+v, want open once", br)
				}
				if end, _ := b.EndOffset("t1", 0); end != int64(tc.messages) {
					t.Fatalf("end offset %d: messages lost", end)
				}
				if off, _, _ := b.CommittedOffset("g", "t1", 0); off != 0 {
					t.Fatalf("cursor moved to %d while every delivery failed", off)
				}
				if err := b.Close(ctx); err != nil {
					t.Fatal(err)
				}
			})
		})
	}
}

// ACCEPTANCE 22: after the reset timeout the breaker half-opens and lets
// one probe through; success closes it and delivery resumes in order;
// failure opens it again.
func TestBreakerHalfOpenProbe(t *testing.T) {
	for _, probeSucceeds := range []bool{true, false} {
		name := map[bool]string{true: "probe succeeds", false: "probe fails"}[probeSucceeds]
		t.Run(name, func(t *testing.T) {
			inBubbles(t, func(t *testing.T, be backend) {
				b := breakerBus(t, be, 30*time.Second)
				ctx := context.Background()
				var failing atomic.Bool
				failing.Store(true)
				var mu sync.Mutex
				var delivered []string
				calls := 0
				if _, err := b.Subscribe(ctx, "t1", "g", func(_ context.Context, m *core.Message) error {
					mu.Lock()
					defer mu.Unlock()
					calls++
					if failing.Load() {
						return errors.New("down")
					}
					delivered = append(delivered, string(m.Value))
					return nil
				}); err != nil {
					t.Fatal(err)
				}
				for _, v := range []string{"a", "b", "c"} {
					if _, err := b.Publish(ctx, msg("t1", v)); err != nil {
						t.Fatal(err)
					}
				}
				time.Sleep(time.Second)
				synctest.Wait()
				if br := breakerOf(t, b, "t1", "g"); br.State != core.BreakerOpen {
					t.Fatalf("breaker %v, want open", br.State)
				}
				failing.Store(!probeSucceeds)
				time.Sleep(30 * time.Second)
				synctest.Wait()
				br := breakerOf(t, b, "t1", "g")
				mu.Lock()
				defer mu.Unlock()
				if probeSucceeds {
					if br.State != core.BreakerClosed || len(delivered) != 3 || delivered[0] != "a" || delivered[2] != "c" {
						t.Fatalf("after a good probe: breaker %v, delivered %v", br.State, delivered)
					}
					return
				}
				if br.State != core.BreakerOpen || br.Opens != 2 || calls != 6 {
					t.Fatalf("after a failed probe: breaker %+v, %d calls; want open twice, 6 calls", br, calls)
				}
			})
		})
	}
}

// ACCEPTANCE 23: 3 failures, 1 success, then 6 failures: 8 handler
// failures in all and the breaker opened once.
func TestBreakerCountsConsecutiveFailures(t *testing.T) {
	inBubbles(t, func(t *testing.T, be backend) {
		b := breakerBus(t, be, time.Hour)
		ctx := context.Background()
		script := []bool{false, false, false, true, false, false, false, false, false, false}
		var mu sync.Mutex
		calls, failures := 0, 0
		if _, err := b.Subscribe(ctx, "t1", "g", func(context.Context, *core.Message) error {
			mu.Lock()
			defer mu.Unlock()
			ok := calls < len(script) && script[calls]
			calls++
			if !ok {
				failures++
				return errors.New("down")
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		for _, v := range []string{"a", "b"} {
			if _, err := b.Publish(ctx, msg("t1", v)); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		mu.Lock()
		defer mu.Unlock()
		if br := breakerOf(t, b, "t1", "g"); failures != 8 || br.Opens != 1 || br.State != core.BreakerOpen {
			t.Fatalf("%d failures, breaker %+v; want 8 failures and one opening", failures, br)
		}
	})
}

// ACCEPTANCE 24: a manual reset returns true once (of ten concurrent
// resets, exactly one) and false for an unknown subscriber.
func TestBreakerManualReset(t *testing.T) {
	inBubbles(t, func(t *testing.T, be backend) {
		b := breakerBus(t, be, time.Hour)
		ctx := context.Background()
		if _, err := b.Subscribe(ctx, "t1", "g", func(context.Context, *core.Message) error { return errors.New("down") }); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Publish(ctx, msg("t1", "a")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		if br := breakerOf(t, b, "t1", "g"); br.State != core.BreakerOpen {
			t.Fatalf("breaker %v, want open", br.State)
		}
		var wins atomic.Int32
		var wg sync.WaitGroup
		for range 10 {
			wg.Go(func() {
				if b.ResetBreaker("t1", "g") {
					wins.Add(1)
				}
			})
		}
		wg.Wait()
		if n := wins.Load(); n != 1 {
			t.Fatalf("%d resets returned true, want 1", n)
		}
		if b.ResetBreaker("t1", "nobody") || b.ResetBreaker("nope", "g") {
			t.Fatal("reset of an unknown subscriber returned true")
		}
		if err := b.Close(ctx); err != nil {
			t.Fatal(err)
		}
	})
}
