// Package storetest is the conformance suite of the store.Store contract.
// A backend proves itself with one call from its tests:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store { return memory.New() })
//	}
//
// and a durable backend also with RunReopen.
//
// # Model
//
// Run opens a fresh store for every subtest through the caller's open
// function and closes it on cleanup (Close is idempotent, so the subtests
// that close it themselves are fine). The subtests are table-driven where
// the behaviour is a table: one per documented behaviour of store.Store,
// Tx, Bucket and Cursor.
//
// # Guarantees
//
// The suite checks only what the store package documents, so a backend
// that passes is interchangeable with the others for package wal. It uses
// no sleeps as assertions; the concurrency subtests are meant to be run
// with -race.
//
// # Caveats
//
// The snapshot-isolation subtest cannot force a backend to run an Update
// alongside a View (store/memory makes the Update wait), so it gives the
// Update a bounded chance to commit and asserts the View's snapshot either
// way.
package storetest
