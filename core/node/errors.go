package node

import "errors"

// Errors of the models.
var (
	// ErrInvalidEvent is wrapped by Validate and the Parse functions for
	// every rule an event breaks; the message names the field.
	ErrInvalidEvent = errors.New("node: invalid event")
)

// Errors of the reporter.
var (
	// ErrInvalidConfig is wrapped by New for an invalid identity or option.
	ErrInvalidConfig = errors.New("node: invalid configuration")
	// ErrNotStarted is returned by Introspect before Start.
	ErrNotStarted = errors.New("node: reporter not started")
	// ErrClosed is returned by Start and Introspect after Close.
	ErrClosed = errors.New("node: reporter closed")
)
