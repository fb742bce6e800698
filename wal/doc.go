// Package wal is onexbus's log: partitioned, append-only, on a
// store.Store.
//
// # Model
//
// Each partition has dense offsets from 0. Records are stored in chunks of
// consecutive records (at most 100 records or 64 KiB by default) keyed by
// their first offset, as Kafka stores record batches: a store's cost is per
// key and per page, so chunks go several times further than a key per
// record. Each record frame carries a CRC-32C checked on every read. An
// index entry per chunk holds its count, size, time range and a bloom
// filter of its correlation ids, for retention, time lookups and
// correlation queries without reading the chunk.
//
// # Durability
//
// One committer goroutine writes every queued record of every partition in
// one store transaction: many concurrent appenders share one fsync (group
// commit). Under PolicySync, Append returns after that transaction
// committed and readers only see committed records; under PolicyInterval
// and PolicyNone it returns once the record is queued, and readers see it
// at once. Consumer-group cursors ride along with the next commit unless
// the caller asks for a durable commit (CommitCursors with durable,
// DeleteGroup, DeleteCursor), which waits for the next group commit (or,
// under PolicyInterval, a store sync shared by the callers waiting). Every
// transaction is atomic, so recovery after a crash only reads: the end of
// each partition is the end of its last indexed chunk.
//
// # Consumer groups
//
// A cursor is (group, topic, partition) -> CursorValue: the offset of the
// next record to deliver, the committer's leader epoch and metadata, and
// the commit time. Embedded groups and Kafka consumer groups share them:
// one offset space. CommitCursor only moves forward (the delivery
// engine's); CommitCursors may move backward (a Kafka seek).
//
// # Idempotent producers
//
// AppendBatch checks a batch with a producer id against that producer's
// window on the partition (its epoch and last 5 batches) under the
// partition lock, before offsets are assigned: a retry is answered with
// the original base offset and not stored; gaps and stale epochs are
// refused (ErrOutOfOrderSequence, ErrInvalidProducerEpoch). A window is
// written by the commit that stores its batches, in the same transaction,
// so after a crash stored batches and windows agree. AllocateProducerID
// reserves ids in the store before handing them out. See producer.go.
//
// # Dedup
//
// Append drops a record whose message id the topic saw within the dedup
// window (measured on append time, after a restart too: every commit
// stores per-partition append-time marks). Memory grows with the ids
// seen, about 65 B an id. See dedup.go.
//
// # Retention
//
// Per partition: MaxMessages is exact (the start offset moves with each
// append); MaxBytes and MaxAge drop whole chunks and never the newest.
// The store reuses freed pages; compaction is the store's (store.Compacter).
//
// # Locks
//
// Log.mu, then partition.mu, then topicLog.dedup.mu, then Log.genMu;
// Log.curMu, Log.durable's locks and Log.producers.mu are never held with
// another. The committer reads queued frames without the partition lock:
// tail bytes below a segment's length are never rewritten.
package wal
