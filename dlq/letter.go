package dlq

import "time"

// Header is one message header as it was on the dead-lettered message.
type Header struct {
	Key, Value string
}

// Letter is a dead-lettered message and its provenance: where it came from
// in the log, which consumer group gave up on it, and why.
//
// Key, Value and Headers are stored exactly as given, because Replay
// re-publishes them; only Error is redacted and capped (see Add).
type Letter struct {
	// ID is assigned by Add: 1 for the first letter of a store, then
	// increasing, never reused (not even after Remove or Purge).
	ID uint64
	// Topic, Partition and Offset locate the original message in the log.
	Topic     string
	Partition int32
	Offset    int64
	// Key, Value and Headers are the original message's. Letters returned
	// by this package own their slices: the caller may keep and change
	// them.
	Key, Value []byte
	Headers    []Header
	// Group is the consumer group whose handler failed.
	Group string
	// Attempts is how many deliveries were tried; never negative.
	Attempts int
	// Error is the last error (or the error chain) of the handler, redacted
	// and capped by Add.
	Error string
	// FirstFailure and LastFailure are the times of the first and last
	// failed attempt.
	FirstFailure, LastFailure time.Time
	// DeadLetteredAt is when the letter was added; Add sets it from its
	// clock when zero. Filter.Since and Filter.Until compare with it.
	DeadLetteredAt time.Time
	// DLQTopic is the topic the dead letter was also published to, if any.
	DLQTopic string
}
