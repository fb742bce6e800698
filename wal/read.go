package wal

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/onexbus/onexbus/internal/kbatch"
	"github.com/onexbus/onexbus/store"
)

// Entry is a record as read back. Payload aliases storage (or the read's
// decompression buffer): it is valid only during the callback that
// receives it.
type Entry struct {
	// Offset is the record's position in its partition.
	Offset int64
	// Timestamp is the record's time in Unix nanoseconds. For a Kafka
	// record it is the record's millisecond timestamp (or the batch's
	// MaxTimestamp under LogAppendTime) times 1e6, saturated to the int64
	// range; the exact milliseconds are Batch.FirstTimestamp plus the
	// record's delta.
	Timestamp int64
	// MessageID and CorrelationID are as appended (FormatFrames; zero for
	// Kafka records).
	MessageID     [16]byte
	CorrelationID [16]byte
	// Payload is the record body; copy it to keep it. For a Kafka record it
	// is the record as framed in its batch, decompressed: its varint
	// length first (kbatch.ReadRecord decodes it).
	Payload []byte
	// Kafka says the record came from a FormatKafka topic; Batch is then
	// the header of its batch. Records of control batches are passed too,
	// with Batch.Control() true: readers that deliver to applications skip
	// them.
	Kafka bool
	Batch kbatch.Header
	// Aborted is set by ReadCommitted on a record of an aborted
	// transaction (txn_read.go): readers that deliver skip it.
	Aborted bool
	// Stable says Payload stays valid and unchanged after the read, for as
	// long as it is referenced, so that a reader that never writes to it
	// may keep it instead of a copy: a frame (FormatFrames) read from the
	// tail or from a store.Volatile store, which is memory of this process
	// that nothing writes again. False for a frame read in a store's
	// transaction (bbolt's bytes are valid only inside it) and for every
	// Kafka record (it may be decompressed into a buffer the read reuses).
	Stable bool
}

// Read calls fn with the visible records of a partition from offset from,
// in order, at most max of them, and returns the offset after the last
// record it passed to fn. A from below the partition's start (records
// removed by retention) reads from the start. fn must not call the Log;
// an error from fn stops the read and is returned.
//
// On a FormatKafka partition it walks the records inside the batches
// (decompressing them), one Entry per record with Kafka set; a read may
// start and stop inside a batch. Records of control batches are passed
// too (Entry.Batch.Control()).
//
// Damage (a record or batch that fails its CRC, a chunk that does not
// match its key, a hole) stops the read with a *CorruptError whose Next
// says where reading can resume; the records before it were passed.
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
	// A reader that keeps up reads the tail, most often its last chunk or
	// two: copied here, the chunk list costs no allocation per read.
	var room [4]tailChunk
	for read < max {
		p.mu.Lock()
		start, stored, visible := p.start, p.stored, l.visibleLocked(p)
		var chunks []tailChunk
		if from >= stored {
			chunks = p.tail.viewInto(room[:0], from)
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
			from, n, err = readTail(p, chunks, from, visible, max-read, fn)
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

// storedStart returns the partition's start offset as the transaction
// sees it. Chunks cover every offset from there to the committed end
// (retention deletes chunks and moves the start in one transaction), so
// a hole above it is damage: a chunk whose key or length was damaged.
func storedStart(tx store.Tx, p *partition) int64 {
	if meta := tx.Bucket(bucketMeta); meta != nil {
		if v := meta.Get(p.startK); v != nil {
			if body, ok := checked(p.startK, v); ok && len(body) == 8 {
				return int64(binary.BigEndian.Uint64(body))
			}
			// Damaged (Open rebuilds it): trust what memory says.
			p.mu.Lock()
			defer p.mu.Unlock()
			return p.start
		}
	}
	return 0
}

// gapError reports offsets [lo, hi) that should be in a chunk and are not.
func gapError(p *partition, lo, hi int64) *CorruptError {
	return &CorruptError{Topic: p.topic, Partition: p.id, Offset: lo, Next: hi,
		Reason: fmt.Sprintf("no chunk holds offsets %d to %d (a damaged chunk key or chunk)", lo, hi-1)}
}

// readStored reads committed records [from, end) from the store.
func (l *Log) readStored(p *partition, from, end int64, max int, fn func(*Entry) error) (int64, int, error) {
	read := 0
	var scratch []byte // decompressed records of Kafka batches
	verify := l.verifyReads()
	volatile := l.volatileStore()
	err := l.st.View(func(tx store.Tx) error {
		data := tx.Bucket(p.data)
		if data == nil {
			if floor := storedStart(tx, p); end > maxInt64(from, floor) {
				return gapError(p, maxInt64(from, floor), end)
			}
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
		floor := storedStart(tx, p)
		for ; k != nil && read < max && from < end; k, v = c.Next() {
			first := keyOffset(k)
			if first > from {
				if first > maxInt64(from, floor) {
					return gapError(p, maxInt64(from, floor), min(first, end))
				}
				// Retention removed the records before first.
				from = first
			}
			var next int64
			var n int
			var err error
			body, reason := checkChunkHeader(v, p.format, first)
			switch {
			case reason != "":
				err = &CorruptError{Topic: p.topic, Partition: p.id, Offset: first, Next: first + 1, Reason: reason, inStore: true}
				next = from
			case p.format == FormatKafka:
				next, n, err = readKafkaRecords(p, body, first, from, end, max-read, fn, &scratch, verify)
			default:
				next, n, err = readFrames(p, body, first, from, end, max-read, fn, verify, volatile)
			}
			read += n
			if err != nil {
				var ce *CorruptError
				if errors.As(err, &ce) && ce.inStore {
					nextChunkCorrupt(c, first, end, ce)
				}
				from = next
				return err
			}
			from = next
		}
		if k == nil && from < end && read < max {
			if end > maxInt64(from, floor) {
				return gapError(p, maxInt64(from, floor), end)
			}
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
// passed (or from, if none). The frames passed have their CRC checked when
// verify; frames before from are only skipped, by their length (a damaged
// length shows in the next frame read). stable is the entries' Stable.
func readFrames(p *partition, b []byte, base, from, end int64, max int, fn func(*Entry) error, verify, stable bool) (int64, int, error) {
	off := base
	read := 0
	var e Entry
	for len(b) > 0 && off < end && read < max {
		if off < from {
			n, reason := frameLen(b)
			if reason != "" {
				return from, read, &CorruptError{Topic: p.topic, Partition: p.id, Offset: off, Next: off + 1, Reason: reason, inStore: true}
			}
			b = b[n:]
			off++
			continue
		}
		f, n, reason := parseFrameCRC(b, verify)
		if reason != "" {
			// inStore widens Next to the next chunk, unless the frame can
			// be stepped over (frameSkippable, chunk.go).
			return from, read, &CorruptError{Topic: p.topic, Partition: p.id, Offset: off, Next: off + 1, Reason: reason, inStore: !frameSkippable(b)}
		}
		e = Entry{Offset: off, Timestamp: f.Timestamp, MessageID: f.MessageID, CorrelationID: f.CorrelationID, Payload: f.Payload, Stable: stable}
		if err := fn(&e); err != nil {
			return off, read, err
		}
		read++
		from = off + 1
		b = b[n:]
		off++
	}
	return from, read, nil
}

// verifyReads says whether reads check the CRCs of what they pass on:
// not on a store.Volatile store, whose values cannot be damaged at rest
// (the CRCs were computed by this process, on bytes it still holds).
func (l *Log) verifyReads() bool { return !l.volatileStore() }

// volatileStore reports whether the store is a store.Volatile one (its
// values are the log's own arrays, never written to a disk).
func (l *Log) volatileStore() bool {
	_, volatile := l.st.(store.Volatile)
	return volatile
}

type sentinel string

func (s sentinel) Error() string { return string(s) }

const errFound = sentinel("found")

// readTail passes the queued records in [from, end) to fn, at most max.
// Queued records are not re-checked: Append wrote their frames in this
// process and AppendBatch checked each batch's CRC before queueing it, and
// their bytes are never written again but for the frames' CRC words,
// which are not read here (see tail). Chunks wholly before
// from are passed over by their offsets, and frames before from inside a
// chunk by their length, so a reader that keeps up pays for what it reads,
// not for the length of the tail.
func readTail(p *partition, chunks []tailChunk, from, end int64, max int, fn func(*Entry) error) (int64, int, error) {
	read := 0
	var scratch []byte
	for _, c := range chunks {
		if c.first+c.count <= from {
			continue
		}
		if read >= max || c.first >= end {
			break
		}
		var next int64
		var n int
		var err error
		if p.format == FormatKafka {
			next, n, err = readKafkaRecords(p, c.b[kafkaHeader:], c.first, from, end, max-read, fn, &scratch, false)
		} else {
			next, n, err = readFrames(p, c.b[framesHeader:], c.first, from, end, max-read, fn, false, true)
		}
		read += n
		from = next
		if err != nil {
			var ce *CorruptError
			if errors.As(err, &ce) {
				what := "queued frame: "
				if p.format == FormatKafka {
					what = "queued batch: "
				}
				ce.inStore, ce.Reason = false, what+ce.Reason
			}
			return from, read, err
		}
	}
	return from, read, nil
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
			meta, reason := parseChunkMeta(k, v)
			if reason != "" || keyOffset(k)+meta.Count <= from {
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
