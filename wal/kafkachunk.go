package wal

import (
	"fmt"
	"math"

	"github.com/onexbus/onexbus/internal/kbatch"
)

// Reading the batches of FormatKafka chunks (see chunk.go for the layout).

// checkBatch checks the batch at the start of b, which must be the one at
// offset want: a whole batch, magic 2, its CRC, its base offset. It
// returns the header and the batch's size, or a reason for a CorruptError.
func checkBatch(b []byte, want int64) (kbatch.Header, int, string) {
	return checkBatchCRC(b, want, true)
}

// checkBatchCRC is checkBatch, checking the CRC only if verify (a batch
// queued in the tail, checked when it was appended, or read from a
// store.Volatile store).
func checkBatchCRC(b []byte, want int64, verify bool) (kbatch.Header, int, string) {
	n, err := kbatch.BatchLen(b)
	if err != nil {
		return kbatch.Header{}, 0, err.Error()
	}
	h, err := kbatch.ParseHeader(b)
	if err != nil {
		return kbatch.Header{}, 0, err.Error()
	}
	if verify {
		if err := kbatch.CheckCRC(b); err != nil {
			return kbatch.Header{}, 0, err.Error()
		}
	}
	if h.BaseOffset != want {
		return kbatch.Header{}, 0, fmt.Sprintf("batch base offset %d where %d was expected", h.BaseOffset, want)
	}
	if h.LastOffsetDelta < 0 {
		return kbatch.Header{}, 0, fmt.Sprintf("batch last offset delta %d", h.LastOffsetDelta)
	}
	return h, n, ""
}

// skipBatch reports whether the batch at the start of b, which must be the
// one at offset want, ends at or below from, and its size and span. It
// checks only the framing (a damaged length or span shows as the next
// batch's base offset not matching); batches that are read get checkBatch.
func skipBatch(b []byte, want, from int64) (skip bool, n int, span int64) {
	n, err := kbatch.BatchLen(b)
	if err != nil {
		return false, 0, 0
	}
	h, err := kbatch.ParseHeader(b)
	if err != nil || h.BaseOffset != want || h.LastOffsetDelta < 0 {
		return false, 0, 0
	}
	span = int64(h.Records())
	return want+span <= from, n, span
}

// nextBatchOffset is where reading can resume after a damaged batch at
// offset at whose bytes start b: the base offset of the batch after it in
// the chunk, if its length field and that batch's header hold up, else
// fallback.
func nextBatchOffset(b []byte, at, fallback int64) int64 {
	n, err := kbatch.BatchLen(b)
	if err != nil || n >= len(b) {
		return fallback
	}
	h, err := kbatch.ParseHeader(b[n:])
	if err != nil || h.BaseOffset <= at {
		return fallback
	}
	return h.BaseOffset
}

// batchCorrupt builds the CorruptError of a damaged batch at offset at in
// a chunk whose remaining bytes are b. Next is the next batch's offset
// when it can be told, else the next chunk's (filled in by the caller).
func batchCorrupt(p *partition, b []byte, at int64, reason string) *CorruptError {
	ce := &CorruptError{Topic: p.topic, Partition: p.id, Offset: at, Next: at + 1, Reason: reason, inStore: true}
	if next := nextBatchOffset(b, at, -1); next > at {
		ce.Next, ce.inStore = next, false
	}
	return ce
}

// readKafkaRecords walks the batches of a chunk's body (first offset
// first) and passes the records in [from, end) to fn, at most max, as
// Entries. scratch holds decompressed records between calls. It returns
// the offset after the last record passed (or from).
func readKafkaRecords(p *partition, body []byte, first, from, end int64, max int, fn func(*Entry) error, scratch *[]byte, verify bool) (int64, int, error) {
	read := 0
	at := first
	var rec kbatch.Record
	var e Entry
	for len(body) > 0 && at < end && read < max {
		if skip, n, span := skipBatch(body, at, from); skip {
			body, at = body[n:], at+span
			continue
		}
		h, n, reason := checkBatchCRC(body, at, verify)
		if reason != "" {
			return from, read, batchCorrupt(p, body, at, reason)
		}
		span := int64(h.Records())
		records := body[kbatch.HeaderSize:n]
		if h.Codec() != kbatch.CodecNone {
			out, err := kbatch.Decompress(h, body[:n], (*scratch)[:0])
			if err != nil {
				return from, read, batchCorrupt(p, body, at, err.Error())
			}
			*scratch, records = out, out
		}
		for i := int32(0); i < h.NumRecords && len(records) > 0; i++ {
			rn, err := kbatch.ReadRecordRaw(records, &rec) // the span and offsets; headers stay encoded
			if err != nil {
				return from, read, batchCorrupt(p, body, at, err.Error())
			}
			off := rec.Offset(&h)
			raw := records[:rn]
			records = records[rn:]
			if off < from {
				continue
			}
			if off >= end || read >= max {
				return from, read, nil
			}
			e = Entry{Offset: off, Timestamp: msToNanos(rec.Timestamp(&h)), Payload: raw, Kafka: true, Batch: h}
			if err := fn(&e); err != nil {
				return off, read, err
			}
			read++
			from = off + 1
		}
		if read < max && from < at+span {
			// Offsets of the batch past its last record (compaction gaps,
			// which this log never makes, or a short batch) hold nothing.
			from = min(at+span, end)
		}
		body, at = body[n:], at+span
	}
	return from, read, nil
}

// kafkaChunkTimes fills meta's MinTs and MaxTs from the batches of a
// queued chunk's body. Uncompressed batches are walked record by record,
// so the range is exact whatever the records' order; for a compressed
// batch MaxTs is its header's MaxTimestamp and MinTs is unknown
// (math.MinInt64), so time queries never skip it wrongly. It returns a
// reason when a batch does not parse.
func kafkaChunkTimes(body []byte, meta *chunkMeta) string {
	var rec kbatch.Record
	for len(body) > 0 {
		n, err := kbatch.BatchLen(body)
		if err != nil {
			return err.Error()
		}
		h, err := kbatch.ParseHeader(body)
		if err != nil {
			return err.Error()
		}
		switch {
		case h.LogAppendTime():
			ts := msToNanos(h.MaxTimestamp)
			meta.MinTs, meta.MaxTs = min(meta.MinTs, ts), max(meta.MaxTs, ts)
		case h.Codec() != kbatch.CodecNone:
			meta.MinTs = math.MinInt64
			meta.MaxTs = max(meta.MaxTs, msToNanos(h.MaxTimestamp))
		default:
			records := body[kbatch.HeaderSize:n]
			for len(records) > 0 {
				rn, err := kbatch.ReadRecordRaw(records, &rec) // the span and offsets; headers stay encoded
				if err != nil {
					return err.Error()
				}
				ts := msToNanos(rec.Timestamp(&h))
				meta.MinTs, meta.MaxTs = min(meta.MinTs, ts), max(meta.MaxTs, ts)
				records = records[rn:]
			}
		}
		body = body[n:]
	}
	return ""
}
