package wal

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/onexbus/onexbus/store"
)

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

func validGroup(group string) error {
	if group == "" || strings.IndexByte(group, 0) >= 0 {
		return fmt.Errorf("%w: group %q is empty or holds NUL", ErrInvalidOption, group)
	}
	return nil
}

// Cursor returns a consumer group's committed position in a partition:
// the offset of the next record to deliver, and whether the group has one.
func (l *Log) Cursor(group, topic string, part int32) (int64, bool, error) {
	if err := validGroup(group); err != nil {
		return 0, false, err
	}
	k := cursorKey{group: group, topic: topic, part: part}
	l.curMu.Lock()
	defer l.curMu.Unlock()
	if off, ok := l.cursors[k]; ok {
		return off, true, nil
	}
	return 0, false, nil
}

// CommitCursor sets a consumer group's position in a partition to off, the
// next offset to deliver. The position is held in memory at once and
// written by the next group commit (at the latest one flush interval
// later); Sync waits for it. Positions only go
// forward unless force is set (a seek).
func (l *Log) CommitCursor(group, topic string, part int32, off int64, force bool) error {
	if err := validGroup(group); err != nil {
		return err
	}
	if l.closed.Load() {
		return ErrClosed
	}
	k := cursorKey{group: group, topic: topic, part: part}
	l.curMu.Lock()
	if cur, ok := l.cursors[k]; ok && cur >= off && !force {
		l.curMu.Unlock()
		return nil
	}
	l.cursors[k] = off
	l.dirtyCursor[k] = off
	l.dropAttemptsBelowLocked(k, off)
	l.changedLocked()
	l.curMu.Unlock()
	// No kick: cursors ride along with the next commit of records, or the
	// next tick, instead of costing an fsync of their own.
	return nil
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

func (l *Log) loadCursors(tx store.Tx) error {
	b := tx.Bucket(bucketCursors)
	if b == nil {
		return nil
	}
	c := b.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		ck, ok := decodeCursorKey(k)
		if !ok || len(v) != 8 {
			return fmt.Errorf("%w: cursor entry %q is malformed", ErrCorrupt, k)
		}
		off := int64(binary.BigEndian.Uint64(v))
		if t := l.topics[ck.topic]; t != nil && int(ck.part) < len(t.parts) && off > t.parts[ck.part].next {
			// A cursor never passes the records it acknowledged; one that
			// does was damaged. Clamping redelivers rather than skips.
			l.cfg.logger.Warn("cursor past the end of its partition; clamped",
				"group", ck.group, "topic", ck.topic, "partition", ck.part, "cursor", off, "end", t.parts[ck.part].next)
			off = t.parts[ck.part].next
		}
		l.cursors[ck] = off
	}
	return nil
}
