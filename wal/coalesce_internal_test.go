package wal

import (
	"testing"
	"testing/synctest"
	"time"
)

// waitFor runs c.wait on its own goroutine once the appends in before
// are queued, then queues after appends, and returns how long the wait
// took on the bubble's clock (which only moves when every goroutine is
// blocked, so a wait that ends on its count takes 0).
func waitFor(t *testing.T, c *coalescer, before, after int) time.Duration {
	t.Helper()
	for range before {
		c.appended()
	}
	stop := make(chan struct{})
	done := make(chan time.Duration)
	go func() {
		t0 := time.Now()
		c.wait(stop)
		done <- time.Since(t0)
	}()
	synctest.Wait() // the committer is blocked in wait (or done)
	for range after {
		c.appended()
	}
	return <-done
}

// cycle makes c look as if its last commit held held appends, ran for
// took, and saw during appends queue meanwhile.
func cycle(c *coalescer, held, during int, took time.Duration) {
	c.queued.Store(int64(held))
	c.take()
	for range during {
		c.appended()
	}
	c.committed(took)
}

// TestCoalescerEndsWhenEveryAppenderIsBack: after a commit that held 16
// synchronous appends, the committer, woken by the first appender back,
// waits for the other 15 and no longer: it is not waiting for the
// first one a second time (a wait that timed out on every commit once
// all 16 shared one, the idle-machine loss of the first version).
func TestCoalescerEndsWhenEveryAppenderIsBack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var c coalescer
		c.init(time.Millisecond)
		cycle(&c, 16, 0, 600*time.Microsecond)
		if took := waitFor(t, &c, 1, 15); took != 0 {
			t.Fatalf("wait took %v with every appender back, want 0", took)
		}
		if got := c.queued.Load(); got != 16 {
			t.Fatalf("queued %d, want 16", got)
		}
		// Those queued while the commit ran count as appenders too.
		cycle(&c, 10, 6, 600*time.Microsecond)
		if took := waitFor(t, &c, 0, 10); took != 0 {
			t.Fatalf("wait took %v with 10 held and 6 queued back, want 0", took)
		}
	})
}

// TestCoalescerBoundAndBackoff: an appender that does not come back
// costs the wait its bound (half the last commit, at most the maximum);
// the waits after a timeout are skipped, twice as many after each
// timeout in a row, and one that fills resets that.
func TestCoalescerBoundAndBackoff(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var c coalescer
		c.init(time.Millisecond)
		cycle(&c, 4, 0, 600*time.Microsecond)
		if took := waitFor(t, &c, 1, 2); took != 300*time.Microsecond {
			t.Fatalf("wait took %v with one appender missing, want 300µs (half the commit)", took)
		}
		cycle(&c, 3, 0, 4*time.Millisecond)
		if took := waitFor(t, &c, 0, 0); took != 0 {
			t.Fatalf("wait after a timeout took %v, want 0 (skipped)", took)
		}
		cycle(&c, 3, 0, 4*time.Millisecond)
		if took := waitFor(t, &c, 0, 2); took != time.Millisecond {
			t.Fatalf("wait took %v, want the 1ms maximum", took)
		}
		for i := range 2 { // the second timeout in a row skips two
			cycle(&c, 3, 0, 4*time.Millisecond)
			if took := waitFor(t, &c, 0, 0); took != 0 {
				t.Fatalf("wait %d after two timeouts took %v, want 0 (skipped)", i, took)
			}
		}
		cycle(&c, 3, 0, 4*time.Millisecond)
		if took := waitFor(t, &c, 0, 3); took != 0 {
			t.Fatalf("wait took %v with every appender back, want 0", took)
		}
		cycle(&c, 3, 0, 4*time.Millisecond)
		if took := waitFor(t, &c, 0, 2); took != time.Millisecond {
			t.Fatalf("wait after a filled one took %v, want 1ms (not skipped)", took)
		}
		cycle(&c, 3, 0, 4*time.Millisecond)
		if took := waitFor(t, &c, 0, 0); took != 0 {
			t.Fatalf("wait after a timeout took %v, want 0 (one skipped again)", took)
		}
	})
}

// TestCoalescerSingleAppenderNeverWaits: a commit of one synchronous
// append (or none) is followed by no wait, and WithCommitWait(0) never
// waits.
func TestCoalescerSingleAppenderNeverWaits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var c coalescer
		c.init(time.Millisecond)
		cycle(&c, 1, 0, 600*time.Microsecond)
		if took := waitFor(t, &c, 0, 0); took != 0 {
			t.Fatalf("wait after a one-append commit took %v, want 0", took)
		}
		var off coalescer
		off.init(0)
		cycle(&off, 16, 0, 600*time.Microsecond)
		if took := waitFor(t, &off, 0, 0); took != 0 {
			t.Fatalf("wait with WithCommitWait(0) took %v, want 0", took)
		}
	})
}
