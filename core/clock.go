package core

import (
	"sync/atomic"
	"time"
)

// clockResync is how long the default clock derives the wall time from
// its base before it reads time.Now again: a step of the system clock
// shows in timestamps within this period, and between reads the wall
// time moves with the monotonic clock (they differ by the kernel's slew,
// at most 500 ppm: 0.5 µs over the period).
const clockResync = time.Millisecond

// wallClock is the bus's default clock (WithClock replaces it): time.Now
// at one clock read instead of two. time.Now reads the wall clock and
// the monotonic clock, each a vDSO call of ~50 ns on the virtual
// machines measured (kvm-clock), which was ~5% of a memory-bus publish;
// a reading here is its base time.Now plus the monotonic time since
// (time.Since reads only the monotonic clock), and the base is read
// again once it is older than clockResync. Readings carry a monotonic
// reading, as time.Now's do. Safe for concurrent use; the zero value is
// ready.
type wallClock struct {
	base atomic.Pointer[time.Time]
}

// now returns the current time.
func (c *wallClock) now() time.Time {
	if b := c.base.Load(); b != nil {
		if d := time.Since(*b); d >= 0 && d < clockResync {
			return b.Add(d)
		}
	}
	t := time.Now()
	c.base.Store(&t)
	return t
}
