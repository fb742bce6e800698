package kbatch

import (
	"encoding/binary"
	"fmt"
)

// Control batches end a Kafka transaction in each partition it wrote:
// one record whose key is ControlRecordType (version int16 0, type int16:
// 0 abort, 1 commit) and whose value is the end-transaction marker
// (version int16 0, coordinator epoch int32), in a batch with the
// transactional and control attributes, the producer's id and epoch and
// base sequence -1. Like every batch they take an offset.

// Control record types (the ControlRecordType key's type field).
const (
	// ControlAbort marks the end of an aborted transaction.
	ControlAbort int16 = 0
	// ControlCommit marks the end of a committed transaction.
	ControlCommit int16 = 1
)

// AppendControlBatch appends to dst a control batch ending producerID's
// transaction at epoch: a commit marker when commit is true, else an
// abort marker, at timestamp tsMillis (Unix ms). Base offset 0 and leader
// epoch -1 are for the log to rewrite, as with Builder.
func AppendControlBatch(dst []byte, producerID int64, epoch int16, commit bool, tsMillis int64, coordinatorEpoch int32) []byte {
	typ := ControlAbort
	if commit {
		typ = ControlCommit
	}
	key := binary.BigEndian.AppendUint16(binary.BigEndian.AppendUint16(make([]byte, 0, 4), 0), uint16(typ))
	value := binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint16(make([]byte, 0, 6), 0), uint32(coordinatorEpoch))
	var b Builder
	b.Reset(CodecNone)
	b.SetProducer(producerID, epoch, -1)
	if err := b.Add(tsMillis, key, value, nil); err != nil {
		// A 4-byte key and a 6-byte value fit every limit.
		return dst
	}
	start := len(dst)
	out, err := b.Finish(dst)
	if err != nil {
		return dst
	}
	h := out[start:]
	a := binary.BigEndian.Uint16(h[offAttributes:])
	binary.BigEndian.PutUint16(h[offAttributes:], a|attrTransactional|attrControl)
	computeCRC(h)
	return out
}

// ControlType returns the ControlRecordType type of a control batch's
// first record (ControlAbort, ControlCommit, or another type a newer
// Kafka may write).
//
// Errors: ErrControlBatch (wrapped) when batch is not an uncompressed
// control batch, the framing errors of ParseHeader and ReadRecord, and
// ErrRecord for a key that is not a ControlRecordType.
func ControlType(batch []byte) (int16, error) {
	h, err := ParseHeader(batch)
	if err != nil {
		return 0, err
	}
	if !h.Control() || h.Codec() != CodecNone {
		return 0, fmt.Errorf("kbatch: control type: not an uncompressed control batch: %w", ErrControlBatch)
	}
	n, err := BatchLen(batch)
	if err != nil {
		return 0, err
	}
	var rec Record
	if _, err := ReadRecordRaw(batch[HeaderSize:n], &rec); err != nil {
		return 0, err
	}
	if len(rec.Key) < 4 {
		return 0, fmt.Errorf("kbatch: control record key of %d bytes: %w", len(rec.Key), ErrRecord)
	}
	return int16(binary.BigEndian.Uint16(rec.Key[2:])), nil
}
