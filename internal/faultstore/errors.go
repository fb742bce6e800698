package faultstore

import "errors"

// Errors returned by Update when a rule fires.
var (
	// ErrInjected is wrapped by every error a rule injects.
	ErrInjected = errors.New("faultstore: injected fault")
	// ErrSync is wrapped (with ErrInjected) by the fsync faults,
	// KindSyncLost and KindSyncKept.
	ErrSync = errors.New("faultstore: fsync failed")
)
