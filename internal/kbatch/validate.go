package kbatch

import "fmt"

// ValidateOptions chooses the optional checks of Validate.
type ValidateOptions struct {
	// Decompress makes Validate decompress a compressed batch and walk its
	// records too (the record framing of an uncompressed batch is always
	// walked). Off, a compressed batch is checked up to its header and CRC.
	Decompress bool
	// DecompressLimit bounds the decompressed record section; 0 means
	// DefaultDecompressLimit.
	DecompressLimit int
	// Scratch, when not nil, is the buffer decompression appends to; Validate
	// stores the grown buffer back, so a caller that validates many batches
	// reuses one allocation. On return it holds the decompressed section.
	Scratch *[]byte
}

// Validate checks that b is exactly one v2 record batch as a Kafka broker
// requires of a producer's batch, in this order, each rule with its
// sentinel: the batch length matches b (ErrTruncated, ErrLength,
// ErrNotOneBatch), magic 2 (ErrMagic), the CRC-32C (ErrCRC), base offset 0
// (ErrBaseOffset), NumRecords > 0 and LastOffsetDelta == NumRecords-1
// (ErrRecordCount), not a control batch (ErrControlBatch), a codec of at
// most zstd (ErrCodec), then the record framing: exactly NumRecords records
// filling the section (ErrRecordsLeft, ErrRecord, ErrTruncated), each with
// offset delta equal to its index (ErrOffsetDelta). A compressed batch's
// records are checked only with opts.Decompress (then also ErrTooLarge and
// ErrDecompress). It returns the parsed header. An uncompressed batch is
// validated without allocating.
func Validate(b []byte, opts ValidateOptions) (Header, error) {
	n, err := BatchLen(b)
	if err != nil {
		return Header{}, fmt.Errorf("kbatch: validate: %w", err)
	}
	if n != len(b) {
		return Header{}, fmt.Errorf("kbatch: validate: batch of %d bytes followed by %d more: %w", n, len(b)-n, ErrNotOneBatch)
	}
	h, err := ParseHeader(b)
	if err != nil {
		return Header{}, fmt.Errorf("kbatch: validate: %w", err)
	}
	if err := CheckCRC(b); err != nil {
		return h, fmt.Errorf("kbatch: validate: %w", err)
	}
	if h.BaseOffset != 0 {
		return h, fmt.Errorf("kbatch: validate: base offset %d: %w", h.BaseOffset, ErrBaseOffset)
	}
	if h.NumRecords <= 0 || h.LastOffsetDelta != h.NumRecords-1 {
		return h, fmt.Errorf("kbatch: validate: %d records, last offset delta %d: %w", h.NumRecords, h.LastOffsetDelta, ErrRecordCount)
	}
	if h.Control() {
		return h, fmt.Errorf("kbatch: validate: %w", ErrControlBatch)
	}
	if h.Codec() > CodecZstd {
		return h, fmt.Errorf("kbatch: validate: codec %d: %w", int8(h.Codec()), ErrCodec)
	}
	records := b[HeaderSize:]
	if h.Codec() != CodecNone {
		if !opts.Decompress {
			return h, nil
		}
		limit := opts.DecompressLimit
		if limit == 0 {
			limit = DefaultDecompressLimit
		}
		var dst []byte
		if opts.Scratch != nil {
			dst = (*opts.Scratch)[:0]
		}
		dst, err = DecompressLimit(h, b, dst, limit)
		if opts.Scratch != nil {
			*opts.Scratch = dst
		}
		if err != nil {
			return h, fmt.Errorf("kbatch: validate: %w", err)
		}
		records = dst
	}
	if err := walkInOrder(h, records); err != nil {
		return h, fmt.Errorf("kbatch: validate: %w", err)
	}
	return h, nil
}

// walkInOrder walks the records of h in records, checking the framing and
// that each record's offset delta is its index. It keeps its Record on the
// stack (no callback) and does not collect headers, so it does not
// allocate.
func walkInOrder(h Header, records []byte) error {
	var rec Record
	rest := records
	for i := int32(0); i < h.NumRecords; i++ {
		if len(rest) == 0 {
			return fmt.Errorf("kbatch: record section ends after %d of %d records: %w", i, h.NumRecords, ErrRecordsLeft)
		}
		n, err := checkRecord(rest, &rec)
		if err != nil {
			return fmt.Errorf("kbatch: record %d: %w", i, err)
		}
		if rec.OffsetDelta != i {
			return fmt.Errorf("kbatch: record %d has offset delta %d: %w", i, rec.OffsetDelta, ErrOffsetDelta)
		}
		rest = rest[n:]
	}
	if len(rest) != 0 {
		return fmt.Errorf("kbatch: %d bytes after the last of %d records: %w", len(rest), h.NumRecords, ErrRecordsLeft)
	}
	return nil
}
