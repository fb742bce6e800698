package kbatch

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Builder builds one v2 record batch from records added one at a time, for
// a producer that is not a Kafka client (the bus's own publishes): producer
// id, epoch and base sequence -1 unless SetProducer says otherwise, base
// offset 0 and leader epoch -1 (the log rewrites both), offset deltas
// 0..n-1, timestamps as deltas from the first record's.
//
// A record is added whole with Add, or in parts with StartRecord, Header,
// HeaderString or HeaderValue (any number) and EndRecord, which lets a caller write its
// headers straight from its own fields without building a slice. Misuse
// (a header outside a record, a second StartRecord) is reported by
// EndRecord and Finish, never a panic.
//
// The zero Builder builds an uncompressed batch. A Builder is not safe for
// concurrent use; Reset makes it reusable, keeping its buffers.
type Builder struct {
	codec      Codec
	producerID int64
	epoch      int16
	baseSeq    int32
	txn        bool // the transactional attribute
	n          int32
	firstTs    int64
	maxTs      int64
	// raw holds the encoded records; the open record, if any, starts at
	// recStart with reserved bytes for its length varint.
	raw      []byte
	open     bool
	recStart int
	reserved int
	// hdrCountAt is where the open record's header count varint sits (one
	// reserved byte); hdrs counts its headers.
	hdrCountAt int
	hdrs       int32
	err        error
	// comp is scratch for the compressed section.
	comp []byte
}

// NewBuilder returns a Builder for a batch compressed with codec.
func NewBuilder(codec Codec) *Builder {
	b := &Builder{}
	b.Reset(codec)
	return b
}

// Reset empties b for a new batch compressed with codec, keeping its
// buffers; the producer fields return to -1.
func (b *Builder) Reset(codec Codec) {
	*b = Builder{codec: codec, producerID: -1, epoch: -1, baseSeq: -1, raw: b.raw[:0], comp: b.comp[:0]}
}

// SetProducer sets the idempotent producer fields of the batch header.
func (b *Builder) SetProducer(id int64, epoch int16, baseSequence int32) {
	b.producerID, b.epoch, b.baseSeq = id, epoch, baseSequence
}

// SetTransactional marks the batch as part of its producer's
// transaction (attribute bit 4), as a transactional Kafka producer's.
func (b *Builder) SetTransactional(on bool) { b.txn = on }

// Len returns the number of records added (closed) so far.
func (b *Builder) Len() int { return int(b.n) }

// Size returns the encoded size of the records so far, before compression
// and without the 61-byte header.
func (b *Builder) Size() int { return len(b.raw) }

// Add appends one record: timestamp in Unix ms, key and value (nil is
// null), and headers (a nil Key is written as an empty name).
//
// Errors: ErrBuilderFull, or the misuse error of an open record.
func (b *Builder) Add(timestamp int64, key, value []byte, headers []RecordHeader) error {
	b.StartRecord(timestamp, key, value)
	for i := range headers {
		b.Header(headers[i].Key, headers[i].Value)
	}
	return b.EndRecord()
}

// StartRecord opens a record with its timestamp (Unix ms), key and value;
// headers follow with Header and HeaderString, and EndRecord closes it.
func (b *Builder) StartRecord(timestamp int64, key, value []byte) {
	if b.err != nil {
		return
	}
	if b.open {
		b.err = fmt.Errorf("kbatch: builder: StartRecord with record %d still open: %w", b.n, ErrBuilderMisuse)
		return
	}
	if b.n == math.MaxInt32 || len(key) > math.MaxInt32/2 || len(value) > math.MaxInt32/2 {
		b.err = fmt.Errorf("kbatch: builder: record %d: %w", b.n, ErrBuilderFull)
		return
	}
	if b.n == 0 {
		b.firstTs, b.maxTs = timestamp, timestamp
	}
	b.maxTs = max(b.maxTs, timestamp)
	b.open = true
	b.recStart = len(b.raw)
	body := 1 + varint64Len(timestamp-b.firstTs) + varint32Len(b.n) + bytesLen(key) + bytesLen(value) + 1
	// Reserve the length varint for the body so far plus a typical header
	// set; EndRecord moves the record if the guess was wrong.
	b.reserved = varint32Len(int32(min(body+256, math.MaxInt32)))
	b.raw = append(b.raw, make([]byte, b.reserved)...)
	b.raw = append(b.raw, 0) // attributes
	b.raw = appendVarint64(b.raw, timestamp-b.firstTs)
	b.raw = appendVarint32(b.raw, b.n)
	b.raw = appendBytes(b.raw, key)
	b.raw = appendBytes(b.raw, value)
	b.hdrCountAt = len(b.raw)
	b.raw = append(b.raw, 0) // header count, one byte reserved
	b.hdrs = 0
}

// Header adds a header to the open record; a nil key is an empty name, a
// nil value is null.
func (b *Builder) Header(key, value []byte) {
	if !b.headerOK() {
		return
	}
	b.raw = appendBytes(b.raw, nonNil(key))
	b.raw = appendBytes(b.raw, value)
	b.hdrs++
}

// HeaderString adds a header with a text name and value to the open
// record without converting them to byte slices.
func (b *Builder) HeaderString(key, value string) {
	if !b.headerOK() {
		return
	}
	b.raw = appendVarint32(b.raw, int32(len(key)))
	b.raw = append(b.raw, key...)
	b.raw = appendVarint32(b.raw, int32(len(value)))
	b.raw = append(b.raw, value...)
	b.hdrs++
}

// HeaderValue adds a header with a text name and a byte value (nil is
// null) to the open record.
func (b *Builder) HeaderValue(key string, value []byte) {
	if !b.headerOK() {
		return
	}
	b.raw = appendVarint32(b.raw, int32(len(key)))
	b.raw = append(b.raw, key...)
	b.raw = appendBytes(b.raw, value)
	b.hdrs++
}

func (b *Builder) headerOK() bool {
	if b.err != nil {
		return false
	}
	if !b.open {
		b.err = fmt.Errorf("kbatch: builder: header outside a record: %w", ErrBuilderMisuse)
		return false
	}
	return true
}

// EndRecord closes the open record.
//
// Errors: ErrBuilderMisuse when no record is open, ErrBuilderFull when the
// record exceeds Kafka's limits; either is sticky until Reset.
func (b *Builder) EndRecord() error {
	if b.err != nil {
		return b.err
	}
	if !b.open {
		b.err = fmt.Errorf("kbatch: builder: EndRecord without StartRecord: %w", ErrBuilderMisuse)
		return b.err
	}
	b.open = false
	// The header count: one byte holds 0..63; more shifts the headers.
	if cl := varint32Len(b.hdrs); cl != 1 {
		b.raw = append(b.raw, make([]byte, cl-1)...)
		copy(b.raw[b.hdrCountAt+cl:], b.raw[b.hdrCountAt+1:len(b.raw)-(cl-1)])
	}
	binaryPutVarint32(b.raw[b.hdrCountAt:], b.hdrs)
	bodyStart := b.recStart + b.reserved
	body := len(b.raw) - bodyStart
	if body > math.MaxInt32 {
		b.err = fmt.Errorf("kbatch: builder: record %d of %d bytes: %w", b.n, body, ErrBuilderFull)
		return b.err
	}
	if ll := varint32Len(int32(body)); ll != b.reserved {
		if ll > b.reserved {
			b.raw = append(b.raw, make([]byte, ll-b.reserved)...)
		}
		copy(b.raw[b.recStart+ll:], b.raw[bodyStart:bodyStart+body])
		b.raw = b.raw[:b.recStart+ll+body]
	}
	binaryPutVarint32(b.raw[b.recStart:], int32(body))
	b.n++
	return nil
}

// Finish appends the batch to dst and returns the extended slice; b keeps
// its records until Reset.
//
// Errors: ErrBuilderEmpty, a sticky misuse or size error, ErrBuilderMisuse
// for a record still open, and the compression errors of Compress.
func (b *Builder) Finish(dst []byte) ([]byte, error) {
	if b.err != nil {
		return dst, b.err
	}
	if b.open {
		return dst, fmt.Errorf("kbatch: builder: Finish with record %d open: %w", b.n, ErrBuilderMisuse)
	}
	if b.n == 0 {
		return dst, fmt.Errorf("kbatch: builder: %w", ErrBuilderEmpty)
	}
	section := b.raw
	if b.codec != CodecNone {
		var err error
		b.comp, err = Compress(b.codec, b.raw, b.comp[:0])
		if err != nil {
			return dst, fmt.Errorf("kbatch: builder: %w", err)
		}
		section = b.comp
	}
	if len(section) > math.MaxInt32-minLength {
		return dst, fmt.Errorf("kbatch: builder: record section of %d bytes: %w", len(section), ErrBuilderFull)
	}
	start := len(dst)
	dst = grow(dst, HeaderSize+len(section))
	dst = dst[:start+HeaderSize]
	h := dst[start:]
	be := binary.BigEndian
	be.PutUint64(h[offBaseOffset:], 0)
	be.PutUint32(h[offLength:], uint32(minLength+len(section)))
	be.PutUint32(h[offLeaderEpoch:], math.MaxUint32) // -1
	h[offMagic] = 2
	attrs := uint16(b.codec) & attrCodecMask
	if b.txn {
		attrs |= attrTransactional
	}
	be.PutUint16(h[offAttributes:], attrs)
	be.PutUint32(h[offLastOffsetDelta:], uint32(b.n-1))
	be.PutUint64(h[offFirstTimestamp:], uint64(b.firstTs))
	be.PutUint64(h[offMaxTimestamp:], uint64(b.maxTs))
	be.PutUint64(h[offProducerID:], uint64(b.producerID))
	be.PutUint16(h[offProducerEpoch:], uint16(b.epoch))
	be.PutUint32(h[offBaseSequence:], uint32(b.baseSeq))
	be.PutUint32(h[offNumRecords:], uint32(b.n))
	dst = append(dst, section...)
	computeCRC(dst[start:])
	return dst, nil
}

func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// bytesLen is the encoded size of a varint-length-prefixed byte string;
// nil is null (-1).
func bytesLen(p []byte) int {
	if p == nil {
		return 1
	}
	return varint32Len(int32(len(p))) + len(p)
}

// appendBytes appends a varint-length-prefixed byte string; nil is null.
func appendBytes(dst, p []byte) []byte {
	if p == nil {
		return appendVarint32(dst, -1)
	}
	dst = appendVarint32(dst, int32(len(p)))
	return append(dst, p...)
}

// binaryPutVarint32 writes v as a varint at the start of b, which has room.
func binaryPutVarint32(b []byte, v int32) {
	x := uint32(v<<1) ^ uint32(v>>31)
	i := 0
	for x >= 0x80 {
		b[i] = byte(x) | 0x80
		x >>= 7
		i++
	}
	b[i] = byte(x)
}
