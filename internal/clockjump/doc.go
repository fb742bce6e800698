// Package clockjump holds the clock-jump tests of the reliability
// campaign (issue 20): the bus on a clock that jumps forward and back
// (core.WithClock) during retries, a breaker's open wait, retention by
// age and the dedup window.
// It has no code besides its tests.
package clockjump
