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
// at once. Consumer-group cursors ride along with the next commit. Every
// transaction is atomic, so recovery after a crash only reads: the end of
// each partition is the end of its last indexed chunk.
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
// Log.curMu is never held with another. The committer reads queued frames
// without the partition lock: tail bytes below a segment's length are
// never rewritten.
package wal
