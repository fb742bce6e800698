package kbatch

import "errors"

// Errors of the batch header and framing (ParseHeader, BatchLen, CheckCRC).
var (
	// ErrTruncated is returned when the input ends before the header, the
	// batch or a record does.
	ErrTruncated = errors.New("kbatch: truncated batch")
	// ErrLength is returned when the header's Length is smaller than a
	// header or negative.
	ErrLength = errors.New("kbatch: invalid batch length")
	// ErrMagic is returned for a batch whose magic byte is not 2.
	ErrMagic = errors.New("kbatch: unsupported magic")
	// ErrCRC is returned when the CRC-32C over the batch does not match the
	// header's CRC field.
	ErrCRC = errors.New("kbatch: CRC mismatch")
)

// Errors of Validate: one sentinel per broker rule.
var (
	// ErrNotOneBatch is returned when the input holds bytes after the first
	// batch: a produce request carries exactly one batch per partition.
	ErrNotOneBatch = errors.New("kbatch: input is not exactly one batch")
	// ErrRecordCount is returned when NumRecords is not positive or
	// LastOffsetDelta is not NumRecords-1.
	ErrRecordCount = errors.New("kbatch: record count does not match last offset delta")
	// ErrControlBatch is returned for a control batch sent by a client.
	ErrControlBatch = errors.New("kbatch: control batch from a client")
	// ErrCodec is returned for a compression codec above 4 (zstd).
	ErrCodec = errors.New("kbatch: unknown compression codec")
	// ErrBaseOffset is returned when a client batch's base offset is not 0.
	ErrBaseOffset = errors.New("kbatch: client batch base offset is not 0")
)

// Errors of the record walk (ForEachRecord, Validate).
var (
	// ErrRecord is returned when a record's framing is invalid: a bad
	// varint, a length that overruns the record, a negative length other
	// than -1 for null, or a record whose declared length differs from its
	// contents.
	ErrRecord = errors.New("kbatch: invalid record framing")
	// ErrOffsetDelta is returned when a record's offset delta is not its
	// index in the batch.
	ErrOffsetDelta = errors.New("kbatch: record offset delta out of sequence")
	// ErrRecordsLeft is returned when the record section holds a different
	// number of records than NumRecords, or bytes after the last record.
	ErrRecordsLeft = errors.New("kbatch: record section does not match record count")
)

// Errors of compression.
var (
	// ErrTooLarge is returned by Decompress when the decompressed records
	// would exceed the caller's limit.
	ErrTooLarge = errors.New("kbatch: decompressed records exceed the limit")
	// ErrDecompress is wrapped when a codec fails on the record section.
	ErrDecompress = errors.New("kbatch: decompression failed")
	// ErrCompress is wrapped when a codec fails to compress.
	ErrCompress = errors.New("kbatch: compression failed")
)

// Errors of the Builder.
var (
	// ErrBuilderEmpty is returned by Builder.Finish when no record was added.
	ErrBuilderEmpty = errors.New("kbatch: batch has no records")
	// ErrBuilderFull is returned by Builder.Add when the batch would exceed
	// the maximum record count or offset/timestamp delta range.
	ErrBuilderFull = errors.New("kbatch: batch is full")
)

// ErrBuilderMisuse is returned by Builder.EndRecord and Builder.Finish when
// the calls came out of order: a header outside a record, a record started
// while another is open, or a batch finished with a record open.
var ErrBuilderMisuse = errors.New("kbatch: builder calls out of order")
