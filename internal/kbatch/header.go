package kbatch

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// HeaderSize is the size in bytes of a v2 batch header, from BaseOffset to
// NumRecords inclusive. The records follow.
const HeaderSize = 61

// Byte offsets of the header fields.
const (
	offBaseOffset      = 0
	offLength          = 8
	offLeaderEpoch     = 12
	offMagic           = 16
	offCRC             = 17
	offAttributes      = 21
	offLastOffsetDelta = 23
	offFirstTimestamp  = 27
	offMaxTimestamp    = 35
	offProducerID      = 43
	offProducerEpoch   = 51
	offBaseSequence    = 53
	offNumRecords      = 57

	// lengthPrefix is the bytes before and including Length, which Length
	// does not count.
	lengthPrefix = 12
	// minLength is the smallest valid Length: a header without records.
	minLength = HeaderSize - lengthPrefix
)

// Attribute bits.
const (
	attrCodecMask     = 0x07
	attrLogAppendTime = 0x08
	attrTransactional = 0x10
	attrControl       = 0x20
)

// Codec is a batch's compression codec (attribute bits 0-2).
type Codec int8

// The codecs Kafka defines.
const (
	CodecNone   Codec = 0
	CodecGzip   Codec = 1
	CodecSnappy Codec = 2
	CodecLZ4    Codec = 3
	CodecZstd   Codec = 4
)

// String returns the codec's Kafka name (compression.type).
func (c Codec) String() string {
	switch c {
	case CodecNone:
		return "none"
	case CodecGzip:
		return "gzip"
	case CodecSnappy:
		return "snappy"
	case CodecLZ4:
		return "lz4"
	case CodecZstd:
		return "zstd"
	}
	return fmt.Sprintf("codec(%d)", int8(c))
}

// Header is the decoded 61-byte header of a v2 record batch.
type Header struct {
	// BaseOffset is the offset of the first record.
	BaseOffset int64
	// Length is the number of bytes after the Length field.
	Length int32
	// PartitionLeaderEpoch is the leader epoch the broker stamped.
	PartitionLeaderEpoch int32
	// Magic is the format version; always 2 after ParseHeader.
	Magic int8
	// CRC is the CRC-32C of the batch from Attributes to the end.
	CRC uint32
	// Attributes holds the codec, timestamp type, transactional and
	// control bits.
	Attributes int16
	// LastOffsetDelta is the offset delta of the last record.
	LastOffsetDelta int32
	// FirstTimestamp is the timestamp of the first record, Unix ms.
	FirstTimestamp int64
	// MaxTimestamp is the largest record timestamp, Unix ms.
	MaxTimestamp int64
	// ProducerID is the idempotent producer's id, or -1.
	ProducerID int64
	// ProducerEpoch is the producer's epoch, or -1.
	ProducerEpoch int16
	// BaseSequence is the sequence number of the first record, or -1.
	BaseSequence int32
	// NumRecords is the number of records in the batch.
	NumRecords int32
}

// Codec returns the batch's compression codec. Values above CodecZstd are
// returned as they are; Validate refuses them.
func (h *Header) Codec() Codec { return Codec(h.Attributes & attrCodecMask) }

// Transactional reports whether the batch belongs to a transaction.
func (h *Header) Transactional() bool { return h.Attributes&attrTransactional != 0 }

// Control reports whether the batch is a control batch (transaction
// markers), which consumers skip.
func (h *Header) Control() bool { return h.Attributes&attrControl != 0 }

// LogAppendTime reports whether the batch's timestamps are the broker's
// append time rather than the producer's create time.
func (h *Header) LogAppendTime() bool { return h.Attributes&attrLogAppendTime != 0 }

// Records returns the offset span of the batch, LastOffsetDelta+1: the
// number of offsets it occupies.
func (h *Header) Records() int { return int(h.LastOffsetDelta) + 1 }

// Len returns the total size of the batch in bytes, Length plus the 12
// bytes before it.
func (h *Header) Len() int { return int(h.Length) + lengthPrefix }

// ParseHeader decodes the header of the batch that starts at b[0]. It
// checks that b holds a whole header, that the magic is 2 and that Length
// covers at least a header; it does not check that b holds the whole batch
// or the CRC (see BatchLen, CheckCRC and Validate). It does not allocate.
//
// Errors: ErrTruncated, ErrMagic, ErrLength.
func ParseHeader(b []byte) (Header, error) {
	if len(b) < HeaderSize {
		return Header{}, fmt.Errorf("kbatch: header needs %d bytes, have %d: %w", HeaderSize, len(b), ErrTruncated)
	}
	be := binary.BigEndian
	h := Header{
		BaseOffset:           int64(be.Uint64(b[offBaseOffset:])),
		Length:               int32(be.Uint32(b[offLength:])),
		PartitionLeaderEpoch: int32(be.Uint32(b[offLeaderEpoch:])),
		Magic:                int8(b[offMagic]),
		CRC:                  be.Uint32(b[offCRC:]),
		Attributes:           int16(be.Uint16(b[offAttributes:])),
		LastOffsetDelta:      int32(be.Uint32(b[offLastOffsetDelta:])),
		FirstTimestamp:       int64(be.Uint64(b[offFirstTimestamp:])),
		MaxTimestamp:         int64(be.Uint64(b[offMaxTimestamp:])),
		ProducerID:           int64(be.Uint64(b[offProducerID:])),
		ProducerEpoch:        int16(be.Uint16(b[offProducerEpoch:])),
		BaseSequence:         int32(be.Uint32(b[offBaseSequence:])),
		NumRecords:           int32(be.Uint32(b[offNumRecords:])),
	}
	if h.Magic != 2 {
		return Header{}, fmt.Errorf("kbatch: magic %d: %w", h.Magic, ErrMagic)
	}
	if h.Length < minLength {
		return Header{}, fmt.Errorf("kbatch: length %d below %d: %w", h.Length, minLength, ErrLength)
	}
	return h, nil
}

// BatchLen returns the total size in bytes of the batch that starts at
// b[0], from its Length field, for splitting a record set into batches. It
// needs only the first 12 bytes. When b is shorter than the batch it returns
// the batch's size together with ErrTruncated (a Kafka fetch response may
// end in a partial batch); when b is shorter than 12 bytes the size is 0.
// It does not check the magic or the CRC. It does not allocate.
//
// Errors: ErrTruncated, ErrLength.
func BatchLen(b []byte) (int, error) {
	if len(b) < lengthPrefix {
		return 0, fmt.Errorf("kbatch: length field needs %d bytes, have %d: %w", lengthPrefix, len(b), ErrTruncated)
	}
	l := int32(binary.BigEndian.Uint32(b[offLength:]))
	if l < minLength {
		return 0, fmt.Errorf("kbatch: length %d below %d: %w", l, minLength, ErrLength)
	}
	n := int(l) + lengthPrefix
	if len(b) < n {
		return n, fmt.Errorf("kbatch: batch of %d bytes, have %d: %w", n, len(b), ErrTruncated)
	}
	return n, nil
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// CheckCRC verifies the CRC-32C of the batch that starts at b[0] over its
// bytes from Attributes to the end of the batch (bytes after the batch are
// ignored). It does not allocate.
//
// Errors: ErrTruncated, ErrLength, ErrCRC.
func CheckCRC(b []byte) error {
	n, err := BatchLen(b)
	if err != nil {
		return err
	}
	if n < HeaderSize {
		return fmt.Errorf("kbatch: batch of %d bytes: %w", n, ErrTruncated)
	}
	want := binary.BigEndian.Uint32(b[offCRC:])
	if got := crc32.Checksum(b[offAttributes:n], castagnoli); got != want {
		return fmt.Errorf("kbatch: CRC %#08x, header says %#08x: %w", got, want, ErrCRC)
	}
	return nil
}

// computeCRC writes the CRC-32C of b[21:] into the CRC field; b must be
// exactly one whole batch.
func computeCRC(b []byte) {
	binary.BigEndian.PutUint32(b[offCRC:], crc32.Checksum(b[offAttributes:], castagnoli))
}

// SetBaseOffset writes off into the BaseOffset field of the batch at b[0].
// The field is outside the CRC, so the batch stays valid. A b shorter than
// a header is left unchanged (callers pass validated batches).
func SetBaseOffset(b []byte, off int64) {
	if len(b) < HeaderSize {
		return
	}
	binary.BigEndian.PutUint64(b[offBaseOffset:], uint64(off))
}

// SetLeaderEpoch writes e into the PartitionLeaderEpoch field of the batch
// at b[0]. The field is outside the CRC, so the batch stays valid. A b
// shorter than a header is left unchanged.
func SetLeaderEpoch(b []byte, e int32) {
	if len(b) < HeaderSize {
		return
	}
	binary.BigEndian.PutUint32(b[offLeaderEpoch:], uint32(e))
}
