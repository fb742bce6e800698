package core

import (
	"context"
	"errors"

	"github.com/onexbus/onexbus/wal"
)

// errNoDeadLetterQueue holds messages that used up their attempts until a
// dead-letter queue is configured.
var errNoDeadLetterQueue = errors.New("onexbus: no dead-letter queue")

// deadLetter stores m in the dead-letter queue with its provenance and
// publishes it to the dead-letter topic; nil only once both are durable.
func (b *Bus) deadLetter(ctx context.Context, m *Message, group string, a wal.Attempt, cause error) error {
	return errNoDeadLetterQueue
}
