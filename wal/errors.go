package wal

import (
	"errors"
	"fmt"
)

// Errors of opening and closing.
var (
	// ErrClosed is returned by every operation after Close.
	ErrClosed = errors.New("wal: log is closed")
	// ErrInvalidOption is wrapped by Open when an option is out of range.
	ErrInvalidOption = errors.New("wal: invalid option")
	// ErrFormatVersion is wrapped by Open when the store was written by a
	// log format this build does not read (the error names the version),
	// and by reads of a chunk whose version byte is unknown or does not
	// belong to its topic's format.
	ErrFormatVersion = errors.New("wal: unsupported format version")
)

// Errors of topics.
var (
	// ErrUnknownTopic is returned for a topic that was never created.
	ErrUnknownTopic = errors.New("wal: unknown topic")
	// ErrInvalidPartition is returned for a partition outside the topic.
	ErrInvalidPartition = errors.New("wal: invalid partition")
	// ErrInvalidTopicConfig is wrapped when a topic's configuration is out
	// of range, shrinks its partition count or changes its format.
	ErrInvalidTopicConfig = errors.New("wal: invalid topic configuration")
	// ErrWrongFormat is returned by an operation of one storage format on
	// a topic of the other: AppendBatch and ReadBatches need FormatKafka,
	// Append needs FormatFrames.
	ErrWrongFormat = errors.New("wal: operation does not match the topic's storage format")
	// ErrTopicDeleting is returned by CreateTopic for a name whose
	// deletion is still in progress (Kafka: marked for deletion).
	ErrTopicDeleting = errors.New("wal: topic is being deleted")
)

// Errors of appending and reading.
var (
	// ErrRecordTooLarge is returned by Append for a payload larger than the
	// configured maximum record size.
	ErrRecordTooLarge = errors.New("wal: record too large")
	// ErrCommit is wrapped when the store failed to commit appended
	// records. The records stay queued and are committed by a later
	// attempt, so a publisher that retries with the same message id is
	// deduplicated.
	ErrCommit = errors.New("wal: commit failed")
	// ErrCorrupt is wrapped by CorruptError.
	ErrCorrupt = errors.New("wal: corrupt record")
	// ErrInvalidBatch is returned by AppendBatch for bytes that are not
	// one whole v2 record batch (callers validate with kbatch.Validate;
	// the log checks only the framing it relies on).
	ErrInvalidBatch = errors.New("wal: invalid record batch")
	// ErrTimestampRange is returned for a timestamp outside what Unix
	// nanoseconds in an int64 hold (before 1678 or after 2262).
	ErrTimestampRange = errors.New("wal: timestamp out of range")
)

// Errors of admin operations.
var (
	// ErrOffsetOutOfRange is returned by DeleteRecords for an offset past
	// the partition's visible end.
	ErrOffsetOutOfRange = errors.New("wal: offset out of range")
)

// CorruptError reports damage found by a read or at Open: a frame or
// batch that failed its CRC or did not parse, a chunk whose version or
// first offset does not match its topic or key, an index entry that
// failed its checksum, or offsets that no chunk holds (a damaged key or
// length). Nothing damaged is passed on as records. Readers can resume at
// Next, which is always past Offset.
type CorruptError struct {
	// Topic and Partition locate the damage.
	Topic     string
	Partition int32
	// Offset is the first offset of the damaged record, batch or chunk (or
	// of the hole).
	Offset int64
	// Next is the first offset known to be past the damage: the next
	// frame, the next batch's base offset, or the next chunk's key.
	Next int64
	// Reason says what check failed.
	Reason string

	inStore bool // found in a stored chunk, so Next can be the next chunk
}

// Error implements error.
func (e *CorruptError) Error() string {
	return fmt.Sprintf("wal: corrupt record in %s/%d at offset %d (readable again from %d): %s",
		e.Topic, e.Partition, e.Offset, e.Next, e.Reason)
}

// Unwrap makes errors.Is(err, ErrCorrupt) true.
func (e *CorruptError) Unwrap() error { return ErrCorrupt }

// Errors of idempotent producers.
var (
	// ErrOutOfOrderSequence is wrapped by AppendBatch for a batch whose
	// first sequence is neither the one after the producer's newest batch
	// nor that of a batch in its window of 5 (Kafka's
	// OUT_OF_ORDER_SEQUENCE_NUMBER), or an epoch bump whose first
	// sequence is not 0. Nothing was appended.
	ErrOutOfOrderSequence = errors.New("wal: out of order sequence")
	// ErrInvalidProducerEpoch is wrapped by AppendBatch for a batch of an
	// epoch older than the partition has seen for its producer (Kafka's
	// INVALID_PRODUCER_EPOCH). Nothing was appended.
	ErrInvalidProducerEpoch = errors.New("wal: invalid producer epoch")
	// ErrProducerIDsExhausted is returned by AllocateProducerID when every
	// int64 id was handed out.
	ErrProducerIDsExhausted = errors.New("wal: producer ids exhausted")
	// ErrTxnIDsFull is wrapped by SetTxnProducer for a transactional id
	// not registered yet while WithMaxTxnIDs ids are, none of them
	// expired (WithTxnIDExpiry). Nothing was stored.
	ErrTxnIDsFull = errors.New("wal: transactional ids full")
)

// Errors of consumer-group state.
var (
	// ErrInvalidCursor is wrapped by CommitCursors for a negative offset,
	// an offset past the partition's visible end, or metadata longer than
	// 4096 bytes.
	ErrInvalidCursor = errors.New("wal: invalid cursor")
	// ErrUnknownGroup is wrapped by DeleteGroup for a group with no
	// cursors, failure histories or in-flight marks.
	ErrUnknownGroup = errors.New("wal: unknown group")
)
