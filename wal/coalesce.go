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
// the previous one, is already running. With WithCommitWait, after a
// commit that held several synchronous appends, the committer waits,
// blocked on a channel, until as many appends are queued as took part in
// the last cycle (those it held plus those that queued while it ran), or
// for at most coalesceShare of the last commit's duration, capped at the
// configured maximum: an appender that does not come back costs that
// much latency, never more.
//
// Waits tried (core BenchmarkDurableSyncPublish, 3 interleaved rounds,
// medians, load average 25-35 on 2 cores; messages per commit, which the
// load does not move, and msgs/s against the unmodified log of 6293fb1 in
// the same round, which it does):
//
//	wait (share of commit, cap, min held) 1 pub+sub  16 pubs        64 pubs        16 pubs+sub
//	none (6293fb1)                        0.68       8.0            31.7           8.0
//	1/4, 1 ms, 2                          1.0        14.7 (1.17x)   53.3 (1.19x)   14.2 (1.14x)
//	1/2, 1 ms, 2 (kept)                   1.0        14.8 (1.40x)   57.4 (0.96x)   14.1 (1.19x)
//	1/2, 2 ms, 2                          1.0        15.1 (1.18x)   57.1 (0.99x)   14.6 (1.43x)
//	1, 1 ms, 2                            1.0        15.0 (0.82x)   58.8 (1.02x)   14.5 (1.52x)
//	1/2, 1 ms, 4                          1.0        15.0 (1.07x)   56.6 (0.84x)   14.8 (1.64x)
//
// Every bound fills commits alike; the throughput ratios swing from 0.3x
// to 4x between rounds on that loaded machine. On the same machine idle
// (load 1, 3 rounds, 2 s each, msgs/s with the wait of half a commit at
// most 1 ms / without), 16 publishers ran 7,765 / 10,691, 7,721 / 9,122
// and 6,165 / 6,380, and 64 publishers 28,742 / 36,706, 28,943 / 37,169
// and 23,082 / 24,393: commits held twice the messages, but each took
// longer and the wait left the disk idle, so the default is no wait
// (WithCommitWait turns it on, bounded by coalesceShare of the last
// commit and the configured maximum).
const (
	// coalesceMinHeld is the fewest synchronous appends a commit must
	// hold for the next one to wait: a single appender (with or without
	// a subscriber) never waits.
	coalesceMinHeld = 2
	// coalesceShare is the wait as a fraction of the last commit.
	coalesceShare = 0.5
	// maxCommitWait is the largest WithCommitWait accepts.
	maxCommitWait = 10 * time.Millisecond
)

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
	took    time.Duration // how long the last commit's store transaction ran
	maxWait time.Duration // WithCommitWait; 0 never waits
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

// committed records the duration of a commit that held c.held appends.
func (c *coalescer) committed(took time.Duration) { c.took = took }

// wait blocks the committer before a commit until enough synchronous
// appends are queued, the bound passes, or stop closes. It returns at
// once unless a wait is configured and the last commit held at least
// coalesceMinHeld appends.
func (c *coalescer) wait(stop <-chan struct{}) {
	if c.maxWait <= 0 || c.held < coalesceMinHeld {
		return
	}
	d := min(time.Duration(float64(c.took)*coalesceShare), c.maxWait)
	if d <= 0 {
		return
	}
	want := c.held + c.queued.Load()
	select {
	case <-c.ready: // a stale wake-up from an earlier wait
	default:
	}
	c.target.Store(want)
	defer c.target.Store(math.MaxInt64)
	if c.queued.Load() >= want {
		return
	}
	c.timer.Reset(d)
	defer c.timer.Stop()
	select {
	case <-c.ready:
	case <-c.timer.C:
	case <-stop:
	}
}
