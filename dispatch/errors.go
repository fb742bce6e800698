package dispatch

import "errors"

// Errors of registration.
var (
	// ErrDuplicate is returned when a dispatcher or route id, or a
	// message type entry with a different constraint, is registered twice.
	ErrDuplicate = errors.New("dispatch: duplicate registration")
	// ErrFrozen is returned by registrations after Freeze.
	ErrFrozen = errors.New("dispatch: engine is frozen")
	// ErrNotFrozen is returned by Dispatch before Freeze.
	ErrNotFrozen = errors.New("dispatch: engine is not frozen")
	// ErrInvalid is returned for a dispatcher, route or entry that breaks
	// a rule (empty id, bad pattern, priority out of range, ...).
	ErrInvalid = errors.New("dispatch: invalid registration")
	// ErrUnknownDispatcher is returned by Freeze when a route names a
	// dispatcher that was never registered.
	ErrUnknownDispatcher = errors.New("dispatch: unknown dispatcher")
)

// Errors of the message-type registry's lookups.
var (
	// ErrUnknownType is returned for a message type with no entry.
	ErrUnknownType = errors.New("dispatch: unknown message type")
	// ErrTypeDisabled is returned for a type whose entry is disabled.
	ErrTypeDisabled = errors.New("dispatch: message type disabled")
	// ErrCategoryNotAllowed is returned when a type travels in a category
	// its entry does not allow.
	ErrCategoryNotAllowed = errors.New("dispatch: category not allowed for the message type")
	// ErrDomainNotAllowed is returned when a domain may not consume a type.
	ErrDomainNotAllowed = errors.New("dispatch: domain not allowed for the message type")
	// ErrConstraintConflict is returned when a type is registered again
	// with a different domain constraint or categories.
	ErrConstraintConflict = errors.New("dispatch: message type registered with a different constraint")
)

// Errors a dispatch reports (in Result.Err) and Engine.Handler returns.
var (
	// ErrNoDispatcher: no enabled route and dispatcher takes the message.
	ErrNoDispatcher = errors.New("dispatch: no dispatcher for the message")
	// ErrInvalidMessage: the message has no category, no type the
	// registry accepts, or breaks the registry's rules.
	ErrInvalidMessage = errors.New("dispatch: invalid message")
	// ErrTimeout: a dispatcher ran past its timeout.
	ErrTimeout = errors.New("dispatch: dispatcher timed out")
	// ErrPublish: an output could not be published.
	ErrPublish = errors.New("dispatch: publishing an output failed")
)
