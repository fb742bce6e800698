package kafka

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
)

// BreakerState is the state of the forwarder's circuit breaker.
type BreakerState uint8

// Breaker states.
const (
	// BreakerClosed: Kafka answers; every partition produces.
	BreakerClosed BreakerState = iota
	// BreakerOpen: Kafka failed threshold times in a row; nothing is
	// produced until the reset timeout has passed.
	BreakerOpen
	// BreakerHalfOpen: one probe batch is in flight; the others wait for
	// its outcome.
	BreakerHalfOpen
)

// String returns closed, open or half-open.
func (s BreakerState) String() string {
	switch s {
	case BreakerOpen:
		return "open"
	case BreakerHalfOpen:
		return "half-open"
	}
	return "closed"
}

// breaker is shared by the partition loops of one forwarder: Kafka being
// down is a property of the cluster, not of a partition.
type breaker struct {
	threshold int
	reset     time.Duration
	base      time.Duration
	log       hclog.Logger
	now       func() time.Time

	mu       sync.Mutex    // protects the fields below
	state    BreakerState  //
	fails    int           // consecutive failed batches
	openedAt time.Time     // when the breaker last opened
	probing  bool          // a half-open probe is in flight
	changed  chan struct{} // closed and replaced on every state change or probe end
}

func newBreaker(cfg Config, log hclog.Logger) *breaker {
	return &breaker{
		threshold: cfg.CircuitBreakerThreshold,
		reset:     cfg.CircuitBreakerResetTimeout,
		base:      cfg.RetryBackoffBase,
		log:       log,
		now:       time.Now,
		changed:   make(chan struct{}),
	}
}

// State returns the breaker's state.
func (b *breaker) State() BreakerState {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.state
}

// wakeLocked tells every waiter that something changed.
func (b *breaker) wakeLocked() {
	close(b.changed)
	b.changed = make(chan struct{})
}

// allow blocks until the caller may produce a batch: at once while closed;
// while open, until the reset timeout has passed, and then only for the
// one caller that becomes the probe (probe is true; it must report the
// outcome with success or failure).
func (b *breaker) allow(ctx context.Context) (probe bool, err error) {
	for {
		b.mu.Lock()
		switch {
		case b.state == BreakerClosed:
			b.mu.Unlock()
			return false, nil
		case b.state == BreakerOpen && !b.now().Before(b.openedAt.Add(b.reset)):
			b.state, b.probing = BreakerHalfOpen, true
			b.log.Info("upstream Kafka breaker half-open: probing")
			b.wakeLocked()
			b.mu.Unlock()
			return true, nil
		}
		ch := b.changed
		var timer <-chan time.Time
		if b.state == BreakerOpen {
			t := time.NewTimer(b.openedAt.Add(b.reset).Sub(b.now()))
			defer t.Stop()
			timer = t.C
		}
		b.mu.Unlock()
		select {
		case <-ch:
		case <-timer:
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
}

// success records a batch Kafka acknowledged.
func (b *breaker) success() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.fails = 0
	if b.state != BreakerClosed {
		b.state, b.probing = BreakerClosed, false
		b.log.Info("upstream Kafka reachable again: breaker closed, draining the backlog")
		b.wakeLocked()
	}
}

// failure records a failed batch and returns how long its partition
// should back off before trying again: base*2^n with jitter 0.5..1.5,
// capped at the reset timeout.
func (b *breaker) failure(err error) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.fails++
	switch {
	case b.state == BreakerHalfOpen:
		b.state, b.probing, b.openedAt = BreakerOpen, false, b.now()
		b.log.Debug("upstream Kafka probe failed: breaker open again", "error", err)
		b.wakeLocked()
	case b.state == BreakerClosed && b.fails >= b.threshold:
		b.state, b.openedAt = BreakerOpen, b.now()
		b.log.Warn("upstream Kafka unreachable: breaker open; publishes continue locally and are forwarded when it returns",
			"consecutive_failures", b.fails, "error", err)
		b.wakeLocked()
	}
	d := b.base
	for i := 1; i < b.fails && d < b.reset; i++ {
		d *= 2
	}
	d = time.Duration(float64(min(d, b.reset)) * (0.5 + rand.Float64()))
	return d
}

// stalled records that a batch has waited longer than d for its acks:
// Kafka is unreachable even if no record has failed (kgo retries an
// idempotent batch whose outcome it cannot know). It opens the breaker.
func (b *breaker) stalled(d time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.fails = max(b.fails, b.threshold)
	switch b.state {
	case BreakerClosed:
		b.state, b.openedAt = BreakerOpen, b.now()
		b.log.Warn("upstream Kafka unreachable: no ack within the timeout; breaker open, publishes continue locally and are forwarded when it returns",
			"timeout", d)
		b.wakeLocked()
	case BreakerHalfOpen:
		b.state, b.probing, b.openedAt = BreakerOpen, false, b.now()
		b.log.Debug("upstream Kafka probe stalled: breaker open again")
		b.wakeLocked()
	}
}
