package wal

import (
	"math"
	"sync/atomic"
	"time"
)

// Group commit that fills (see the package doc, Durability).
//
// Without a wait, a committer serving N synchronous appenders settles
// into commits of about N/2: the appenders a commit releases come back
// while the next commit, started at once with those that queued during
// the previous one, is already running. So after a commit that held
// several synchronous appends, the committer waits, blocked on a
// channel, until every appender of that cycle is queued again (those it
// held plus those that queued while it ran), or for at most
// coalesceShare of the last commit's duration, capped at WithCommitWait
// (default 1 ms). When the appenders come back (a closed loop of
// publishers) the wait ends with the last of them, tens of microseconds
// after the release, and the next commit holds all N. When one does not
// (it stopped, or publishes on its own schedule) the wait costs its
// bound once, and the next waits are skipped, twice as many after each
// timeout in a row (at most 64): an open loop pays the bound on a few
// commits in a hundred, never on every commit.
//
// The first version (session 3) counted the appends queued by the time
// the wait started into the target: the first appender back was counted
// twice, so once one commit held all N the target was N+1, every wait
// ran to its bound, and on an idle machine the wait cost 15-25% (16
// synchronous publishers 7.7k against 9.1-10.7k msgs/s without it). A
// trace of that version: the 16 appenders were back 100-200 µs after the
// release, the commit started 1.2 ms after it.
//
// Measured against 6293fb1 built from its own tree, interleaved rounds,
// on the shared 2-core machine (load average 8-22; no idle window):
// bench BenchmarkDurable sys=onexbus pubs=16 (the bench-report row),
// 20,000 messages, msgs/s 1.82x [1.82, 3.33, 1.47] at load 8; messages a
// commit (core's commit counter) 8.1 at 6293fb1, 13.7-15.4 with this
// wait; 64 publishers 32 -> 43-54 a commit, 1.66-3.25x msgs/s; one
// publisher 0.98-1.19x (it never waits), one with a subscriber
// 1.48-1.63x (one commit per Append). CPU is about 9% of a core at 16
// publishers and the mutex profile holds 0.1 s in 3 s: the publishers
// wait on the disk, not on a lock.

const (
	// coalesceMinHeld is the fewest synchronous appends a commit must
	// hold for the next one to wait: a single appender (with or without
	// a subscriber) never waits.
	coalesceMinHeld = 2
	// coalesceShare is the longest wait as a fraction of the last commit.
	coalesceShare = 0.5
	// coalesceMaxBackoff bounds the commits skipped after a wait that
	// timed out: 1<<coalesceMaxBackoff.
	coalesceMaxBackoff = 6
	// maxCommitWait is the largest WithCommitWait accepts.
	maxCommitWait = 10 * time.Millisecond
)

// DefaultCommitWait is WithCommitWait's default: the longest the
// committer waits for the synchronous appenders it released.
const DefaultCommitWait = time.Millisecond

// coalescer is the committer's view of the synchronous appenders. queued
// and target are shared with appenders; the rest is the committer's own.
type coalescer struct {
	// queued counts synchronous appends queued since the last commit took
	// the tails (Append under PolicySync).
	queued atomic.Int64
	// target is the count at which an appender wakes a waiting committer;
	// MaxInt64 when it is not waiting.
	target atomic.Int64
	ready  chan struct{} // buffer 1: an appender reached target
	timer  *time.Timer   // the committer's, reused

	held    int64         // synchronous appends the last commit took
	during  int64         // synchronous appends queued while it ran
	took    time.Duration // how long the last commit's store transaction ran
	maxWait time.Duration // WithCommitWait; 0 never waits
	skip    int           // waits still skipped after one timed out
	backoff int           // the next timeout skips 1<<backoff waits
}

func (c *coalescer) init(maxWait time.Duration) {
	c.maxWait = maxWait
	c.target.Store(math.MaxInt64)
	c.ready = make(chan struct{}, 1)
	c.timer = time.NewTimer(time.Hour)
	c.timer.Stop()
}

// appended counts one synchronous append queued and wakes the committer
// if it waits for this many.
func (c *coalescer) appended() {
	if c.queued.Add(1) >= c.target.Load() {
		select {
		case c.ready <- struct{}{}:
		default:
		}
	}
}

// take is called by the commit as it takes the tails: the appends queued
// so far are the ones it holds.
func (c *coalescer) take() { c.held = c.queued.Swap(0) }

// committed records the duration of a commit that held c.held appends,
// and how many queued while it ran. It is called before the commit
// releases its appenders: those queued by then are not any of them.
func (c *coalescer) committed(took time.Duration) {
	c.took = took
	c.during = c.queued.Load()
}

// wait blocks the committer before a commit until every synchronous
// appender of the last cycle is queued again, the bound passes, or stop
// closes. It returns at once unless a wait is configured, the last
// commit held at least coalesceMinHeld appends and no recent wait timed
// out.
//
// The appenders of the last cycle are those its commit held (it released
// them) and those that queued while it ran (not held by it, so not the
// same appenders): when as many appends are queued as those two counts
// together, every one of them is back. Counting the appends queued by
// the time the wait starts instead would count the first appender back
// twice and wait for one that cannot come.
func (c *coalescer) wait(stop <-chan struct{}) {
	if c.maxWait <= 0 || c.held < coalesceMinHeld {
		return
	}
	if c.skip > 0 {
		c.skip--
		return
	}
	d := min(time.Duration(float64(c.took)*coalesceShare), c.maxWait)
	if d <= 0 {
		return
	}
	want := c.held + c.during
	select {
	case <-c.ready: // a stale wake-up from an earlier wait
	default:
	}
	c.target.Store(want)
	defer c.target.Store(math.MaxInt64)
	if c.queued.Load() >= want {
		c.backoff = 0
		return
	}
	c.timer.Reset(d)
	defer c.timer.Stop()
	select {
	case <-c.ready:
		c.backoff = 0
	case <-c.timer.C:
		// An appender did not come back (it stopped, or it publishes on
		// its own schedule): waiting again for the same count would cost
		// every commit the bound. Skip the next waits, twice as many
		// after each timeout in a row.
		c.skip = 1 << c.backoff
		c.backoff = min(c.backoff+1, coalesceMaxBackoff)
	case <-stop:
	}
}
