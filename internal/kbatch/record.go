package kbatch

import (
	"fmt"
	"sync"
)

// RecordHeader is one Kafka record header. Both slices alias the record
// section they were read from.
type RecordHeader struct {
	// Key is the header name (never null on the wire; may be empty).
	Key []byte
	// Value is the header value; nil means null.
	Value []byte
}

// Record is one record of a batch as framed on the wire. Key, Value and
// Headers alias the record section it was read from: they are valid while
// that memory is, and a Record passed to a ForEachRecord callback is reused
// for the next record. Copy what must outlive the call.
type Record struct {
	// Attributes is the record attributes byte (unused by Kafka; 0).
	Attributes int8
	// TimestampDelta is the record's timestamp minus the batch's
	// FirstTimestamp, in ms.
	TimestampDelta int64
	// OffsetDelta is the record's offset minus the batch's BaseOffset.
	OffsetDelta int32
	// Key is the record key; nil means null.
	Key []byte
	// Value is the record value; nil means null.
	Value []byte
	// Headers are the record headers in wire order; names may repeat.
	// ReadRecordRaw leaves it alone; use RawHeaders there.
	Headers []RecordHeader
	// RawHeaders is the encoded headers after their count, checked, and
	// NumHeaders their count: NextHeader walks them without building
	// Headers (no allocation, no pointer writes).
	RawHeaders []byte
	NumHeaders int32
}

// NextHeader decodes the first header of raw (a Record's RawHeaders or
// what a previous call left) and returns it with the rest. On the
// RawHeaders of a record that was read without error it never fails.
//
// Errors: ErrRecord for bytes that are not a header.
func NextHeader(raw []byte) (key, value, rest []byte, err error) {
	key, p, err := readBytes(raw, 0, "header key")
	if err != nil {
		return nil, nil, nil, err
	}
	if key == nil {
		return nil, nil, nil, fmt.Errorf("kbatch: null header key: %w", ErrRecord)
	}
	value, p, err = readBytes(raw, p, "header value")
	if err != nil {
		return nil, nil, nil, err
	}
	return key, value, raw[p:], nil
}

// Offset returns the record's offset in the batch described by h.
func (r *Record) Offset(h *Header) int64 { return h.BaseOffset + int64(r.OffsetDelta) }

// Timestamp returns the record's timestamp in Unix ms in the batch
// described by h: the batch's MaxTimestamp when the batch carries the
// broker's append time (as Kafka defines it), else FirstTimestamp plus the
// record's delta.
func (r *Record) Timestamp(h *Header) int64 {
	if h.LogAppendTime() {
		return h.MaxTimestamp
	}
	return h.FirstTimestamp + r.TimestampDelta
}

// ReadRecord decodes the record framed at the start of b (its varint
// length first) into rec and returns the bytes it spans. rec's slices alias
// b; rec.Headers' capacity is reused. It does not allocate unless a record
// has more headers than rec.Headers can hold.
//
// Errors: ErrTruncated when b ends inside the record, ErrRecord for any
// other framing problem.
func ReadRecord(b []byte, rec *Record) (int, error) {
	body, n, err := recordBody(b)
	if err != nil {
		return 0, err
	}
	if err := readBody(body, rec, true); err != nil {
		return 0, err
	}
	return n, nil
}

// recordBody splits off the record framed at the start of b: its body
// (after the length varint) and the bytes the record spans.
func recordBody(b []byte) ([]byte, int, error) {
	length, n := readVarint32(b)
	switch {
	case n == 0:
		return nil, 0, fmt.Errorf("kbatch: record length: %w", ErrTruncated)
	case n < 0:
		return nil, 0, fmt.Errorf("kbatch: record length varint: %w", ErrRecord)
	case length < 0:
		return nil, 0, fmt.Errorf("kbatch: record length %d: %w", length, ErrRecord)
	case int64(length) > int64(len(b)-n):
		return nil, 0, fmt.Errorf("kbatch: record of %d bytes, %d left: %w", length, len(b)-n, ErrTruncated)
	}
	return b[n : n+int(length)], n + int(length), nil
}

// ReadRecordRaw is ReadRecord without building rec.Headers: the headers
// are checked and left encoded in rec.RawHeaders (walk them with
// NextHeader). It never allocates.
func ReadRecordRaw(b []byte, rec *Record) (int, error) { return checkRecord(b, rec) }

// checkRecord is ReadRecord without collecting headers.
func checkRecord(b []byte, rec *Record) (int, error) {
	body, n, err := recordBody(b)
	if err != nil {
		return 0, err
	}
	if err := readBody(body, rec, false); err != nil {
		return 0, err
	}
	return n, nil
}

// readBody decodes a record's fields from exactly body. Without collect
// the headers are checked but not stored (rec.Headers is left alone), which
// keeps a validation walk free of allocation.
func readBody(body []byte, rec *Record, collect bool) error {
	if len(body) < 1 {
		return fmt.Errorf("kbatch: record without attributes: %w", ErrRecord)
	}
	rec.Attributes = int8(body[0])
	p := 1
	ts, n := readVarint64(body[p:])
	if n <= 0 {
		return fmt.Errorf("kbatch: record timestamp delta: %w", ErrRecord)
	}
	rec.TimestampDelta = ts
	p += n
	od, n := readVarint32(body[p:])
	if n <= 0 {
		return fmt.Errorf("kbatch: record offset delta: %w", ErrRecord)
	}
	rec.OffsetDelta = od
	p += n
	var err error
	if rec.Key, p, err = readBytes(body, p, "key"); err != nil {
		return err
	}
	if rec.Value, p, err = readBytes(body, p, "value"); err != nil {
		return err
	}
	count, n := readVarint32(body[p:])
	if n <= 0 || count < 0 {
		return fmt.Errorf("kbatch: record header count: %w", ErrRecord)
	}
	p += n
	rec.NumHeaders = count
	hdrStart := p
	// Each header takes at least two bytes (two one-byte lengths), so a
	// count beyond that is hostile; refusing it bounds the slice growth.
	if int64(count) > int64(len(body)-p)/2 {
		return fmt.Errorf("kbatch: %d headers in %d bytes: %w", count, len(body)-p, ErrRecord)
	}
	hs := rec.Headers[:0]
	for i := int32(0); i < count; i++ {
		var h RecordHeader
		if h.Key, p, err = readBytes(body, p, "header key"); err != nil {
			return err
		}
		if h.Key == nil {
			return fmt.Errorf("kbatch: null header key: %w", ErrRecord)
		}
		if h.Value, p, err = readBytes(body, p, "header value"); err != nil {
			return err
		}
		if collect {
			hs = append(hs, h)
		}
	}
	if collect {
		rec.Headers = hs
	}
	rec.RawHeaders = body[hdrStart:p:p]
	if p != len(body) {
		return fmt.Errorf("kbatch: record length %d, fields end at %d: %w", len(body), p, ErrRecord)
	}
	return nil
}

// readBytes reads a varint-length-prefixed byte string at body[p:]; -1 is
// null. The result's capacity ends with it, so an append by the caller
// never writes into the next field.
func readBytes(body []byte, p int, what string) ([]byte, int, error) {
	l, n := readVarint32(body[p:])
	if n <= 0 {
		return nil, p, fmt.Errorf("kbatch: record %s length: %w", what, ErrRecord)
	}
	p += n
	switch {
	case l == -1:
		return nil, p, nil
	case l < -1 || int64(l) > int64(len(body)-p):
		return nil, p, fmt.Errorf("kbatch: record %s length %d, %d left: %w", what, l, len(body)-p, ErrRecord)
	}
	end := p + int(l)
	return body[p:end:end], end, nil
}

// recordPool keeps Records (and their header slices) for ForEachRecord,
// whose callback may retain the pointer as far as the compiler knows, so a
// stack Record would escape on every call.
var recordPool = sync.Pool{New: func() any { return new(Record) }}

// ForEachRecord calls fn for each record of the batch described by h, in
// order, where records is the batch's record section, decompressed (for an
// uncompressed batch, batch[HeaderSize:h.Len()]). It checks that the section
// holds exactly h.NumRecords records and nothing after them; it does not
// check offset deltas (Validate does). fn's Record is reused after fn
// returns and aliases records. An error from fn stops the walk and is
// returned as it is. In the steady state it does not allocate.
//
// Errors: ErrRecordCount for a negative NumRecords, ErrRecordsLeft,
// ErrTruncated and ErrRecord for framing, wrapped with the record index.
func ForEachRecord(h Header, records []byte, fn func(*Record) error) error {
	if h.NumRecords < 0 {
		return fmt.Errorf("kbatch: %d records: %w", h.NumRecords, ErrRecordCount)
	}
	rec := recordPool.Get().(*Record)
	defer func() {
		hs := rec.Headers[:0]
		clear(hs[:cap(hs)]) // drop references to the caller's memory
		*rec = Record{Headers: hs}
		recordPool.Put(rec)
	}()
	rest := records
	for i := int32(0); i < h.NumRecords; i++ {
		if len(rest) == 0 {
			return fmt.Errorf("kbatch: record section ends after %d of %d records: %w", i, h.NumRecords, ErrRecordsLeft)
		}
		n, err := ReadRecord(rest, rec)
		if err != nil {
			return fmt.Errorf("kbatch: record %d: %w", i, err)
		}
		rest = rest[n:]
		if err := fn(rec); err != nil {
			return err
		}
	}
	if len(rest) != 0 {
		return fmt.Errorf("kbatch: %d bytes after the last of %d records: %w", len(rest), h.NumRecords, ErrRecordsLeft)
	}
	return nil
}
