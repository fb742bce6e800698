package backoff

import (
	"math"
	"testing"
	"time"
)

// TestDelayBounds checks the schedule base*2^n*jitter(0.5..1.5), capped,
// at the jitter's extremes and in between, including n far past overflow.
func TestDelayBounds(t *testing.T) {
	const base, max = time.Second, 30 * time.Second
	tests := []struct {
		n      int
		lo, hi time.Duration // the delay lies in [lo, hi]
	}{
		{-1, 500 * time.Millisecond, 1500 * time.Millisecond},
		{0, 500 * time.Millisecond, 1500 * time.Millisecond},
		{1, time.Second, 3 * time.Second},
		{3, 4 * time.Second, 12 * time.Second},
		{4, 8 * time.Second, max},  // 16s*1.5 = 24s, under the cap
		{5, 15 * time.Second, max}, // 32s capped to 30s before the jitter
		{62, 15 * time.Second, max},
		{63, 15 * time.Second, max},
		{math.MaxInt, 15 * time.Second, max},
	}
	for _, tt := range tests {
		for _, f := range []float64{0, 0.25, 0.5, 0.999999} {
			d := delay(base, max, tt.n, f)
			if d < tt.lo || d > tt.hi {
				t.Errorf("delay(n=%d, f=%v) = %v, want in [%v, %v]", tt.n, f, d, tt.lo, tt.hi)
			}
		}
		if d := Delay(base, max, tt.n); d < tt.lo || d > tt.hi {
			t.Errorf("Delay(n=%d) = %v, want in [%v, %v]", tt.n, d, tt.lo, tt.hi)
		}
	}
}

func TestExp(t *testing.T) {
	tests := []struct {
		base, max time.Duration
		n         int
		want      time.Duration
	}{
		{time.Second, time.Minute, 0, time.Second},
		{time.Second, time.Minute, 5, 32 * time.Second},
		{time.Second, time.Minute, 6, time.Minute},
		{time.Second, time.Minute, 1000, time.Minute},
		{time.Minute, time.Second, 0, time.Second},
		{0, time.Second, 3, 0},
		{time.Duration(math.MaxInt64 / 3), time.Duration(math.MaxInt64), 2, time.Duration(math.MaxInt64)},
	}
	for _, tt := range tests {
		if got := Exp(tt.base, tt.max, tt.n); got != tt.want {
			t.Errorf("Exp(%v, %v, %d) = %v, want %v", tt.base, tt.max, tt.n, got, tt.want)
		}
	}
}

func TestDelayDegenerate(t *testing.T) {
	if d := Delay(0, time.Second, 1); d != 0 {
		t.Errorf("base 0: %v, want 0", d)
	}
	if d := Delay(time.Second, 0, 1); d != 0 {
		t.Errorf("max 0: %v, want 0", d)
	}
	if d := Delay(time.Minute, time.Second, 0); d > time.Second || d < time.Second/2 {
		t.Errorf("max below base: %v, want in [0.5s, 1s]", d)
	}
}

func BenchmarkDelay(b *testing.B) {
	n := 0
	for b.Loop() {
		_ = Delay(time.Millisecond, time.Minute, n&31)
		n++
	}
}
