// Package store defines the storage boundary of onexbus: a small ordered
// key-value interface (Store, Tx, Bucket, Cursor) on which package wal
// builds the log, and its implementations.
//
// # Implementations
//
// store/memory keeps everything in RAM (the ephemeral in-memory bus);
// store/bolt keeps it in a bbolt file (the durable default). A third
// backend proves itself by passing store/storetest.Run.
//
// # Guarantees
//
// Transactions are atomic and isolated: a View sees a snapshot, an Update
// is all or nothing. Durability is the backend's: a bbolt store fsyncs on
// every commit unless it was opened without sync, in which case Syncer
// flushes on demand.
package store
