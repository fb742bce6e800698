package wal

import (
	"context"
	"errors"
	"fmt"

	"github.com/onexbus/onexbus/store"
)

// Entry is a record as read back. Payload aliases storage: it is valid only
// during the callback that receives it.
type Entry struct {
	// Offset is the record's position in its partition.
	Offset int64
	// Timestamp is the record's time in Unix nanoseconds.
	Timestamp int64
	// MessageID and CorrelationID are as appended.
	MessageID     [16]byte
	CorrelationID [16]byte
	// Payload is the record body; copy it to keep it.
	Payload []byte
}

// Read calls fn with the visible records of a partition from offset from,
// in order, at most max of them, and returns the offset after the last
// record it passed to fn. A from below the partition's start (records
// removed by retention) reads from the start. fn must not call the Log;
// an error from fn stops the read and is returned.
//
// A record that fails its CRC stops the read with a *CorruptError whose
// Next says where reading can resume.
func (l *Log) Read(ctx context.Context, topic string, part int32, from int64, max int, fn func(*Entry) error) (int64, error) {
	if err := ctx.Err(); err != nil {
		return from, err
	}
	if l.closed.Load() {
		return from, ErrClosed
	}
	_, p, err := l.partition(topic, part)
	if err != nil {
		return from, err
	}
	read := 0
	for read < max {
		p.mu.Lock()
		start, stored, visible := p.start, p.stored, l.visibleLocked(p)
		var segs [][]byte
		if from >= stored {
			segs = p.tail.snapshot()
		}
		p.mu.Unlock()
		from = maxInt64(from, start)
		if from >= visible {
			return from, nil
		}
		var n int
		if from < stored {
			from, n, err = l.readStored(p, from, stored, max-read, fn)
		} else {
			from, n, err = readTail(p, segs, stored, from, visible, max-read, fn)
		}
		read += n
		if err != nil {
			return from, err
		}
		if n == 0 && from < stored {
			// Retention removed the chunks between a stale start and the
			// store's first chunk; the next round sees the new start.
			continue
		}
	}
	return from, nil
}

func maxInt64(a, b int64) int64 {
	if a > b {
		return a
	}
	return b
}

// readStored reads committed records [from, end) from the store.
func (l *Log) readStored(p *partition, from, end int64, max int, fn func(*Entry) error) (int64, int, error) {
	read := 0
	err := l.st.View(func(tx store.Tx) error {
		data := tx.Bucket(p.data)
		if data == nil {
			from = end
			return nil
		}
		c := data.Cursor()
		k, v := c.Seek(offsetKey(from))
		if k == nil || keyOffset(k) > from {
			if pk, pv := c.Prev(); pk != nil {
				k, v = pk, pv
			} else if k == nil {
				k, v = c.First()
			}
		}
		for ; k != nil && read < max && from < end; k, v = c.Next() {
			first := keyOffset(k)
			if first > from {
				// A gap: the records before first were removed.
				from = first
			}
			next, n, err := readFrames(p, v, first, from, end, max-read, fn)
			read += n
			if err != nil {
				var ce *CorruptError
				if errors.As(err, &ce) && ce.inStore {
					if nk, _ := c.Next(); nk != nil {
						ce.Next = keyOffset(nk)
					} else {
						ce.Next = end
					}
				}
				from = next
				return err
			}
			from = next
		}
		if k == nil && from < end && read < max {
			from = end
		}
		return nil
	})
	if err != nil {
		return from, read, fmt.Errorf("wal: read %s/%d at %d: %w", p.topic, p.id, from, err)
	}
	return from, read, nil
}

// readFrames walks frames of offsets starting at base and passes those in
// [from, end) to fn, at most max. It returns the offset after the last one
// passed (or from, if none).
func readFrames(p *partition, b []byte, base, from, end int64, max int, fn func(*Entry) error) (int64, int, error) {
	off := base
	read := 0
	var e Entry
	for len(b) > 0 && off < end && read < max {
		f, n, reason := parseFrame(b)
		if reason != "" {
			return from, read, &CorruptError{Topic: p.topic, Partition: p.id, Offset: off, Next: off + 1, Reason: reason, inStore: true}
		}
		if off >= from {
			e = Entry{Offset: off, Timestamp: f.Timestamp, MessageID: f.MessageID, CorrelationID: f.CorrelationID, Payload: f.Payload}
			if err := fn(&e); err != nil {
				return off, read, err
			}
			read++
			from = off + 1
		}
		b = b[n:]
		off++
	}
	return from, read, nil
}

// OffsetForTime returns the first offset of a partition whose timestamp is
// at or after ts (Unix nanoseconds), or the end offset if there is none,
// like Kafka's list-offsets by timestamp. Timestamps are assumed to grow
// with offsets chunk by chunk: each chunk's newest timestamp decides.
func (l *Log) OffsetForTime(ctx context.Context, topic string, part int32, ts int64) (int64, error) {
	_, p, err := l.partition(topic, part)
	if err != nil {
		return 0, err
	}
	p.mu.Lock()
	start, stored, visible := p.start, p.stored, l.visibleLocked(p)
	p.mu.Unlock()
	from := stored
	err = l.walkIndex(p, func(first int64, meta chunkMeta, ok bool) bool {
		if ok && meta.MaxTs >= ts && first+meta.Count > start {
			from = maxInt64(first, start)
			return false
		}
		return true
	})
	if err != nil {
		return 0, fmt.Errorf("wal: offset for time in %s/%d: %w", topic, part, err)
	}
	found := visible
	_, err = l.Read(ctx, topic, part, from, int(visible-from)+1, func(e *Entry) error {
		if e.Timestamp >= ts {
			found = e.Offset
			return errFound
		}
		return nil
	})
	if err != nil && !errors.Is(err, errFound) {
		return 0, err
	}
	return found, nil
}

// walkIndex calls fn with each index entry of p, oldest chunk first, until
// fn returns false; ok is false for an entry that does not parse (whose
// meta is then zero). Bloom slices alias the store: fn must not keep them.
func (l *Log) walkIndex(p *partition, fn func(first int64, meta chunkMeta, ok bool) bool) error {
	return l.st.View(func(tx store.Tx) error {
		index := tx.Bucket(p.index)
		if index == nil {
			return nil
		}
		c := index.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			meta, ok := parseChunkMeta(v)
			if !fn(keyOffset(k), meta, ok) {
				return nil
			}
		}
		return nil
	})
}

// ReadCorrelation calls fn with every visible record of a partition whose
// CorrelationID is id, in offset order. Chunks are skipped by their bloom
// filters, so the cost grows with the number of chunks, not records.
func (l *Log) ReadCorrelation(ctx context.Context, topic string, part int32, id [16]byte, fn func(*Entry) error) error {
	_, p, err := l.partition(topic, part)
	if err != nil {
		return err
	}
	p.mu.Lock()
	start, stored, visible := p.start, p.stored, l.visibleLocked(p)
	p.mu.Unlock()
	var ranges [][2]int64
	err = l.walkIndex(p, func(first int64, meta chunkMeta, ok bool) bool {
		if !ok || (first+meta.Count > start && bloomMayContain(meta.Bloom, &id)) {
			ranges = append(ranges, [2]int64{first, first + max(meta.Count, 1)})
		}
		return true
	})
	if err != nil {
		return fmt.Errorf("wal: correlation query in %s/%d: %w", topic, part, err)
	}
	if stored < visible {
		ranges = append(ranges, [2]int64{stored, visible})
	}
	next := int64(0) // ranges may overlap where retention cut a chunk
	match := func(e *Entry) error {
		if e.Offset < next {
			return nil
		}
		next = e.Offset + 1
		if e.CorrelationID == id {
			return fn(e)
		}
		return nil
	}
	for _, r := range ranges {
		if _, err := l.Read(ctx, topic, part, r[0], int(r[1]-r[0]), match); err != nil {
			return err
		}
	}
	return nil
}

type sentinel string

func (s sentinel) Error() string { return string(s) }

const errFound = sentinel("found")

// readTail passes the queued records in [from, end) to fn, at most max.
func readTail(p *partition, segs [][]byte, base, from, end int64, max int, fn func(*Entry) error) (int64, int, error) {
	read := 0
	var ferr error
	var e Entry
	at, reason := walkFrames(segs, base, func(off int64, f *frameView) bool {
		if off >= end || read >= max {
			return false
		}
		if off < from {
			return true
		}
		e = Entry{Offset: off, Timestamp: f.Timestamp, MessageID: f.MessageID, CorrelationID: f.CorrelationID, Payload: f.Payload}
		if ferr = fn(&e); ferr != nil {
			return false
		}
		read++
		from = off + 1
		return true
	})
	if reason != "" {
		return from, read, &CorruptError{Topic: p.topic, Partition: p.id, Offset: at, Next: at + 1, Reason: "queued frame: " + reason}
	}
	return from, read, ferr
}

// BytesFrom returns about how many bytes a partition holds from offset
// from to its end: the stored chunks that reach past from, whole, plus the
// queued tail. An unknown topic holds 0.
func (l *Log) BytesFrom(topic string, part int32, from int64) (int64, error) {
	_, p, err := l.partition(topic, part)
	if errors.Is(err, ErrUnknownTopic) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	p.mu.Lock()
	queued := int64(p.tail.bytes)
	p.mu.Unlock()
	var stored int64
	err = l.st.View(func(tx store.Tx) error {
		index := tx.Bucket(p.index)
		if index == nil {
			return nil
		}
		c := index.Cursor()
		for k, v := c.Last(); k != nil; k, v = c.Prev() {
			meta, ok := parseChunkMeta(v)
			if !ok || keyOffset(k)+meta.Count <= from {
				break
			}
			stored += meta.Bytes
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("wal: bytes of %s/%d from %d: %w", topic, part, from, err)
	}
	return stored + queued, nil
}
