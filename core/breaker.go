package core

import (
	"fmt"
	"sync"
	"time"
)

// BreakerState is the state of a subscriber's circuit breaker.
type BreakerState uint8

// Breaker states.
const (
	// BreakerClosed lets deliveries through.
	BreakerClosed BreakerState = iota
	// BreakerOpen holds deliveries back until the reset timeout passes;
	// messages wait and no attempts are spent.
	BreakerOpen
	// BreakerHalfOpen lets one probe delivery through at a time; success
	// closes the breaker, failure opens it again.
	BreakerHalfOpen
)

// String returns closed, open or half-open.
func (s BreakerState) String() string {
	switch s {
	case BreakerClosed:
		return "closed"
	case BreakerOpen:
		return "open"
	case BreakerHalfOpen:
		return "half-open"
	}
	return fmt.Sprintf("BreakerState(%d)", uint8(s))
}

// BreakerPolicy configures the circuit breaker of each (topic, group)
// subscriber.
type BreakerPolicy struct {
	// Threshold is the number of consecutive handler failures that opens
	// the breaker; 0 turns breakers off. Default 5.
	Threshold int
	// ResetTimeout is how long the breaker stays open before it lets a
	// probe through. Default 30s.
	ResetTimeout time.Duration
}

// DefaultBreakerPolicy is the original system's: 5 failures, 30 s.
var DefaultBreakerPolicy = BreakerPolicy{Threshold: 5, ResetTimeout: 30 * time.Second}

func (p BreakerPolicy) validate() error {
	if p.Threshold < 0 || p.Threshold > 1_000_000 {
		return fmt.Errorf("breaker threshold %d not in [0, 1000000]", p.Threshold)
	}
	if p.Threshold > 0 && (p.ResetTimeout <= 0 || p.ResetTimeout > 24*time.Hour) {
		return fmt.Errorf("breaker reset timeout %v not in (0, 24h]", p.ResetTimeout)
	}
	return nil
}

// BreakerHealth is one breaker as Health reports it.
type BreakerHealth struct {
	Topic, Group string
	State        BreakerState
	// Failures is the current run of consecutive failures.
	Failures int
	// Opens counts how many times the breaker opened.
	Opens int
}

// breaker is the three-state circuit breaker of one (topic, group)
// subscriber, shared by the delivery loops of the topic's partitions.
type breaker struct {
	policy BreakerPolicy

	mu       sync.Mutex // protects the fields below
	state    BreakerState
	failures int
	opens    int
	openedAt time.Time
	probing  bool          // a half-open probe is under way
	epoch    uint64        // counts state changes
	changed  chan struct{} // closed and replaced when the state changes
}

func newBreaker(p BreakerPolicy) *breaker {
	return &breaker{policy: p, changed: make(chan struct{})}
}

// pass is what acquire grants: a delivery in the closed state, or the
// one half-open probe. Only the probe's outcome decides a half-open
// breaker; a delivery let through before the breaker opened reports into
// the state it was let through in, or is ignored.
type pass struct {
	ok    bool
	probe bool
	epoch uint64 // the breaker's epoch when granted
}

// acquire asks to deliver. It returns a pass when the delivery may go
// ahead; otherwise a channel that is closed when the state changes and
// how long until the breaker half-opens.
func (b *breaker) acquire(now time.Time) (pass, <-chan struct{}, time.Duration) {
	if b.policy.Threshold == 0 {
		return pass{ok: true}, nil, 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state == BreakerOpen {
		wait := b.openedAt.Add(b.policy.ResetTimeout).Sub(now)
		if wait > 0 {
			return pass{}, b.changed, wait
		}
		b.setLocked(BreakerHalfOpen)
	}
	if b.state == BreakerHalfOpen {
		if b.probing {
			return pass{}, b.changed, 0
		}
		b.probing = true
		return pass{ok: true, probe: true, epoch: b.epoch}, nil, 0
	}
	return pass{ok: true, epoch: b.epoch}, nil, 0
}

// release reports the outcome of a delivery that acquire let through.
func (b *breaker) release(now time.Time, p pass, ok bool) {
	if b.policy.Threshold == 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if p.probe {
		b.probing = false
		if ok {
			b.failures = 0
			b.setLocked(BreakerClosed)
			return
		}
		b.failures++
		b.opens++
		b.openedAt = now
		b.setLocked(BreakerOpen)
		return
	}
	if p.epoch != b.epoch || b.state != BreakerClosed {
		return // granted before the breaker last changed: not its say
	}
	if ok {
		b.failures = 0
		return
	}
	b.failures++
	if b.failures >= b.policy.Threshold {
		b.opens++
		b.openedAt = now
		b.setLocked(BreakerOpen)
	}
}

// cancel gives back a pass that did not run (the loop stopped, or the
// member left).
func (b *breaker) cancel(p pass) {
	if !p.probe {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.probing = false
	b.wakeLocked()
}

// reset closes an open or half-open breaker by hand; it returns true if it
// changed the state.
func (b *breaker) reset() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state == BreakerClosed {
		return false
	}
	b.failures = 0
	b.setLocked(BreakerClosed)
	return true
}

func (b *breaker) snapshot() (BreakerState, int, int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.state, b.failures, b.opens
}

func (b *breaker) setLocked(s BreakerState) {
	b.state = s
	b.epoch++
	b.wakeLocked()
}

func (b *breaker) wakeLocked() {
	close(b.changed)
	b.changed = make(chan struct{})
}
