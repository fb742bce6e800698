package clockjump_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/internal/testutil"
)

// clock is a settable wall clock.
type clock struct {
	mu  sync.Mutex // protects now
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) jump(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func open(t *testing.T, dir string, clk *clock, opts ...core.Option) *core.Bus {
	t.Helper()
	bus, err := core.New(append([]core.Option{core.WithDataDir(dir), core.WithClock(clk.Now)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bus.Close(context.Background()) })
	return bus
}

func publishID(t *testing.T, bus *core.Bus, topic string, id uuid.UUID) *core.Message {
	t.Helper()
	m := &core.Message{Topic: topic, Value: []byte(id.String())}
	m.Headers.MessageID = id
	if _, err := bus.Publish(context.Background(), m); err != nil {
		t.Fatalf("publish %s: %v", id, err)
	}
	return m
}

// TestDedupWindowClockJumps: a message_id seen at T stays a duplicate
// when the clock jumps back an hour (a back jump never expires an entry
// early), expires once the clock is past T+window, and the copy stored
// then is the one later duplicates point at, across a restart too. A
// distinct id is never taken for a duplicate whatever the clock does.
func TestDedupWindowClockJumps(t *testing.T) {
	const topic = "clock-dedup"
	dir := t.TempDir()
	clk := newClock()
	bus := open(t, dir, clk, core.WithDedup(time.Minute, 1000))
	a := uuid.New()
	if m := publishID(t, bus, topic, a); m.Duplicate || m.Offset != 0 {
		t.Fatalf("first copy: duplicate=%v offset %d", m.Duplicate, m.Offset)
	}
	clk.jump(-time.Hour)
	if m := publishID(t, bus, topic, a); !m.Duplicate || m.Offset != 0 {
		t.Fatalf("after a jump back of 1h: duplicate=%v offset %d, want the first copy (0)", m.Duplicate, m.Offset)
	}
	if m := publishID(t, bus, topic, uuid.New()); m.Duplicate {
		t.Fatal("after a jump back: a new id taken for a duplicate")
	}
	clk.jump(3 * time.Hour) // T+2h: past the window
	m := publishID(t, bus, topic, a)
	if m.Duplicate {
		t.Fatal("2h after the first copy (window 1m): still a duplicate")
	}
	second := m.Offset
	clk.jump(-2 * time.Hour) // back to T
	if m := publishID(t, bus, topic, a); !m.Duplicate || m.Offset != second {
		t.Fatalf("back at T: duplicate=%v offset %d, want the copy at %d", m.Duplicate, m.Offset, second)
	}
	if err := bus.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	bus = open(t, dir, clk, core.WithDedup(time.Minute, 1000))
	if m := publishID(t, bus, topic, a); !m.Duplicate || m.Offset != second {
		t.Fatalf("after restart: duplicate=%v offset %d, want the copy at %d", m.Duplicate, m.Offset, second)
	}
	if end, _ := bus.EndOffset(topic, 0); end != 3 {
		t.Fatalf("end offset %d, want 3 (a, b, a again)", end)
	}
}

// TestRetentionByAgeClockJumps: retention by age follows the clock
// forward (records older than MaxAge by the new time go) and a jump back
// drops nothing published after it, nor the records stamped in the
// "future" before it.
func TestRetentionByAgeClockJumps(t *testing.T) {
	const topic = "clock-age"
	clk := newClock()
	bus := open(t, t.TempDir(), clk, core.WithTopic(topic, core.TopicConfig{Partitions: 1, Retention: core.Retention{MaxAge: time.Minute}}))
	for range 5 {
		publishID(t, bus, topic, uuid.New())
	}
	clk.jump(2 * time.Hour)
	future := publishID(t, bus, topic, uuid.New())
	start, err := bus.StartOffset(topic, 0)
	if err != nil {
		t.Fatal(err)
	}
	if start != future.Offset {
		t.Fatalf("2h later (max age 1m): log starts at %d, want %d (the 5 old records gone)", start, future.Offset)
	}
	clk.jump(-3 * time.Hour) // an hour before the first records
	var kept []int64
	for range 3 {
		kept = append(kept, publishID(t, bus, topic, uuid.New()).Offset)
	}
	msgs, err := bus.History(context.Background(), topic, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 4 || msgs[0].Offset != future.Offset || msgs[3].Offset != kept[2] {
		var offs []int64
		for _, m := range msgs {
			offs = append(offs, m.Offset)
		}
		t.Fatalf("after a jump back: history offsets %v, want %d and %v", offs, future.Offset, kept)
	}
}

// TestRetryClockJumps: the clock jumps an hour back, then two forward,
// at each failed attempt; retries still come after their delay in real
// time (timers, not the wall clock), the message is delivered on the
// third attempt and attempts are counted right (no attempt burned or
// skipped by a jump).
func TestRetryClockJumps(t *testing.T) {
	const topic = "clock-retry"
	clk := newClock()
	bus := open(t, t.TempDir(), clk, core.WithRetry(core.RetryPolicy{MaxAttempts: 5, Base: 10 * time.Millisecond, Max: 50 * time.Millisecond}))
	var calls atomic.Int32
	done := make(chan int, 1)
	jumps := []time.Duration{-time.Hour, 2 * time.Hour}
	_, err := bus.Subscribe(context.Background(), topic, "g", func(ctx context.Context, m *core.Message) error {
		n := int(calls.Add(1))
		if n <= len(jumps) {
			clk.jump(jumps[n-1])
			return errors.New("fail once more")
		}
		info, _ := core.Delivery(ctx)
		done <- info.Attempt
		return nil
	}, core.SubscribeStart(core.StartEarliest))
	if err != nil {
		t.Fatal(err)
	}
	publishID(t, bus, topic, uuid.New())
	select {
	case attempt := <-done:
		if attempt != 3 || calls.Load() != 3 {
			t.Fatalf("delivered on attempt %d after %d calls, want 3 and 3", attempt, calls.Load())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("not delivered within 30s of real time after clock jumps (%d calls)", calls.Load())
	}
}

// breakerJumps jumps the clock at each opening of a breaker (after the
// breaker noted when it opened) and records the real time of each.
type breakerJumps struct {
	clk   *clock
	jumps []time.Duration
	mu    sync.Mutex // protects opened
	// opened holds the monotonic time of each opening.
	opened []time.Time
}

func (h *breakerJumps) OnBreakerTransition(ev core.BreakerEvent) {
	if ev.To != core.BreakerOpen {
		return
	}
	h.mu.Lock()
	n := len(h.opened)
	h.opened = append(h.opened, time.Now())
	h.mu.Unlock()
	if n < len(h.jumps) {
		h.clk.jump(h.jumps[n])
	}
}

func (h *breakerJumps) openedAt(i int) time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	if i >= len(h.opened) {
		return time.Time{}
	}
	return h.opened[i]
}

// TestBreakerClockJumps: the wall clock jumps an hour back while the
// subscriber's breaker is open, then two hours forward while it is open
// again. The open wait is elapsed time: the probe comes ResetTimeout
// after each opening, not an hour later after the back jump (the wait
// measured on the wall clock would be 1h0m0.2s) and not at once after
// the forward jump (the wait would be negative).
func TestBreakerClockJumps(t *testing.T) {
	const (
		topic = "clock-breaker"
		reset = 200 * time.Millisecond
		// slack covers the moments between the breaker noting its
		// opening and the hook recording it.
		slack = 50 * time.Millisecond
	)
	clk := newClock()
	hook := &breakerJumps{clk: clk, jumps: []time.Duration{-time.Hour, 2 * time.Hour}}
	bus := open(t, t.TempDir(), clk,
		core.WithBreaker(core.BreakerPolicy{Threshold: 1, ResetTimeout: reset}),
		core.WithRetry(core.RetryPolicy{MaxAttempts: 5, Base: time.Millisecond, Max: time.Millisecond}),
		core.WithHooks(hook))
	calls := make(chan time.Time, 8)
	var n atomic.Int32
	_, err := bus.Subscribe(context.Background(), topic, "g", func(ctx context.Context, m *core.Message) error {
		calls <- time.Now()
		if n.Add(1) <= 2 {
			return errors.New("down")
		}
		return nil
	}, core.SubscribeStart(core.StartEarliest))
	if err != nil {
		t.Fatal(err)
	}
	publishID(t, bus, topic, uuid.New())
	var at []time.Time
	for len(at) < 3 {
		select {
		case c := <-calls:
			at = append(at, c)
		case <-time.After(30 * time.Second):
			t.Fatalf("%d handler calls within 30s of real time, want 3: the open wait followed the clock's jump back", len(at))
		}
	}
	for i, what := range []string{"an hour back", "two hours forward"} {
		opened := hook.openedAt(i)
		if opened.IsZero() {
			t.Fatalf("breaker opened fewer than %d times", i+1)
		}
		if waited := at[i+1].Sub(opened); waited < reset-slack {
			t.Fatalf("after a jump %s: the probe came %v after the breaker opened, want at least %v", what, waited, reset)
		}
	}
	// The engine records the probe's success after the handler returns,
	// so the breaker closes shortly after the third call is seen here.
	testutil.Eventually(t, 10*time.Second, func() bool {
		got := bus.Health().Breakers
		return len(got) == 1 && got[0].State == core.BreakerClosed
	}, "one breaker, closed, after the good probe")
}
