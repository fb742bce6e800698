package wal

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"slices"
	"strings"

	"github.com/onexbus/onexbus/store"
)

// Consumer-group cursors: one offset space for embedded groups and Kafka
// consumer groups. A cursor is the offset of the next record to deliver
// (a Kafka committed offset has the same meaning), keyed by (group,
// topic, partition).
//
// Stored value, version 2: 0x02, offset u64, leader epoch u32, commit
// time u64 (unix ms), metadata bytes, CRC-32C u32 of the key and of
// everything before the CRC. Version 1 (written before cursors had more
// than an offset) is the 8-byte offset alone; it is still read, with
// leader epoch -1, no metadata and commit time 0.

const cursorV2 = 2

// cursorV2Fixed is a version-2 value's size without its metadata.
const cursorV2Fixed = 1 + 8 + 4 + 8 + 4

// maxCursorMetadata bounds a cursor's metadata string, as Kafka's
// offset.metadata.max.bytes (default 4096) does.
const maxCursorMetadata = 4096

// CursorValue is a consumer group's committed position in one partition.
type CursorValue struct {
	// Offset is the offset of the next record to deliver.
	Offset int64
	// LeaderEpoch is the leader epoch the committer saw at Offset, -1 if
	// unknown (embedded groups, and cursors stored before version 2).
	LeaderEpoch int32
	// Metadata is the committer's free-form string (Kafka's commit
	// metadata), at most 4096 bytes.
	Metadata string
	// CommitTime is when the cursor was committed, in unix milliseconds
	// (0 for cursors stored before version 2).
	CommitTime int64
}

// CursorCommit is one partition's cursor in CommitCursors and
// GroupCursors.
type CursorCommit struct {
	// Topic and Part name the partition.
	Topic string
	Part  int32
	// Value is the cursor.
	Value CursorValue
}

// cursorChange is a cursor change a commit has yet to write.
type cursorChange struct {
	val CursorValue
	del bool // delete the stored cursor
}

func encodeCursorKey(k cursorKey) []byte {
	b := make([]byte, 0, len(k.group)+len(k.topic)+6)
	b = append(b, k.group...)
	b = append(b, 0)
	b = append(b, k.topic...)
	b = append(b, 0)
	return binary.BigEndian.AppendUint32(b, uint32(k.part))
}

func decodeCursorKey(b []byte) (cursorKey, bool) {
	i := bytes.IndexByte(b, 0)
	if i < 0 {
		return cursorKey{}, false
	}
	rest := b[i+1:]
	j := bytes.IndexByte(rest, 0)
	if j < 0 || len(rest)-j-1 != 4 {
		return cursorKey{}, false
	}
	return cursorKey{group: string(b[:i]), topic: string(rest[:j]), part: int32(binary.BigEndian.Uint32(rest[j+1:]))}, true
}

func encodeCursorValue(key []byte, v CursorValue) []byte {
	b := make([]byte, 0, cursorV2Fixed+len(v.Metadata))
	b = append(b, cursorV2)
	b = binary.BigEndian.AppendUint64(b, uint64(v.Offset))
	b = binary.BigEndian.AppendUint32(b, uint32(v.LeaderEpoch))
	b = binary.BigEndian.AppendUint64(b, uint64(v.CommitTime))
	b = append(b, v.Metadata...)
	crc := crc32.Update(crc32.Checksum(key, castagnoli), castagnoli, b)
	return binary.BigEndian.AppendUint32(b, crc)
}

// decodeCursorValue reads a stored cursor of either version; the reason
// is non-empty when it is damaged.
func decodeCursorValue(key, b []byte) (CursorValue, string) {
	if len(b) == 8 { // version 1
		return CursorValue{Offset: int64(binary.BigEndian.Uint64(b)), LeaderEpoch: -1}, ""
	}
	if len(b) > 0 && b[0] != cursorV2 {
		return CursorValue{}, fmt.Sprintf("unknown cursor version %d", b[0])
	}
	if len(b) < cursorV2Fixed {
		return CursorValue{}, fmt.Sprintf("%d bytes is too short", len(b))
	}
	body := b[:len(b)-4]
	if crc32.Update(crc32.Checksum(key, castagnoli), castagnoli, body) != binary.BigEndian.Uint32(b[len(b)-4:]) {
		return CursorValue{}, "CRC mismatch"
	}
	return CursorValue{
		Offset:      int64(binary.BigEndian.Uint64(body[1:])),
		LeaderEpoch: int32(binary.BigEndian.Uint32(body[9:])),
		CommitTime:  int64(binary.BigEndian.Uint64(body[13:])),
		Metadata:    string(body[21:]),
	}, ""
}

func validGroup(group string) error {
	if group == "" || strings.IndexByte(group, 0) >= 0 {
		return fmt.Errorf("%w: group %q is empty or holds NUL", ErrInvalidOption, group)
	}
	return nil
}

// Cursor returns a consumer group's committed position in a partition:
// the offset of the next record to deliver, and whether the group has one.
func (l *Log) Cursor(group, topic string, part int32) (int64, bool, error) {
	v, ok, err := l.CursorValue(group, topic, part)
	return v.Offset, ok, err
}

// CursorValue returns a consumer group's committed cursor in a partition
// with its leader epoch, metadata and commit time, and whether the group
// has one. It returns an error wrapping ErrInvalidOption for an invalid
// group name.
func (l *Log) CursorValue(group, topic string, part int32) (CursorValue, bool, error) {
	if err := validGroup(group); err != nil {
		return CursorValue{}, false, err
	}
	k := cursorKey{group: group, topic: topic, part: part}
	l.curMu.Lock()
	defer l.curMu.Unlock()
	v, ok := l.cursors[k]
	return v, ok, nil
}

// CommitCursor sets a consumer group's position in a partition to off, the
// next offset to deliver, with leader epoch -1 and no metadata. The
// position is held in memory at once and written by the next group
// commit (at the latest one flush interval later); Sync waits for it.
// Positions only go forward unless force is set (a seek).
func (l *Log) CommitCursor(group, topic string, part int32, off int64, force bool) error {
	if err := validGroup(group); err != nil {
		return err
	}
	if l.closed.Load() {
		return ErrClosed
	}
	k := cursorKey{group: group, topic: topic, part: part}
	l.curMu.Lock()
	if cur, ok := l.cursors[k]; ok && cur.Offset >= off && !force {
		l.curMu.Unlock()
		return nil
	}
	l.setCursorLocked(k, CursorValue{Offset: off, LeaderEpoch: -1, CommitTime: l.cfg.now().UnixMilli()})
	l.changedLocked()
	l.curMu.Unlock()
	// No kick: cursors ride along with the next commit of records, or the
	// next tick, instead of costing an fsync of their own.
	return nil
}

// setCursorLocked sets a cursor and forgets the failure histories of the
// records below it.
func (l *Log) setCursorLocked(k cursorKey, v CursorValue) {
	l.cursors[k] = v
	l.dirtyCursor[k] = cursorChange{val: v}
	l.dropAttemptsBelowLocked(k, v.Offset)
	l.dropMarksBelowLocked(k, v.Offset) // atomic_marks.go
}

// CommitCursors sets group's cursors on the partitions of commits, all or
// none: each may move forward or backward (a Kafka consumer commits after
// a seek). A commit with CommitTime 0 gets the log's clock. Failure
// histories of records below a new cursor are dropped; a cursor moved
// backward, or to or past the end of its in-flight mark, also clears that
// mark, so records the group already passed are not taken for crash
// suspects after a restart.
//
// With durable it returns once the cursors are stored durably: under
// PolicySync, committed (fsync'd) by the next group commit, which it
// shares with every appender and committer waiting at the time; under
// PolicyInterval, committed and then synced by one store sync shared by
// the durable callers waiting for it; under PolicyNone, committed (the
// policy never syncs). Without durable the cursors ride along with the
// next commit.
//
// It returns an error wrapping ErrInvalidOption for an invalid group,
// ErrUnknownTopic or ErrInvalidPartition for a partition the log does not
// hold, ErrInvalidCursor for a negative offset, an offset past the
// partition's visible end or metadata over 4096 bytes, ErrClosed, or the
// error of the commit or the context while waiting (the cursors are then
// set in memory and may still be stored).
func (l *Log) CommitCursors(ctx context.Context, group string, commits []CursorCommit, durable bool) error {
	if err := validGroup(group); err != nil {
		return err
	}
	if l.closed.Load() {
		return ErrClosed
	}
	for _, c := range commits {
		if err := l.validCommit(c); err != nil {
			return fmt.Errorf("wal: commit cursors of %s: %w", group, err)
		}
	}
	now := l.cfg.now().UnixMilli()
	l.curMu.Lock()
	for _, c := range commits {
		k := cursorKey{group: group, topic: c.Topic, part: c.Part}
		v := c.Value
		if v.CommitTime == 0 {
			v.CommitTime = now
		}
		old, had := l.cursors[k]
		l.setCursorLocked(k, v)
		if end, marked := l.inflight[k]; marked && ((had && v.Offset < old.Offset) || v.Offset >= end) {
			delete(l.inflight, k)
			l.dirtyInFlight[k] = -1
		}
	}
	v := l.changedLocked()
	l.curMu.Unlock()
	if !durable {
		return nil
	}
	return l.waitDurable(ctx, v)
}

// validCommit checks one commit against the partitions the log holds.
func (l *Log) validCommit(c CursorCommit) error {
	_, p, err := l.partition(c.Topic, c.Part)
	if err != nil {
		return err
	}
	if len(c.Value.Metadata) > maxCursorMetadata {
		return fmt.Errorf("%w: %s/%d: metadata of %d bytes, the limit is %d",
			ErrInvalidCursor, c.Topic, c.Part, len(c.Value.Metadata), maxCursorMetadata)
	}
	p.mu.Lock()
	end := l.visibleLocked(p)
	p.mu.Unlock()
	if c.Value.Offset < 0 || c.Value.Offset > end {
		return fmt.Errorf("%w: %s/%d: offset %d not in [0, %d]", ErrInvalidCursor, c.Topic, c.Part, c.Value.Offset, end)
	}
	return nil
}

// GroupCursors returns every cursor of group, by topic and partition.
func (l *Log) GroupCursors(group string) []CursorCommit {
	l.curMu.Lock()
	var out []CursorCommit
	for k, v := range l.cursors {
		if k.group == group {
			out = append(out, CursorCommit{Topic: k.topic, Part: k.part, Value: v})
		}
	}
	l.curMu.Unlock()
	slices.SortFunc(out, func(a, b CursorCommit) int {
		if c := strings.Compare(a.Topic, b.Topic); c != 0 {
			return c
		}
		return int(a.Part) - int(b.Part)
	})
	return out
}

// AllGroups returns, in ascending order, every group that has a cursor.
func (l *Log) AllGroups() []string {
	l.curMu.Lock()
	seen := make(map[string]bool)
	for k := range l.cursors {
		seen[k.group] = true
	}
	l.curMu.Unlock()
	out := make([]string, 0, len(seen))
	for g := range seen {
		out = append(out, g)
	}
	slices.Sort(out)
	return out
}

// Groups returns every group with a committed position on topic.
func (l *Log) Groups(topic string) []string {
	l.curMu.Lock()
	defer l.curMu.Unlock()
	seen := make(map[string]bool)
	var out []string
	for k := range l.cursors {
		if k.topic == topic && !seen[k.group] {
			seen[k.group] = true
			out = append(out, k.group)
		}
	}
	return out
}

// DeleteGroup deletes every cursor, failure history and in-flight mark
// of group, and returns once that is stored durably (as CommitCursors
// with durable). It returns an error wrapping ErrUnknownGroup if the
// group has none of them, ErrInvalidOption for an invalid group name,
// ErrClosed, or the commit's or the context's error while waiting.
func (l *Log) DeleteGroup(ctx context.Context, group string) error {
	return l.deleteState(ctx, group, func(k cursorKey) bool { return k.group == group }, true)
}

// DeleteCursor deletes group's cursor on one partition, with the failure
// histories and in-flight mark there, and returns once that is stored
// durably (as CommitCursors with durable). Deleting a cursor the group
// does not have is not an error.
func (l *Log) DeleteCursor(ctx context.Context, group, topic string, part int32) error {
	want := cursorKey{group: group, topic: topic, part: part}
	return l.deleteState(ctx, group, func(k cursorKey) bool { return k == want }, false)
}

func (l *Log) deleteState(ctx context.Context, group string, match func(cursorKey) bool, mustExist bool) error {
	if err := validGroup(group); err != nil {
		return err
	}
	if l.closed.Load() {
		return ErrClosed
	}
	found := false
	l.curMu.Lock()
	for k := range l.cursors {
		if match(k) {
			delete(l.cursors, k)
			l.dirtyCursor[k] = cursorChange{del: true}
			found = true
		}
	}
	for k := range l.attempts {
		if match(k.cursorKey) {
			delete(l.attempts, k)
			l.dirtyAttempts[k] = nil
			found = true
		}
	}
	l.attemptCount.Store(int64(len(l.attempts)))
	if l.dropMarksLocked(match) { // atomic_marks.go
		found = true
	}
	for k := range l.inflight {
		if match(k) {
			delete(l.inflight, k)
			l.dirtyInFlight[k] = -1
			found = true
		}
	}
	if !found {
		l.curMu.Unlock()
		if mustExist {
			return fmt.Errorf("%w: %s", ErrUnknownGroup, group)
		}
		return nil
	}
	v := l.changedLocked()
	l.curMu.Unlock()
	return l.waitDurable(ctx, v)
}

func (l *Log) loadCursors(tx store.Tx) error {
	b := tx.Bucket(bucketCursors)
	if b == nil {
		return nil
	}
	c := b.Cursor()
	for k, raw := c.First(); k != nil; k, raw = c.Next() {
		ck, ok := decodeCursorKey(k)
		if !ok {
			return fmt.Errorf("%w: cursor key %q is malformed", ErrCorrupt, k)
		}
		v, reason := decodeCursorValue(k, raw)
		if reason != "" {
			return fmt.Errorf("%w: cursor of group %q on %s/%d: %s", ErrCorrupt, ck.group, ck.topic, ck.part, reason)
		}
		if t := l.topics[ck.topic]; t != nil && int(ck.part) < len(t.parts) && v.Offset > t.parts[ck.part].next {
			// A cursor never passes the records it acknowledged; one that
			// does was damaged. Clamping redelivers rather than skips.
			l.cfg.logger.Warn("cursor past the end of its partition; clamped",
				"group", ck.group, "topic", ck.topic, "partition", ck.part, "cursor", v.Offset, "end", t.parts[ck.part].next)
			v.Offset = t.parts[ck.part].next
		}
		l.cursors[ck] = v
	}
	return nil
}
