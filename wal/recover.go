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
	marks := l.loadAppendTimes(tx, p)
	if l.cfg.dedupWindow > 0 {
		return l.recoverDedup(tx, p, marks)
	}
	return nil
}
