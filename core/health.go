package core

import (
	"slices"
	"strings"

	"github.com/onexbus/onexbus/internal/breaker"
)

// Health is a snapshot of the bus's state.
type Health struct {
	// Status is "started" while the bus runs and "stopped" once Close began.
	Status string
	// Subscribers is the number of live subscriptions.
	Subscribers int
	// Groups is the number of consumer groups with a live member.
	Groups int
	// Topics is the number of topics.
	Topics int
	// HistorySize is the number of messages retained across all topics.
	HistorySize int64
	// Breakers has one entry per (topic, group) subscriber, sorted by
	// topic then group, each in its real state.
	Breakers []BreakerHealth
	// DamagedRecords counts the damaged stretches of the log (records
	// that fail their checksum) that delivery met since New, each once
	// whichever groups met it. Each group dead-letters such a stretch
	// with its location rather than skip it in silence.
	DamagedRecords int64
	// HandlerExits counts handler calls that never returned because the
	// handler called runtime.Goexit (t.Fatal in a test handler); each
	// counts as a failed attempt.
	HandlerExits int64
	// StoreStopped is the error with which the store stopped writes (it
	// wraps store.ErrCommitFailed: a commit failed with an I/O error, so
	// every Publish fails until the process reopens the store), or nil
	// while the store takes writes.
	StoreStopped error
}

// Health returns the bus's state. It works after Close too.
func (b *Bus) Health() Health {
	h := Health{Status: "started", DamagedRecords: b.damage.count.Load(), HandlerExits: b.handlerExits.Load(), StoreStopped: b.log.StoreStopped()}
	if b.closed.Load() {
		h.Status = "stopped"
	}
	b.mu.Lock()
	h.Subscribers = b.subs
	for _, g := range b.groups {
		if len(g.members) > 0 {
			h.Groups++
		}
		for topic, br := range g.breakers {
			s := br.Snapshot()
			h.Breakers = append(h.Breakers, BreakerHealth{Topic: topic, Group: g.name, State: breakerState(s.State), Failures: s.Failures, Opens: s.Opens})
		}
	}
	b.mu.Unlock()
	slices.SortFunc(h.Breakers, func(x, y BreakerHealth) int {
		if c := strings.Compare(x.Topic, y.Topic); c != 0 {
			return c
		}
		return strings.Compare(x.Group, y.Group)
	})
	topics := b.log.Topics()
	h.Topics = len(topics)
	for _, t := range topics {
		tc, _ := b.log.Topic(t)
		for p := int32(0); p < tc.Partitions; p++ {
			if start, end, err := b.log.Offsets(t, p); err == nil {
				h.HistorySize += end - start
			}
		}
	}
	return h
}

// ResetBreaker closes the breaker of the (topic, group) subscriber by
// hand. It returns true if the breaker was open or half-open and is now
// closed; false if it was closed already or there is no such subscriber.
// Of concurrent calls, exactly one returns true.
func (b *Bus) ResetBreaker(topic, group string) bool {
	b.mu.Lock()
	g := b.groups[group]
	var br *breaker.Breaker
	if g != nil {
		br = g.breakers[topic]
	}
	b.mu.Unlock()
	return br != nil && br.Reset()
}
