package core

import (
	"fmt"
	"time"

	"github.com/onexbus/onexbus/internal/breaker"
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

// DefaultBreakerPolicy returns the original system's policy: 5 failures,
// 30 s. It is a function so that no caller can change the default of
// another.
func DefaultBreakerPolicy() BreakerPolicy {
	return BreakerPolicy{Threshold: 5, ResetTimeout: 30 * time.Second}
}

// validate reports every field out of range: Threshold in [0, 1000000],
// and when breakers are on, ResetTimeout in (0, 24h].
func (p BreakerPolicy) validate() error {
	return breaker.Policy(p).Validate()
}

// newBreaker returns the breaker of one (topic, group) subscriber, shared
// by the delivery loops of the topic's partitions.
// Its open wait is elapsed time on the monotonic clock, not the bus's
// clock (WithClock): a wall clock stepping back must not hold deliveries
// for the size of the step.
func newBreaker(p BreakerPolicy, onChange func(breaker.Change)) *breaker.Breaker {
	var opts []breaker.Option
	if onChange != nil {
		opts = append(opts, breaker.WithOnChange(onChange))
	}
	return breaker.New(breaker.Policy(p), opts...)
}

// breakerState converts the shared breaker's state to core's.
func breakerState(s breaker.State) BreakerState {
	switch s {
	case breaker.Open:
		return BreakerOpen
	case breaker.HalfOpen:
		return BreakerHalfOpen
	}
	return BreakerClosed
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
