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

// Key order: a failing message holds back only the later messages of its
// own key; other keys go on, and the key resumes in order once it passes.
func TestKeyOrderingHoldsOnlyTheFailingKey(t *testing.T) {
	inBubbles(t, func(t *testing.T, be backend) {
		b := busOn(t, be, nil, core.WithRetry(core.RetryPolicy{MaxAttempts: 10, Base: time.Second, Max: time.Second}))
		ctx := context.Background()
		var mu sync.Mutex
		var got []string
		failuresLeft := 2
		_, err := b.Subscribe(ctx, "t1", "g", func(_ context.Context, m *core.Message) error {
			mu.Lock()
			defer mu.Unlock()
			if string(m.Value) == "A1" && failuresLeft > 0 {
				failuresLeft--
				return errors.New("not yet")
			}
			got = append(got, string(m.Value))
			return nil
		}, core.SubscribeOrdering(core.OrderKey, 8))
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range []string{"A1", "B1", "B2", "A2", "B3"} {
			m := msg("t1", v)
			m.Key = []byte(v[:1])
			if _, err := b.Publish(ctx, m); err != nil {
				t.Fatal(err)
			}
		}
		synctest.Wait()
		mu.Lock()
		if len(got) != 3 || got[0] != "B1" || got[1] != "B2" || got[2] != "B3" {
			t.Fatalf("while A1 fails: delivered %v, want [B1 B2 B3]", got)
		}
		mu.Unlock()
		if off, _, _ := b.CommittedOffset("g", "t1", 0); off != 0 {
			t.Fatalf("cursor %d moved past the failing A1", off)
		}
		time.Sleep(10 * time.Second)
		synctest.Wait()
		mu.Lock()
		defer mu.Unlock()
		if len(got) != 5 || got[3] != "A1" || got[4] != "A2" {
			t.Fatalf("after A1 passes: delivered %v", got)
		}
		if off, _, _ := b.CommittedOffset("g", "t1", 0); off != 5 {
			t.Fatalf("cursor %d, want 5", off)
		}
	})
}

// Unordered delivery runs up to the concurrency limit at once, no more.
func TestUnorderedConcurrencyLimit(t *testing.T) {
	inBubbles(t, func(t *testing.T, be backend) {
		b := busOn(t, be, nil)
		ctx := context.Background()
		release := make(chan struct{})
		var mu sync.Mutex
		running, peak, done := 0, 0, 0
		_, err := b.Subscribe(ctx, "t1", "g", func(context.Context, *core.Message) error {
			mu.Lock()
			running++
			peak = max(peak, running)
			mu.Unlock()
			<-release
			mu.Lock()
			running--
			done++
			mu.Unlock()
			return nil
		}, core.SubscribeOrdering(core.OrderNone, 4))
		if err != nil {
			t.Fatal(err)
		}
		for range 10 {
			if _, err := b.Publish(ctx, msg("t1", "x")); err != nil {
				t.Fatal(err)
			}
		}
		synctest.Wait()
		mu.Lock()
		if running != 4 {
			t.Fatalf("%d handlers running, want 4", running)
		}
		mu.Unlock()
		close(release)
		synctest.Wait()
		mu.Lock()
		defer mu.Unlock()
		if done != 10 || peak != 4 {
			t.Fatalf("done %d, peak %d; want 10 and 4", done, peak)
		}
		if off, _, _ := b.CommittedOffset("g", "t1", 0); off != 10 {
			t.Fatalf("cursor %d, want 10", off)
		}
	})
}
