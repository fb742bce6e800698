package dlq

import (
	"errors"
	"fmt"

	"github.com/onexbus/onexbus/store"
)

// Errors of opening.
var (
	// ErrInvalidOption is wrapped by Open when an option is out of range
	// (every problem is reported at once), and by Replay for a nil
	// Republisher or ReplayOptions out of range.
	ErrInvalidOption = errors.New("dlq: invalid option")
	// ErrUnsupportedVersion is wrapped by Open when the store holds a
	// dead-letter queue written by a newer format than this package knows,
	// and by reads of a letter encoded in such a format.
	ErrUnsupportedVersion = errors.New("dlq: unsupported format version")
)

// Errors of adding.
var (
	// ErrInvalidLetter is wrapped by Add for a nil letter, an empty topic or
	// a negative attempt count.
	ErrInvalidLetter = errors.New("dlq: invalid letter")
)

// Errors of reading, removing and replaying.
var (
	// ErrNotFound is wrapped by Get when no letter has the id (it was
	// never added, or was removed, purged or replayed).
	ErrNotFound = errors.New("dlq: letter not found")
	// ErrInvalidFilter is wrapped by List, Purge and Replay for a negative
	// Filter.Limit or an Until before Since.
	ErrInvalidFilter = errors.New("dlq: invalid filter")
	// ErrCorrupt is wrapped by CorruptError. It wraps store.ErrCorrupt, so
	// errors.Is(err, store.ErrCorrupt) holds too.
	ErrCorrupt = fmt.Errorf("dlq: corrupt letter: %w", store.ErrCorrupt)
)

// CorruptError reports a stored letter (or the queue's metadata, with ID
// 0) that failed its checksum or did not decode. Remove deletes a letter
// without decoding it, so a corrupt letter can always be removed by id.
type CorruptError struct {
	// ID is the id of the damaged letter; 0 for the queue's metadata.
	ID uint64
	// Reason says which check failed.
	Reason string
}

// Error implements error.
func (e *CorruptError) Error() string {
	if e.ID == 0 {
		return "dlq: corrupt metadata: " + e.Reason
	}
	return fmt.Sprintf("dlq: corrupt letter %d: %s", e.ID, e.Reason)
}

// Unwrap makes errors.Is(err, ErrCorrupt) and errors.Is(err,
// store.ErrCorrupt) true.
func (e *CorruptError) Unwrap() error { return ErrCorrupt }
