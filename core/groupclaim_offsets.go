package core

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// Committed offsets of consumer groups, for a broker's group coordinator.
// They are the embedded groups' cursors: one offset space, so a Kafka
// consumer group and an embedded group of the same name see the same
// positions, and a Kafka tool's lag covers embedded groups too.

// GroupOffset is a consumer group's committed offset in one partition.
type GroupOffset struct {
	// Topic and Partition name the partition.
	Topic     string
	Partition int32
	// Offset is the next offset the group will read.
	Offset int64
	// LeaderEpoch is the leader epoch the committer saw, -1 if unknown.
	LeaderEpoch int32
	// Metadata is the committer's free-form string.
	Metadata string
	// CommitTime is when the offset was committed; zero if unknown.
	CommitTime time.Time
}

// GroupOffset returns group's committed offset in a partition and whether
// it has one. It returns ErrInvalidGroup for a malformed group name.
func (b *Bus) GroupOffset(group, topic string, part int32) (GroupOffset, bool, error) {
	if err := validGroupName(group); err != nil {
		return GroupOffset{}, false, err
	}
	off, ok, err := b.log.Cursor(group, topic, part)
	if err != nil || !ok {
		return GroupOffset{}, false, b.wrapLogErr(err)
	}
	return GroupOffset{Topic: topic, Partition: part, Offset: off, LeaderEpoch: -1}, true, nil
}

// GroupOffsets returns every committed offset of group, by topic and
// partition.
func (b *Bus) GroupOffsets(group string) []GroupOffset {
	var out []GroupOffset
	for _, topic := range b.log.Topics() {
		tc, _ := b.log.Topic(topic)
		for p := int32(0); p < tc.Partitions; p++ {
			if off, ok, err := b.log.Cursor(group, topic, p); err == nil && ok {
				out = append(out, GroupOffset{Topic: topic, Partition: p, Offset: off, LeaderEpoch: -1})
			}
		}
	}
	return out
}

// OffsetGroups returns, in ascending order, every group with a committed
// offset.
func (b *Bus) OffsetGroups() []string {
	seen := make(map[string]bool)
	for _, topic := range b.log.Topics() {
		for _, g := range b.log.Groups(topic) {
			seen[g] = true
		}
	}
	out := make([]string, 0, len(seen))
	for g := range seen {
		out = append(out, g)
	}
	slices.Sort(out)
	return out
}

// CommitGroupOffsets sets group's committed offsets, all or none; each may
// move forward or backward (a Kafka consumer commits after a seek). The
// offsets are in effect when it returns, in call order; durable waits
// until they are stored durably (under the sync policy, by the next group
// commit, shared with every writer waiting then). It returns ErrGroupInUse
// while the group has a live embedded member: only the members' own
// deliveries move their cursors. Other errors: ErrClosed, ErrInvalidGroup,
// ErrUnknownTopic or ErrInvalidPartition for a partition the bus does not
// hold.
func (b *Bus) CommitGroupOffsets(group string, offs []GroupOffset) (durable func(context.Context) error, err error) {
	if err := validGroupName(group); err != nil {
		return nil, err
	}
	if b.closed.Load() {
		return nil, ErrClosed
	}
	for _, o := range offs {
		tc, ok := b.log.Topic(o.Topic)
		if !ok {
			return nil, fmt.Errorf("%w: commit of group %s: %s", ErrUnknownTopic, group, o.Topic)
		}
		if o.Partition < 0 || o.Partition >= tc.Partitions {
			return nil, fmt.Errorf("%w: commit of group %s: %s/%d", ErrInvalidPartition, group, o.Topic, o.Partition)
		}
	}
	// Under mu: Subscribe reads the cursors it starts from under mu, so
	// a commit is either before it (and the member starts there) or
	// refused.
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.embeddedLiveLocked(group) {
		return nil, fmt.Errorf("%w: group %s has embedded members", ErrGroupInUse, group)
	}
	for _, o := range offs {
		if err := b.log.CommitCursor(group, o.Topic, o.Partition, o.Offset, true); err != nil {
			return nil, fmt.Errorf("onexbus: commit offsets of %s on %s/%d: %w", group, o.Topic, o.Partition, b.wrapLogErr(err))
		}
	}
	return b.Sync, nil
}
