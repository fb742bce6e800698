package core

import (
	"context"
	"errors"
	"fmt"

	"github.com/onexbus/onexbus/wal"
)

// The methods below are for transports and tools that read the log
// directly (a forwarder to Kafka, a broker's fetch): they keep their own
// position under a group name, as a consumer group would, without a
// handler.

// WaitForMessages blocks until partition part of topic holds a message at
// offset after or beyond, the context ends or the bus closes (ErrClosed).
// It returns at once if such a message exists.
func (b *Bus) WaitForMessages(ctx context.Context, topic string, part int32, after int64) error {
	if b.closed.Load() {
		return ErrClosed
	}
	if _, err := b.topic(topic); err != nil {
		return err
	}
	ch, err := b.log.Notify(topic, part, after)
	if err != nil {
		return b.wrapLogErr(err)
	}
	select {
	case <-ch:
		if b.closed.Load() {
			return ErrClosed
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-b.stopping:
		return ErrClosed
	}
}

// CommittedOffset returns group's committed position in a partition (the
// next offset it will read) and whether it has one.
func (b *Bus) CommittedOffset(group, topic string, part int32) (int64, bool, error) {
	off, ok, err := b.log.Cursor(group, topic, part)
	if err != nil {
		return 0, false, fmt.Errorf("%w: %w", ErrInvalidGroup, err)
	}
	return off, ok, nil
}

// CommitOffset sets group's position in a partition to off, the next
// offset to read; positions only move forward. It is written with the
// next group commit; Sync waits for it. The topic must exist (an error
// wrapping ErrUnknownTopic), the partition must be one of its
// (ErrInvalidPartition) and off must be in [0, end] (ErrInvalidOffset): a
// position past the end would make the group skip messages published
// later.
func (b *Bus) CommitOffset(group, topic string, part int32, off int64) error {
	if b.closed.Load() {
		return ErrClosed
	}
	if _, ok := b.log.Topic(topic); !ok {
		return fmt.Errorf("onexbus: commit offset of %s on %s/%d: %w", group, topic, part, ErrUnknownTopic)
	}
	_, end, err := b.log.Offsets(topic, part)
	if err != nil {
		return fmt.Errorf("onexbus: commit offset of %s on %s/%d: %w", group, topic, part, b.wrapLogErr(err))
	}
	if off < 0 || off > end {
		return fmt.Errorf("onexbus: commit offset of %s on %s/%d: %w: %d not in [0, %d]", group, topic, part, ErrInvalidOffset, off, end)
	}
	if err := b.log.CommitCursor(group, topic, part, off, false); err != nil {
		return fmt.Errorf("onexbus: commit offset of %s on %s/%d: %w", group, topic, part, b.wrapLogErr(err))
	}
	return nil
}

// HoldRetention makes retention (MaxMessages, MaxBytes, MaxAge) keep every
// record of the topics match accepts (nil: every topic) that group has
// not consumed yet: a partition's start never moves past group's
// committed position there, and a partition where group has no position
// keeps everything. A forwarder holds its topics so that nothing is
// dropped before it is sent; partitions then grow past their limits while
// it lags. match runs on the log's committer without its locks and must
// not call the bus. release ends the hold; it is idempotent. It returns
// ErrClosed after Close and an error wrapping ErrInvalidGroup for a bad
// group name.
func (b *Bus) HoldRetention(group string, match func(topic string) bool) (release func(), err error) {
	if b.closed.Load() {
		return nil, ErrClosed
	}
	release, err = b.log.HoldRetentionOf(group, match)
	if err != nil {
		if errors.Is(err, wal.ErrClosed) {
			return nil, b.wrapLogErr(err)
		}
		return nil, fmt.Errorf("onexbus: hold retention for %s: %w: %w", group, ErrInvalidGroup, err)
	}
	return release, nil
}
