package core

import (
	"context"
	"fmt"

	"github.com/onexbus/onexbus/internal/breaker"
)

// group is a consumer group: its members and one delivery loop per
// topic-partition it reads. Its fields are protected by Bus.mu.
type group struct {
	name     string
	members  []*Subscription // in join order
	loops    map[topicPartition]*loop
	retired  map[topicPartition]*loop    // retired loops, until a successor takes over
	breakers map[string]*breaker.Breaker // by topic: one per (topic, group) subscriber
	// settings are the group's, set by its first member; every member
	// has the same (Subscribe refuses a conflicting one).
	settings groupSettings
}

// groupSettings are the settings of a consumer group that its members
// must share: one partition is delivered by whichever member is assigned,
// so the retry policy and ordering cannot depend on which one that is.
type groupSettings struct {
	retry       RetryPolicy
	ordering    Ordering
	concurrency int
	readOnly    bool // SubscribeReadOnly
}

func (s groupSettings) String() string {
	str := fmt.Sprintf("retry %d attempts from %v to %v, ordering %v with concurrency %d",
		s.retry.MaxAttempts, s.retry.Base, s.retry.Max, s.ordering, s.concurrency)
	if s.readOnly {
		str += ", read-only handlers"
	}
	return str
}

func newGroup(name string) *group {
	return &group{name: name, loops: make(map[topicPartition]*loop), breakers: make(map[string]*breaker.Breaker)}
}

type topicPartition struct {
	topic string
	part  int32
}

func (g *group) removeLocked(s *Subscription) {
	for i, m := range g.members {
		if m == s {
			g.members = append(g.members[:i:i], g.members[i+1:]...)
			return
		}
	}
}

// ensureLoopLocked starts the delivery loop of a topic-partition if the
// group has none, fixing the group's cursor first so that "latest" means
// the end as of now, not as of whenever the loop gets scheduled.
func (g *group) ensureLoopLocked(b *Bus, topic string, part int32, start StartPosition, first *Subscription) error {
	tp := topicPartition{topic, part}
	if g.loops[tp] != nil {
		return nil
	}
	if b.closed.Load() {
		// Close has counted the loops out; starting one now would outlive it.
		return ErrClosed
	}
	if _, ok, err := b.log.Cursor(g.name, topic, part); err != nil {
		return b.wrapLogErr(err)
	} else if !ok {
		first, end, err := b.log.Offsets(topic, part)
		if err != nil {
			return b.wrapLogErr(err)
		}
		at := first
		if start == StartLatest {
			at = end
		}
		if err := b.log.CommitCursor(g.name, topic, part, at, false); err != nil {
			return fmt.Errorf("onexbus: set start of group %s on %s/%d: %w", g.name, topic, part, b.wrapLogErr(err))
		}
	}
	br := g.breakers[topic]
	if br == nil {
		br = newBreaker(b.cfg.breaker, b.breakerChanged(topic, g.name))
		g.breakers[topic] = br
	}
	l := &loop{bus: b, group: g, topic: topic, part: part, kick: make(chan struct{}, 1), breaker: br,
		stop: make(chan struct{}), done: make(chan struct{}), prev: g.retired[tp],
		ordering: g.settings.ordering, concurrency: g.settings.concurrency, retry: g.settings.retry,
		readOnly: g.settings.readOnly}
	l.ctx, l.cancel = context.WithCancel(context.Background())
	delete(g.retired, tp)
	g.loops[tp] = l
	b.loops.Add(1)
	go l.run()
	return nil
}

// topicCreatedLocked starts loops for a topic that is new or grew, if a
// member's pattern matches it. New partitions begin at their first
// message, so nothing published to them is missed.
func (g *group) topicCreatedLocked(b *Bus, topic string, partitions int32, _ bool) {
	var first *Subscription
	for _, m := range g.members {
		if m.pattern.Match(topic) {
			first = m
			break
		}
	}
	if first == nil {
		return
	}
	for part := int32(0); part < partitions; part++ {
		if err := g.ensureLoopLocked(b, topic, part, StartEarliest, first); err != nil {
			b.cfg.logger.Error("cannot start delivery", "group", g.name, "topic", topic, "partition", part, "error", err)
		}
	}
	g.rebalanceLocked()
}

// rebalanceLocked assigns each partition to one member: the members whose
// pattern matches the topic, in join order, take partitions round-robin
// (partition p goes to member p mod n), like Kafka's range assignor for a
// single topic. A loop whose member changed is woken.
func (g *group) rebalanceLocked() {
	var candidates []*Subscription
	for tp, l := range g.loops {
		candidates = candidates[:0]
		for _, m := range g.members {
			if m.pattern.Match(tp.topic) {
				candidates = append(candidates, m)
			}
		}
		if len(candidates) == 0 {
			// No member wants the topic any more: the loop exits, and a
			// member joining later starts a new one at the group's cursor.
			l.assigned.Store(nil)
			l.retireLocked()
			delete(g.loops, tp)
			if g.retired == nil {
				g.retired = make(map[topicPartition]*loop)
			}
			g.retired[tp] = l
			continue
		}
		next := candidates[int(tp.part)%len(candidates)]
		if l.assigned.Swap(next) != next {
			l.wake()
		}
	}
}
