//go:build !linux

package bench

import "time"

// newSleeper returns the open-loop scheduler's sleep: time.Sleep, whose
// wake-up slack (it counts in the latency) the bare channel's rows show.
func newSleeper() func(time.Duration) { return time.Sleep }
