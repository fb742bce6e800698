package wal

import (
	"context"
	"errors"
	"fmt"

	"github.com/onexbus/onexbus/store"
)

// ReadBatches appends to dst the visible batches of a FormatKafka
// partition, whole, starting with the batch that holds offset from, up to
// maxBytes in all but always at least one batch when any is visible (a
// Kafka fetch must make progress past a batch larger than its budget). It
// returns dst and the offset after the last batch appended (from itself
// when none was). A from below the partition's start reads from the start
// (the first batch may then begin below it, as in Kafka); from at or past
// the visible end appends nothing. The bytes are copies: no store
// transaction is held once it returns.
//
// Every batch's CRC is checked. A damaged batch ends the read: the batches
// before it are returned without error, and a read that starts at it
// returns a *CorruptError whose Next is where reading can resume.
//
// It returns ErrClosed, ErrUnknownTopic, ErrInvalidPartition, ctx's error
// or ErrWrongFormat for a FormatFrames topic.
func (l *Log) ReadBatches(ctx context.Context, topic string, part int32, from int64, maxBytes int, dst []byte) ([]byte, int64, error) {
	return l.readBatches(ctx, topic, part, from, maxBytes, dst, false)
}

// readBatches is ReadBatches, and under committed ReadBatchesIsolated's
// read_committed: the visible end is then the last stable offset.
func (l *Log) readBatches(ctx context.Context, topic string, part int32, from int64, maxBytes int, dst []byte, committed bool) ([]byte, int64, error) {
	if err := ctx.Err(); err != nil {
		return dst, from, err
	}
	if l.closed.Load() {
		return dst, from, ErrClosed
	}
	_, p, err := l.partition(topic, part)
	if err != nil {
		return dst, from, err
	}
	if p.format != FormatKafka {
		return dst, from, fmt.Errorf("%w: ReadBatches of %s/%d, a %s topic", ErrWrongFormat, topic, part, p.format)
	}
	f := batchFill{dst: dst, base: len(dst), maxBytes: maxBytes, next: from}
	for !f.full() {
		p.mu.Lock()
		start, stored, visible := p.start, p.stored, l.visibleLocked(p)
		if committed {
			visible = l.lsoLocked(p)
		}
		var chunks []tailChunk
		if f.next >= stored {
			chunks = p.tail.view()
		}
		p.mu.Unlock()
		f.next = max(f.next, start)
		f.end = visible
		if f.next >= visible {
			break
		}
		before := f.next
		if f.next < stored {
			err = l.fillStored(p, &f, stored)
		} else {
			err = fillTail(p, &f, chunks)
		}
		if err != nil {
			var ce *CorruptError
			if errors.As(err, &ce) && len(f.dst) > f.base {
				// What came before the damage is good: return it, and
				// the error to the read that starts at the damage.
				return f.dst, f.next, nil
			}
			return f.dst, f.next, fmt.Errorf("wal: read batches of %s/%d at %d: %w", topic, part, f.next, err)
		}
		if f.next == before && f.next < stored {
			// Retention removed the chunks between a stale start and the
			// store's first chunk; the next round sees the new start.
			continue
		}
		if f.next == before {
			break
		}
	}
	return f.dst, f.next, nil
}

// batchFill is the state of one ReadBatches.
type batchFill struct {
	dst      []byte
	base     int   // len(dst) on entry
	maxBytes int   // budget for what is appended
	next     int64 // offset after the last batch appended
	end      int64 // visible end: batches at or past it are not returned
	stop     bool  // the budget is spent
}

func (f *batchFill) full() bool { return f.stop }

// add takes the batches of a chunk body whose first batch is at offset
// first, appending those that end past f.next. It returns false once the
// fill is done.
func (f *batchFill) add(p *partition, body []byte, first int64) (bool, error) {
	at := first
	for len(body) > 0 && at < f.end {
		if skip, n, span := skipBatch(body, at, f.next); skip {
			body, at = body[n:], at+span
			continue
		}
		h, n, reason := checkBatch(body, at)
		if reason != "" {
			return false, batchCorrupt(p, body, at, reason)
		}
		span := int64(h.Records())
		if len(f.dst) > f.base && len(f.dst)-f.base+n > f.maxBytes {
			f.stop = true
			return false, nil
		}
		f.dst = append(f.dst, body[:n]...)
		f.next = at + span
		if len(f.dst)-f.base >= f.maxBytes {
			f.stop = true
			return false, nil
		}
		body, at = body[n:], at+span
	}
	return true, nil
}

// fillStored adds the stored batches from f.next below end.
func (l *Log) fillStored(p *partition, f *batchFill, end int64) error {
	end = min(end, f.end)
	saved := f.end
	f.end = end
	defer func() { f.end = saved }()
	return l.st.View(func(tx store.Tx) error {
		data := tx.Bucket(p.data)
		floor := storedStart(tx, p)
		if data == nil {
			if end > max(f.next, floor) {
				return gapError(p, max(f.next, floor), end)
			}
			f.next = end
			return nil
		}
		c := data.Cursor()
		k, v := c.Seek(offsetKey(f.next))
		if k == nil || keyOffset(k) > f.next {
			if pk, pv := c.Prev(); pk != nil {
				k, v = pk, pv
			} else if k == nil {
				k, v = c.First()
			}
		}
		for ; k != nil && f.next < end; k, v = c.Next() {
			first := keyOffset(k)
			if first > f.next {
				if first > max(f.next, floor) {
					return gapError(p, max(f.next, floor), min(first, end))
				}
				f.next = first // retention removed what was before
			}
			body, reason := checkChunkHeader(v, p.format, first)
			if reason != "" {
				return nextChunkCorrupt(c, first, end, &CorruptError{Topic: p.topic, Partition: p.id, Offset: first, Reason: reason})
			}
			more, err := f.add(p, body, first)
			if err != nil {
				var ce *CorruptError
				if errors.As(err, &ce) && ce.inStore {
					return nextChunkCorrupt(c, first, end, ce)
				}
				return err
			}
			if !more {
				return nil
			}
		}
		if k == nil && f.next < end && !f.stop {
			if end > max(f.next, floor) {
				return gapError(p, max(f.next, floor), end)
			}
			f.next = end
		}
		return nil
	})
}

// nextChunkCorrupt sets ce.Next to the key of the chunk after the cursor's
// (or end) and returns ce. Damage after a chunk's last record (trailing
// bytes) has no offset of its own: it is reported at the chunk's key, so
// that Next is always past Offset.
func nextChunkCorrupt(c store.Cursor, first, end int64, ce *CorruptError) *CorruptError {
	if nk, _ := c.Next(); nk != nil {
		ce.Next = keyOffset(nk)
	} else {
		ce.Next = end
	}
	if ce.Next <= ce.Offset {
		ce.Offset = first
	}
	ce.Next = max(ce.Next, ce.Offset+1)
	ce.inStore = false
	return ce
}

// fillTail adds the queued batches from f.next.
func fillTail(p *partition, f *batchFill, chunks []tailChunk) error {
	for _, c := range chunks {
		if c.first+c.count <= f.next {
			continue
		}
		if c.first >= f.end {
			break
		}
		more, err := f.add(p, c.b[kafkaHeader:], c.first)
		if err != nil {
			var ce *CorruptError
			if errors.As(err, &ce) {
				ce.Reason = "queued batch: " + ce.Reason
			}
			return err
		}
		if !more {
			return nil
		}
	}
	return nil
}
