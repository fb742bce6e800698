package wal

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/onexbus/onexbus/store"
)

func timeDuration(u uint64) time.Duration { return time.Duration(int64(u)) }

// recover rebuilds the in-memory state from the store: topics, each
// partition's start, end and size, cursors and the dedup ids of the
// window. Every store transaction is atomic, so a crash leaves either a
// whole group commit or none of it; recovery only has to read.
func (l *Log) recover() error {
	err := l.st.View(func(tx store.Tx) error {
		if meta := tx.Bucket(bucketMeta); meta != nil {
			c := meta.Cursor()
			prefix := []byte("topic/")
			for k, v := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
				name := string(k[len(prefix):])
				cfg, ok := decodeTopicConfig(v)
				if !ok || cfg.validate() != nil {
					return fmt.Errorf("%w: config of topic %q is malformed", ErrCorrupt, name)
				}
				l.installTopicLocked(name, cfg)
			}
		}
		for _, p := range l.parts {
			if err := l.recoverPartition(tx, p); err != nil {
				return err
			}
		}
		if err := l.loadCursors(tx); err != nil {
			return err
		}
		return l.loadState(tx)
	})
	if err != nil {
		return fmt.Errorf("wal: recover: %w", err)
	}
	return nil
}

func (l *Log) recoverPartition(tx store.Tx, p *partition) error {
	if meta := tx.Bucket(bucketMeta); meta != nil {
		if v := meta.Get(p.startK); len(v) == 8 {
			p.start = int64(binary.BigEndian.Uint64(v))
		}
	}
	p.next = p.start
	if index := tx.Bucket(p.index); index != nil {
		c := index.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			meta, ok := parseChunkMeta(v)
			if !ok {
				return &CorruptError{Topic: p.topic, Partition: p.id, Offset: keyOffset(k), Next: keyOffset(k) + 1, Reason: "index entry too short"}
			}
			p.bytes += meta.Bytes
			p.next = max(p.next, keyOffset(k)+meta.Count)
		}
	}
	// The data bucket and its index are written in the same transaction;
	// a data chunk past the index's end means the file was damaged.
	if data := tx.Bucket(p.data); data != nil {
		if k, _ := data.Cursor().Last(); k != nil && keyOffset(k) >= p.next {
			return &CorruptError{Topic: p.topic, Partition: p.id, Offset: keyOffset(k), Next: keyOffset(k), Reason: "chunk without index entry"}
		}
	}
	p.stored = p.next
	if l.cfg.dedupWindow > 0 {
		return l.recoverDedup(tx, p)
	}
	return nil
}

// recoverDedup remembers the ids of the partition's newest records
// within the window, at most the dedup limit of them. Records carry their
// timestamp, not their append time, so the window is measured on
// timestamps. It walks chunks from the newest back, so a large window on
// a large log costs no more than the limit.
func (l *Log) recoverDedup(tx store.Tx, p *partition) error {
	index, data := tx.Bucket(p.index), tx.Bucket(p.data)
	if index == nil || data == nil {
		return nil
	}
	now := l.cfg.now().UnixNano()
	horizon := now - int64(l.cfg.dedupWindow)
	type seen struct {
		id  [16]byte
		off int64
		ts  int64
	}
	var chunks [][]seen // newest chunk first
	total := 0
	c := index.Cursor()
	for k, v := c.Last(); k != nil && total < l.cfg.dedupMax; k, v = c.Prev() {
		meta, ok := parseChunkMeta(v)
		if !ok || meta.MaxTs < horizon {
			break
		}
		var ids []seen
		_, reason := walkFrames([][]byte{data.Get(k)}, keyOffset(k), func(off int64, f *frameView) bool {
			if f.MessageID != ([16]byte{}) && f.Timestamp >= horizon && off >= p.start {
				ids = append(ids, seen{f.MessageID, off, min(f.Timestamp, now)})
			}
			return true
		})
		if reason != "" {
			l.cfg.logger.Warn("damaged chunk skipped while rebuilding dedup ids",
				"topic", p.topic, "partition", p.id, "chunk", keyOffset(k), "reason", reason)
		}
		chunks = append(chunks, ids)
		total += len(ids)
	}
	t := l.topics[p.topic]
	for i := len(chunks) - 1; i >= 0; i-- {
		for _, s := range chunks[i] {
			t.dedup.add(s.id, position{part: p.id, offset: s.off}, s.ts, l.cfg.dedupMax)
		}
	}
	return nil
}
