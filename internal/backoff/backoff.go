// Package backoff computes the one jittered exponential backoff that
// every retry loop of onexbus uses: the delay before retry n (from 0) is
// base * 2^n, scaled by a random factor in [0.5, 1.5), and never more
// than max.
//
// # Why jitter
//
// Many loops that fail at once (every partition of a topic when Kafka goes
// away, every group when the disk fills) would otherwise retry in step and
// hit the recovering resource together; the factor spreads them over the
// window. The cap applies after the factor, so max is a true upper bound.
package backoff

import (
	"math/rand/v2"
	"time"
)

// Delay returns how long to wait before retry n (from 0): base * 2^n
// scaled by a random factor in [0.5, 1.5), capped at max. A negative n is
// taken as 0; base <= 0 gives 0; max below base caps at max. It never
// overflows, whatever n is, and is safe for concurrent use.
func Delay(base, max time.Duration, n int) time.Duration {
	return delay(base, max, n, rand.Float64())
}

// delay is Delay with the random factor's source f in [0, 1).
func delay(base, max time.Duration, n int, f float64) time.Duration {
	if base <= 0 || max <= 0 {
		return 0
	}
	d := Exp(base, max, n)
	d = time.Duration(float64(d) * (0.5 + f))
	return min(d, max)
}

// Exp returns base * 2^n capped at max, without jitter (n < 0 is 0). It
// never overflows.
func Exp(base, max time.Duration, n int) time.Duration {
	if base <= 0 {
		return 0
	}
	if base >= max {
		return max
	}
	n = min(n, 62)
	for ; n > 0; n-- {
		if base >= max/2 {
			return max
		}
		base *= 2
	}
	return base
}
