package core_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/uuid"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/dlq"
	"github.com/onexbus/onexbus/store"
)

// flakyStore fails every Update while down is set.
type flakyStore struct {
	store.Store
	down atomic.Bool
}

func (f *flakyStore) Update(fn func(store.Tx) error) error {
	if f.down.Load() {
		return errors.New("disk unavailable")
	}
	return f.Store.Update(fn)
}

func dlqBus(t *testing.T, be backend, st store.Store, attempts int) *core.Bus {
	t.Helper()
	return busOn(t, be, st,
		core.WithRetry(core.RetryPolicy{MaxAttempts: attempts, Base: time.Second, Max: 4 * time.Second}),
		core.WithBreaker(core.BreakerPolicy{Threshold: 0}))
}

// ACCEPTANCE 18: a failing handler is retried with delays
// base*2^n*jitter(0.5..1.5), capped; after max attempts the message is in
// the DLQ with its provenance, the error capped and redacted, and times.
func TestRetryThenDeadLetter(t *testing.T) {
	inBubbles(t, func(t *testing.T, be backend) {
		b := dlqBus(t, be, nil, 4)
		ctx := context.Background()
		var mu sync.Mutex
		var calls []time.Time
		secret := "token=abc123 " + strings.Repeat("x", 600)
		if _, err := b.Subscribe(ctx, "onex.evt.billing.paid.v1", "g", func(context.Context, *core.Message) error {
			mu.Lock()
			calls = append(calls, time.Now())
			mu.Unlock()
			return errors.New(secret)
		}); err != nil {
			t.Fatal(err)
		}
		cid := uuid.New()
		m := &core.Message{Topic: "onex.evt.billing.paid.v1", Key: []byte("k1"), Value: []byte("v1")}
		m.Headers.CorrelationID = cid
		if _, err := b.Publish(ctx, m); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		mu.Lock()
		if len(calls) != 4 {
			t.Fatalf("handler ran %d times, want 4", len(calls))
		}
		for i := 1; i < len(calls); i++ {
			d := calls[i].Sub(calls[i-1])
			base := time.Second << (i - 1)
			lo, hi := base/2, min(base*3/2, 4*time.Second)
			if d < lo || d > hi {
				t.Errorf("delay %d = %v, want within [%v, %v]", i, d, lo, hi)
			}
		}
		mu.Unlock()
		letters, err := b.DeadLetters().List(ctx, dlq.Filter{Limit: dlq.All})
		if err != nil || len(letters) != 1 {
			t.Fatalf("dead letters %v, %v", letters, err)
		}
		l := letters[0]
		if l.Topic != m.Topic || l.Partition != 0 || l.Offset != 0 || string(l.Key) != "k1" || string(l.Value) != "v1" ||
			l.Group != "g" || l.Attempts != 4 || l.FirstFailure.IsZero() || !l.LastFailure.After(l.FirstFailure) {
			t.Fatalf("letter %+v", l)
		}
		if strings.Contains(l.Error, "abc123") || len([]rune(l.Error)) > 500+20 {
			t.Fatalf("error not redacted or capped: %d runes %q", len([]rune(l.Error)), l.Error[:40])
		}
		hasCID := false
		for _, h := range l.Headers {
			if h.Key == "correlation_id" && h.Value == cid.String() {
				hasCID = true
			}
		}
		if !hasCID {
			t.Fatalf("letter lost the correlation_id: %v", l.Headers)
		}
		// Also published to the DLQ topic, with provenance.
		hist, err := b.History(ctx, "onex.dlq.billing.evt.v1", 10)
		if err != nil || len(hist) != 1 || hist[0].Headers.CorrelationID != cid {
			t.Fatalf("DLQ topic: %v, %v", hist, err)
		}
		if off, _, _ := b.CommittedOffset("g", m.Topic, 0); off != 1 {
			t.Fatalf("cursor %d after dead-lettering, want 1", off)
		}
	})
}

// ACCEPTANCE 19: a permanent error skips the retries.
func TestPermanentErrorDeadLettersAtOnce(t *testing.T) {
	inBubbles(t, func(t *testing.T, be backend) {
		b := dlqBus(t, be, nil, 10)
		ctx := context.Background()
		var calls atomic.Int32
		if _, err := b.Subscribe(ctx, "t1", "g", func(context.Context, *core.Message) error {
			calls.Add(1)
			return core.Permanent(errors.New("bad payload"))
		}); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Publish(ctx, msg("t1", "x")); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if n := calls.Load(); n != 1 {
			t.Fatalf("handler ran %d times, want 1", n)
		}
		if n, _ := b.DeadLetters().Count(ctx); n != 1 {
			t.Fatalf("%d dead letters, want 1", n)
		}
		if hist, _ := b.History(ctx, core.DefaultDeadLetterTopic, 10); len(hist) != 1 {
			t.Fatalf("%d messages on the default DLQ topic, want 1", len(hist))
		}
	})
}

// ACCEPTANCE 25: a DLQ write that fails holds the cursor; the message is
// retried later and never skipped.
func TestFailedDeadLetterWriteHoldsCursor(t *testing.T) {
	inBubbles(t, func(t *testing.T, be backend) {
		st := &flakyStore{Store: be.open(t, t.TempDir())}
		b := dlqBus(t, be, st, 1)
		ctx := context.Background()
		// The handler takes the store down as it fails, so the dead-letter
		// write that follows fails too, until the test brings it back.
		if _, err := b.Subscribe(ctx, "t1", "g", func(context.Context, *core.Message) error {
			st.down.Store(true)
			return errors.New("always")
		}); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Publish(ctx, msg("t1", "x")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if off, _, _ := b.CommittedOffset("g", "t1", 0); off != 0 {
			t.Fatalf("cursor %d moved past a message the DLQ did not take", off)
		}
		st.down.Store(false)
		time.Sleep(time.Minute)
		synctest.Wait()
		if n, _ := b.DeadLetters().Count(ctx); n != 1 {
			t.Fatalf("%d dead letters after the store came back, want 1", n)
		}
		if off, _, _ := b.CommittedOffset("g", "t1", 0); off != 1 {
			t.Fatalf("cursor %d, want 1", off)
		}
	})
}

// ACCEPTANCE 26: replay sends the chosen dead letters back, to the
// original topic or to one group only, provenance in headers, and removes
// them only once re-published.
func TestReplayDeadLetters(t *testing.T) {
	for _, toGroup := range []string{"", "fixed"} {
		name := map[string]string{"": "to the topic", "fixed": "to one group"}[toGroup]
		t.Run(name, func(t *testing.T) {
			inBubbles(t, func(t *testing.T, be backend) {
				b := dlqBus(t, be, nil, 1)
				ctx := context.Background()
				var healthy atomic.Bool
				got := map[string]chan *core.Message{"fixed": make(chan *core.Message, 10), "other": make(chan *core.Message, 10)}
				for g, ch := range got {
					if _, err := b.Subscribe(ctx, "t1", g, func(_ context.Context, m *core.Message) error {
						if g == "fixed" && !healthy.Load() {
							return errors.New("bug")
						}
						ch <- m
						return nil
					}); err != nil {
						t.Fatal(err)
					}
				}
				if _, err := b.Publish(ctx, msg("t1", "x")); err != nil {
					t.Fatal(err)
				}
				synctest.Wait()
				<-got["other"]
				if n, _ := b.DeadLetters().Count(ctx); n != 1 {
					t.Fatalf("%d dead letters, want 1", n)
				}
				healthy.Store(true)
				n, err := b.ReplayDeadLetters(ctx, dlq.Filter{Limit: dlq.All}, dlq.ReplayOptions{ToGroup: toGroup})
				if err != nil || n != 1 {
					t.Fatalf("replayed %d, %v", n, err)
				}
				synctest.Wait()
				m := <-got["fixed"]
				if string(m.Value) != "x" || m.Offset != 1 {
					t.Fatalf("replayed message %q at %d", m.Value, m.Offset)
				}
				prov := map[string]string{}
				for _, h := range m.Headers.Extra {
					prov[h.Key] = h.Value
				}
				if prov[core.HeaderDLQOriginalTopic] != "t1" || prov[core.HeaderDLQOriginalOffset] != "0" || prov[core.HeaderDLQGroup] != "fixed" {
					t.Fatalf("provenance %v", prov)
				}
				select {
				case m := <-got["other"]:
					if toGroup != "" {
						t.Fatalf("group other got the replay meant for %s: %q", toGroup, m.Value)
					}
				default:
					if toGroup == "" {
						t.Fatal("a replay to the topic did not reach group other")
					}
				}
				if n, _ := b.DeadLetters().Count(ctx); n != 0 {
					t.Fatalf("%d dead letters left after replay", n)
				}
			})
		})
	}
}
