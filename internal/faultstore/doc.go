// Package faultstore wraps any store.Store and injects the faults a disk
// gives a log: a commit that fails, an fsync that fails (the data is then
// in an unknown state), a full disk (ENOSPC), latency and a stall. It is a
// test helper for the reliability campaign (issue 20): tests run the bus
// on a faultstore over a real bbolt file, inject a fault, check what the
// caller saw, then reopen the file without the wrapper and check that
// nothing acknowledged was lost.
//
// # Faults
//
// A Store counts read-write transactions (Update calls) from 1. A Rule
// says which of them fail and how:
//
//   - KindCommit: fn runs, then the transaction rolls back and Update
//     returns an error wrapping ErrInjected. Nothing fn wrote is visible.
//   - KindSyncLost: as KindCommit, but the error also wraps ErrSync: the
//     fsync failed and the pages never reached the disk.
//   - KindSyncKept: the inner transaction commits (the data is on disk),
//     and Update still returns an error wrapping ErrInjected and ErrSync.
//     This is the "unknown state" of a failed fsync: the caller must not
//     acknowledge what it wrote, and must not assume it is absent either.
//   - KindNoSpace: fn runs, the transaction rolls back and the error wraps
//     syscall.ENOSPC (errors.Is(err, syscall.ENOSPC) holds).
//
// Latency (SetLatency) delays every Update before it runs; Stall blocks
// every Update until the returned release function is called.
//
// # Concurrency
//
// Every method is safe for concurrent use. Rules can be changed while the
// store is in use; a rule is consulted once, when an Update starts.
package faultstore
