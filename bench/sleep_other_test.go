//go:build !linux

package bench

import "time"

// newSleeper returns the open-loop scheduler's sleep: time.Sleep, whose
// wake-up slack (it counts in the latency) the bare channel's rows show.
func newSleeper() (sleep func(time.Duration) error, release func() error, err error) {
	return func(d time.Duration) error { time.Sleep(d); return nil }, func() error { return nil }, nil
}

// baselineSleepers: none outside Linux (BenchmarkSleeper).
func baselineSleepers() []namedSleeper { return nil }
