package breaker

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

var errDown = errors.New("down")

func fail(t *testing.T, b *Breaker) {
	t.Helper()
	p, _, _ := b.Acquire()
	if !p.OK() {
		t.Fatalf("Acquire refused in state %v", b.State())
	}
	b.Release(p, false, errDown)
}

// TestThreeStates walks closed -> open -> half-open (one probe) -> open
// -> half-open -> closed on fake time.
func TestThreeStates(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := New(Policy{Threshold: 3, ResetTimeout: time.Minute})
		for range 2 {
			fail(t, b)
		}
		if s := b.Snapshot(); s.State != Closed || s.Failures != 2 {
			t.Fatalf("after 2 failures: %+v, want closed with 2 failures", s)
		}
		fail(t, b)
		if s := b.Snapshot(); s.State != Open || s.Opens != 1 {
			t.Fatalf("after 3 failures: %+v, want open once", s)
		}
		p, changed, wait := b.Acquire()
		if p.OK() || changed == nil || wait != time.Minute {
			t.Fatalf("open: pass %v wait %v, want refused for 1m", p.OK(), wait)
		}
		time.Sleep(time.Minute)
		probe, _, _ := b.Acquire()
		if !probe.OK() || !probe.Probe() || b.State() != HalfOpen {
			t.Fatalf("after reset timeout: pass %+v state %v, want the probe, half-open", probe, b.State())
		}
		if p, ch, wait := b.Acquire(); p.OK() || ch == nil || wait != 0 {
			t.Fatalf("second caller while probing: %+v, want refused with a channel", p)
		}
		b.Release(probe, false, errDown)
		if s := b.Snapshot(); s.State != Open || s.Opens != 2 {
			t.Fatalf("failed probe: %+v, want open twice", s)
		}
		time.Sleep(time.Minute)
		probe, _, _ = b.Acquire()
		b.Release(probe, true, nil)
		if s := b.Snapshot(); s.State != Closed || s.Failures != 0 {
			t.Fatalf("good probe: %+v, want closed with no failures", s)
		}
	})
}

// TestStalePassIgnored: calls let through while closed that report after
// the breaker opened neither close nor re-open it.
func TestStalePassIgnored(t *testing.T) {
	b := New(Policy{Threshold: 1, ResetTimeout: time.Hour})
	early, _, _ := b.Acquire()
	late, _, _ := b.Acquire()
	b.Release(early, false, errDown)
	b.Release(late, true, nil)
	if s := b.Snapshot(); s.State != Open || s.Opens != 1 {
		t.Fatalf("%+v, want open once: a stale success must not close it", s)
	}
}

// TestCancelFreesProbe: a probe that did not run lets the next caller be
// the probe, and wakes waiters.
func TestCancelFreesProbe(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := New(Policy{Threshold: 1, ResetTimeout: time.Second})
		fail(t, b)
		time.Sleep(time.Second)
		probe, _, _ := b.Acquire()
		_, changed, _ := b.Acquire()
		b.Cancel(probe)
		select {
		case <-changed:
		default:
			t.Fatal("Cancel did not wake the waiter")
		}
		if p, _, _ := b.Acquire(); !p.Probe() {
			t.Fatal("after Cancel the next caller is not the probe")
		}
	})
}

// TestWait blocks while open, returns the probe after the reset timeout,
// and gives up with the context.
func TestWait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := New(Policy{Threshold: 1, ResetTimeout: time.Minute})
		fail(t, b)
		start := time.Now()
		p, err := b.Wait(context.Background())
		if err != nil || !p.Probe() || time.Since(start) != time.Minute {
			t.Fatalf("Wait = %+v, %v after %v; want the probe after 1m", p, err, time.Since(start))
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if _, err := b.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Wait while probing = %v, want the context's error", err)
		}
		b.Release(p, true, nil)
		if p, err := b.Wait(context.Background()); err != nil || !p.OK() || p.Probe() {
			t.Fatalf("Wait when closed = %+v, %v", p, err)
		}
	})
}

// TestTripAndReset: Trip opens at once; ten concurrent Resets close it
// exactly once.
func TestTripAndReset(t *testing.T) {
	b := New(Policy{Threshold: 5, ResetTimeout: time.Hour})
	b.Trip(errDown)
	if s := b.Snapshot(); s.State != Open || s.Failures != 5 {
		t.Fatalf("after Trip: %+v, want open with threshold failures", s)
	}
	b.Trip(errDown)
	if s := b.Snapshot(); s.Opens != 1 {
		t.Fatalf("Trip of an open breaker opened it again: %+v", s)
	}
	var trues atomic.Int32
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			if b.Reset() {
				trues.Add(1)
			}
		})
	}
	wg.Wait()
	if n := trues.Load(); n != 1 || b.State() != Closed {
		t.Fatalf("%d Resets returned true, state %v; want 1, closed", n, b.State())
	}
}

// TestDisabled: threshold 0 never opens.
func TestDisabled(t *testing.T) {
	b := New(Policy{})
	for range 100 {
		fail(t, b)
	}
	b.Trip(errDown)
	if b.State() != Closed {
		t.Fatalf("disabled breaker is %v", b.State())
	}
}

// TestOnChangeUnlocked: the callback sees every change and may call the
// breaker (it runs without the lock).
func TestOnChangeUnlocked(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var got []Change
		var b *Breaker
		b = New(Policy{Threshold: 2, ResetTimeout: time.Second}, WithOnChange(func(c Change) {
			_ = b.Snapshot() // deadlocks if called with the lock held
			got = append(got, c)
		}))
		fail(t, b)
		fail(t, b)
		time.Sleep(time.Second)
		p, _, _ := b.Acquire()
		b.Release(p, true, nil)
		want := []Change{{Closed, Open, 2, errDown}, {Open, HalfOpen, 2, nil}, {HalfOpen, Closed, 0, nil}}
		if len(got) != len(want) {
			t.Fatalf("changes %+v, want %+v", got, want)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("change %d = %+v, want %+v", i, got[i], want[i])
			}
		}
	})
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		p    Policy
		errs int
	}{
		{"default-like", Policy{5, 30 * time.Second}, 0},
		{"disabled", Policy{}, 0},
		{"negative threshold", Policy{-1, time.Second}, 1},
		{"huge threshold", Policy{MaxThreshold + 1, time.Second}, 1},
		{"no timeout", Policy{1, 0}, 1},
		{"long timeout", Policy{1, 25 * time.Hour}, 1},
		{"both", Policy{-1, -1}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.p.Validate()
			if tt.errs == 0 {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidPolicy) {
				t.Fatalf("err = %v, want ErrInvalidPolicy", err)
			}
			if j, ok := err.(interface{ Unwrap() []error }); ok && len(j.Unwrap()) != tt.errs {
				t.Fatalf("err = %v, want %d problems", err, tt.errs)
			}
		})
	}
}

// The lock-free path of Acquire and of a success's Release (clean) keeps
// the breaker's counting: a success clears the run of failures that came
// before it and only that, a pass granted before the last state change
// counts for nothing (success or failure) even once the breaker is clean
// again, and concurrent calls leave it as the locked path would.
func TestCleanPathKeepsCounting(t *testing.T) {
	b := New(Policy{Threshold: 3, ResetTimeout: time.Minute})
	stale, _, _ := b.Acquire()
	fail(t, b)
	fail(t, b)
	p, _, _ := b.Acquire() // not clean: the locked path
	b.Release(p, true, nil)
	if s := b.Snapshot(); s.State != Closed || s.Failures != 0 {
		t.Fatalf("after 2 failures and a success: %+v", s)
	}
	fail(t, b)
	fail(t, b)
	if s := b.Snapshot(); s.State != Closed || s.Failures != 2 {
		t.Fatalf("after 2 more failures: %+v", s)
	}
	fail(t, b)
	if b.State() != Open {
		t.Fatalf("3 consecutive failures left the breaker %v", b.State())
	}
	b.Reset()
	for range 5 {
		b.Release(stale, false, errDown)
	}
	b.Release(stale, true, nil)
	if s := b.Snapshot(); s.State != Closed || s.Failures != 0 || s.Opens != 1 {
		t.Fatalf("a pass from before the open counted: %+v", s)
	}

	// 8 goroutines succeed; one more fails now and then, never 3 times
	// in a row with no success between on its own, yet the successes
	// interleave freely: the breaker must never open on fewer than 3
	// consecutive failures, and it ends with the failures after the
	// last success.
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 2000 {
				p, _, _ := b.Acquire()
				if !p.OK() {
					t.Error("refused while closed")
					return
				}
				b.Release(p, true, nil)
			}
		})
	}
	wg.Go(func() {
		for i := range 200 {
			p, _, _ := b.Acquire()
			b.Release(p, i%2 == 0, errDown)
		}
	})
	wg.Wait()
	if s := b.Snapshot(); s.State != Closed || s.Opens != 1 {
		t.Fatalf("after concurrent calls: %+v", s)
	}
	p, _, _ = b.Acquire()
	b.Release(p, true, nil)
	if s := b.Snapshot(); s.Failures != 0 {
		t.Fatalf("a success left %d failures", s.Failures)
	}
}

// BenchmarkAcquireRelease is a delivery's two calls on a closed breaker
// with no failure: the path every successful handler call takes.
func BenchmarkAcquireRelease(b *testing.B) {
	br := New(Policy{Threshold: 5, ResetTimeout: time.Second})
	for b.Loop() {
		p, _, _ := br.Acquire()
		br.Release(p, true, nil)
	}
}
