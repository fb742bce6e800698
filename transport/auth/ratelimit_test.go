package auth

import (
	"fmt"
	"math"
	"testing"
	"time"
)

// fakeClock is a settable clock for the limiter.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time      { return c.t }
func (c *fakeClock) add(d time.Duration) { c.t = c.t.Add(d) }
func limiterAt(c *fakeClock, perSecond float64, burst int) *RateLimiter {
	l := NewRateLimiter(perSecond, burst)
	l.now = c.now
	return l
}

// TestRateLimiterReserve: a burst is let through, the next request is
// refused with the time until a token, nothing is taken by a refusal, and
// a client that waits that long is let in.
func TestRateLimiterReserve(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1000, 0)}
	l := limiterAt(clk, 10, 3)
	for i := range 3 {
		if d := l.Reserve("alice"); d != 0 {
			t.Fatalf("request %d of the burst delayed %v", i, d)
		}
	}
	d := l.Reserve("alice")
	if d != 100*time.Millisecond {
		t.Fatalf("over the burst: delay %v, want 100ms", d)
	}
	if again := l.Reserve("alice"); again != d {
		t.Fatalf("a refused request took a token: %v then %v", d, again)
	}
	if other := l.Reserve("bob"); other != 0 {
		t.Fatalf("bob limited by alice's requests: %v", other)
	}
	clk.add(d)
	if got := l.Reserve("alice"); got != 0 {
		t.Fatalf("after waiting the delay: %v", got)
	}
}

// TestRateLimiterTake: Take charges every request (debt), the throttle
// grows with the debt up to the cap, and one request per 1/rate is what a
// client that honours the throttle gets.
func TestRateLimiterTake(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1000, 0)}
	l := limiterAt(clk, 4, 2)
	if l.Take("p") != 0 || l.Take("p") != 0 {
		t.Fatal("burst throttled")
	}
	want := []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, 500 * time.Millisecond}
	for i, w := range want {
		if got := l.Take("p"); got != w {
			t.Fatalf("take %d over the burst: %v, want %v (debt capped at the burst)", i, got, w)
		}
	}
	clk.add(500 * time.Millisecond)
	if got := l.Take("p"); got != 250*time.Millisecond {
		t.Fatalf("after paying the debt: %v, want 250ms", got)
	}
}

func TestRateLimiterUnlimitedAndNil(t *testing.T) {
	var nilL *RateLimiter
	if nilL.Reserve("x") != 0 || nilL.Take("x") != 0 {
		t.Fatal("nil limiter limits")
	}
	nilL.Track("x")
	for _, r := range []float64{0, -1, math.NaN(), math.Inf(1)} {
		l := NewRateLimiter(r, 0)
		for range 100 {
			if l.Reserve("x") != 0 || l.Take("x") != 0 {
				t.Fatalf("rate %v limits", r)
			}
		}
	}
}

// TestRateLimiterMemoryBounded: made-up principals fill an LRU of
// bounded size; tracked principals keep their buckets through the flood.
func TestRateLimiterMemoryBounded(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1000, 0)}
	l := limiterAt(clk, 1, 1)
	l.Track("alice")
	if l.Reserve("alice") != 0 {
		t.Fatal("alice's first request refused")
	}
	for i := range 3 * maxTracked {
		l.Reserve(fmt.Sprintf("flood-%d", i))
	}
	if n := l.tracked(); n != maxTracked+1 {
		t.Fatalf("%d buckets after the flood, want %d", n, maxTracked+1)
	}
	if d := l.Reserve("alice"); d == 0 {
		t.Fatal("the flood reset alice's bucket")
	}
	// Untracking moves alice to the LRU with her balance.
	l.Track()
	if d := l.Reserve("alice"); d == 0 {
		t.Fatal("untracking reset alice's bucket")
	}
}
