package core

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/onexbus/onexbus/wal"
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
	// Metadata is the committer's free-form string, at most 4096 bytes.
	Metadata string
	// CommitTime is when the offset was committed (millisecond
	// precision); zero if unknown. A zero CommitTime given to
	// CommitGroupOffsets means now.
	CommitTime time.Time
}

func groupOffsetOf(topic string, part int32, v wal.CursorValue) GroupOffset {
	o := GroupOffset{Topic: topic, Partition: part, Offset: v.Offset, LeaderEpoch: v.LeaderEpoch, Metadata: v.Metadata}
	if v.CommitTime != 0 {
		o.CommitTime = time.UnixMilli(v.CommitTime)
	}
	return o
}

// GroupOffset returns group's committed offset in a partition and whether
// it has one. It returns ErrInvalidGroup for a malformed group name.
func (b *Bus) GroupOffset(group, topic string, part int32) (GroupOffset, bool, error) {
	if err := validGroupName(group); err != nil {
		return GroupOffset{}, false, err
	}
	v, ok, err := b.log.CursorValue(group, topic, part)
	if err != nil || !ok {
		return GroupOffset{}, false, b.wrapLogErr(err)
	}
	return groupOffsetOf(topic, part, v), true, nil
}

// GroupOffsets returns every committed offset of group, by topic and
// partition.
func (b *Bus) GroupOffsets(group string) []GroupOffset {
	cs := b.log.GroupCursors(group)
	out := make([]GroupOffset, len(cs))
	for i, c := range cs {
		out[i] = groupOffsetOf(c.Topic, c.Part, c.Value)
	}
	return out
}

// OffsetGroups returns, in ascending order, every group with a committed
// offset.
func (b *Bus) OffsetGroups() []string { return b.log.AllGroups() }

// CommitGroupOffsets sets group's committed offsets, all or none; each may
// move forward or backward (a Kafka consumer commits after a seek), and
// carries its leader epoch and metadata. The offsets are in effect when it
// returns, in call order; the returned durable waits until they are
// stored durably (under the sync policy, by the next group commit, shared
// with every writer waiting then). It returns ErrGroupInUse while the
// group has a live embedded member: only the members' own deliveries move
// their cursors. Other errors: ErrClosed, ErrInvalidGroup, ErrUnknownTopic
// or ErrInvalidPartition for a partition the bus does not hold, and
// ErrInvalidOffset for an offset outside [0, end] or metadata over 4096
// bytes.
func (b *Bus) CommitGroupOffsets(group string, offs []GroupOffset) (durable func(context.Context) error, err error) {
	if err := validGroupName(group); err != nil {
		return nil, err
	}
	if b.closed.Load() {
		return nil, ErrClosed
	}
	commits := make([]wal.CursorCommit, len(offs))
	for i, o := range offs {
		var ms int64
		if !o.CommitTime.IsZero() {
			ms = o.CommitTime.UnixMilli()
		}
		commits[i] = wal.CursorCommit{Topic: o.Topic, Part: o.Partition,
			Value: wal.CursorValue{Offset: o.Offset, LeaderEpoch: o.LeaderEpoch, Metadata: o.Metadata, CommitTime: ms}}
	}
	// Under mu: Subscribe reads the cursors it starts from under mu, so
	// a commit is either before it (and the member starts there) or
	// refused.
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.embeddedLiveLocked(group) {
		return nil, fmt.Errorf("%w: group %s has embedded members", ErrGroupInUse, group)
	}
	if err := b.log.CommitCursors(context.Background(), group, commits, false); err != nil {
		return nil, fmt.Errorf("onexbus: commit offsets of group %s: %w", group, b.wrapOffsetErr(err))
	}
	return b.Sync, nil
}

// DeleteGroupOffsets deletes every committed offset of group (with the
// failure histories of its embedded deliveries) and returns once that is
// durable; false if the group had none. It returns ErrGroupInUse while
// the group has a live embedded member, ErrClosed or ErrInvalidGroup.
func (b *Bus) DeleteGroupOffsets(ctx context.Context, group string) (bool, error) {
	if err := validGroupName(group); err != nil {
		return false, err
	}
	// Under mu for the whole durable wait, so no member subscribes to a
	// group that is half deleted. Deleting groups is rare; Subscribe
	// waits at most one commit.
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed.Load() {
		return false, ErrClosed
	}
	if b.embeddedLiveLocked(group) {
		return false, fmt.Errorf("%w: group %s has embedded members", ErrGroupInUse, group)
	}
	err := b.log.DeleteGroup(ctx, group)
	if errors.Is(err, wal.ErrUnknownGroup) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("onexbus: delete offsets of group %s: %w", group, b.wrapOffsetErr(err))
	}
	return true, nil
}

// DeleteGroupOffset deletes group's committed offset on one partition and
// returns once that is durable; deleting an offset the group does not
// have is not an error. Errors as DeleteGroupOffsets.
func (b *Bus) DeleteGroupOffset(ctx context.Context, group, topic string, part int32) error {
	if err := validGroupName(group); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed.Load() {
		return ErrClosed
	}
	if b.embeddedLiveLocked(group) {
		return fmt.Errorf("%w: group %s has embedded members", ErrGroupInUse, group)
	}
	if err := b.log.DeleteCursor(ctx, group, topic, part); err != nil {
		return fmt.Errorf("onexbus: delete offset of group %s on %s/%d: %w", group, topic, part, b.wrapOffsetErr(err))
	}
	return nil
}

func (b *Bus) wrapOffsetErr(err error) error {
	switch {
	case errors.Is(err, wal.ErrInvalidCursor):
		return fmt.Errorf("%w: %w", ErrInvalidOffset, err)
	case errors.Is(err, wal.ErrInvalidOption):
		return fmt.Errorf("%w: %w", ErrInvalidGroup, err)
	}
	return b.wrapLogErr(err)
}
