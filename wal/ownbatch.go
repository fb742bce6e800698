package wal

import (
	"context"
	"fmt"

	"github.com/onexbus/onexbus/internal/kbatch"
)

// The bus's own batches: core builds one Kafka v2 batch (producer id -1)
// per run of messages published to a FormatKafka partition. Kafka
// producers get sequence-based idempotence (AppendBatch); the bus's
// publishers keep message_id dedup, which AppendOwnBatch applies to a
// whole batch at once, and recovery rebuilds from the message_id record
// headers of batches with producer id -1.

// BatchID is what AppendOwnBatch knows of one record of a batch: its
// message id (all zeros: none) and whether it was generated for this
// publish, so no earlier record can carry it (it is remembered without a
// lookup, as Record.FreshID).
type BatchID struct {
	MessageID [16]byte
	Fresh     bool
}

// BatchDuplicate names a record of a batch whose message id was already
// appended to the topic within the dedup window, and where.
type BatchDuplicate struct {
	// Index is the record's position in the batch (its offset delta).
	Index int
	// Partition and Offset are the first copy's.
	Partition int32
	Offset    int64
}

// AppendOwnBatch is AppendBatch for a batch the bus built, with ids[i] the
// message id of record i (len(ids) is the batch's record count). In the
// same critical section that assigns the batch its offsets, the ids are
// checked against the topic's dedup window: when any was seen, nothing is
// queued, done is never called, and the duplicates are returned (the
// caller rebuilds the batch without them and appends again). Otherwise the
// ids are remembered at their offsets and the batch is appended as
// AppendBatch does, with the same errors. With dedup off (window 0) it is
// AppendBatch.
func (l *Log) AppendOwnBatch(ctx context.Context, topic string, part int32, batch []byte, ids []BatchID, done func(BatchResult)) ([]BatchDuplicate, error) {
	h, err := kbatch.ParseHeader(batch)
	if err != nil {
		return nil, fmt.Errorf("%w: %s/%d: %w", ErrInvalidBatch, topic, part, err)
	}
	if len(ids) != int(h.NumRecords) || h.ProducerID >= 0 {
		return nil, fmt.Errorf("%w: %s/%d: own batch of %d records (producer id %d) with %d ids",
			ErrInvalidBatch, topic, part, h.NumRecords, h.ProducerID, len(ids))
	}
	if ids == nil {
		ids = []BatchID{}
	}
	return l.appendBatch(ctx, topic, part, batch, ids, done)
}

// ownBatchIDsLocked checks ids (records at base+i of part) against t's
// dedup window and, when none is a duplicate, remembers them; one critical
// section of the dedup set, so two appends of one id to different
// partitions cannot both miss. The caller holds the partition's lock.
func (l *Log) ownBatchIDsLocked(t *topicLog, part int32, base int64, ids []BatchID) []BatchDuplicate {
	if l.cfg.dedupWindow <= 0 {
		return nil
	}
	now := l.cfg.now().UnixNano()
	d := &t.dedup
	d.mu.Lock()
	defer d.mu.Unlock()
	var dups []BatchDuplicate
	for i, id := range ids {
		if id.Fresh || id.MessageID == ([16]byte{}) {
			continue
		}
		if e, ok := d.lookupLocked(id.MessageID); ok && now-e.at <= l.cfg.dedupWindow.Nanoseconds() {
			dups = append(dups, BatchDuplicate{Index: i, Partition: e.pos.part, Offset: e.pos.offset})
		}
	}
	if dups != nil {
		return dups
	}
	for i, id := range ids {
		if id.MessageID != ([16]byte{}) {
			d.addLocked(id.MessageID, position{part: part, offset: base + int64(i)}, now, l.cfg.dedupMax)
		}
	}
	return nil
}

// walkStoredIDs calls fn with the offset, message id and timestamp (Unix
// ns) of each record of the stored chunk v that carries a message id:
// every frame's of a FormatFrames chunk; for a FormatKafka chunk, the
// message_id header of the records of the bus's own batches (producer id
// -1, uncompressed, not control), the only ones message_id dedup covers.
// fn returns false to stop. It returns a reason when the chunk is damaged.
func walkStoredIDs(f Format, v []byte, first int64, fn func(off int64, id [16]byte, ts int64) bool) string {
	if f == FormatFrames {
		_, reason := walkStoredFrames(v, first, func(off int64, fr *frameView) bool {
			if fr.MessageID == ([16]byte{}) {
				return true
			}
			return fn(off, fr.MessageID, fr.Timestamp)
		})
		return reason
	}
	body, reason := checkChunkHeader(v, FormatKafka, first)
	if reason != "" {
		return reason
	}
	at := first
	for len(body) > 0 {
		h, n, reason := checkBatch(body, at)
		if reason != "" {
			return reason
		}
		if h.ProducerID < 0 && !h.Control() && h.Codec() == kbatch.CodecNone {
			stop := false
			err := walkOwnBatchIDs(&h, body[kbatch.HeaderSize:n], func(off int64, id [16]byte, ts int64) bool {
				if !fn(off, id, ts) {
					stop = true
					return false
				}
				return true
			})
			if err != nil {
				return err.Error()
			}
			if stop {
				return ""
			}
		}
		at += int64(h.Records())
		body = body[n:]
	}
	return ""
}

// walkOwnBatchIDs finds the message_id header of each record of an
// uncompressed batch section.
func walkOwnBatchIDs(h *kbatch.Header, records []byte, fn func(off int64, id [16]byte, ts int64) bool) error {
	var rec kbatch.Record
	for i := int32(0); i < h.NumRecords && len(records) > 0; i++ {
		n, err := kbatch.ReadRecordRaw(records, &rec)
		if err != nil {
			return err
		}
		records = records[n:]
		for raw := rec.RawHeaders; len(raw) > 0; {
			k, val, rest, err := kbatch.NextHeader(raw)
			if err != nil {
				return err
			}
			raw = rest
			if string(k) != "message_id" {
				continue
			}
			if id, ok := parseUUIDText(val); ok {
				if !fn(rec.Offset(h), id, msToNanos(rec.Timestamp(h))) {
					return nil
				}
			}
			break
		}
	}
	return nil
}

// parseUUIDText parses the canonical 36-character form of a UUID.
func parseUUIDText(b []byte) ([16]byte, bool) {
	var id [16]byte
	if len(b) != 36 || b[8] != '-' || b[13] != '-' || b[18] != '-' || b[23] != '-' {
		return id, false
	}
	j := 0
	for i := 0; i < 36; {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			i++
			continue
		}
		hi, ok1 := unhex(b[i])
		lo, ok2 := unhex(b[i+1])
		if !ok1 || !ok2 {
			return id, false
		}
		id[j] = hi<<4 | lo
		j++
		i += 2
	}
	return id, true
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
