package watermill

import (
	"errors"
	"fmt"

	"github.com/onexbus/onexbus/core"
)

// Errors of publishing.
var (
	// ErrPublisherClosed is returned by Publish after Close.
	ErrPublisherClosed = errors.New("onexbus/watermill: publisher is closed")
)

// Errors of subscribing.
var (
	// ErrSubscriberClosed is returned by Subscribe after Close.
	ErrSubscriberClosed = errors.New("onexbus/watermill: subscriber is closed")
	// ErrNacked is the handler error the bus sees when a Watermill message
	// is Nacked; the bus retries the message by its retry policy.
	ErrNacked = errors.New("onexbus/watermill: message nacked")
	// ErrUnacked is the handler error the bus sees when a subscription
	// ends (Close, or its Subscribe context ended) before the message in
	// hand was acknowledged; another member of the group, or the next
	// one to join, gets the message. It wraps core.ErrReleased, so the
	// bus spends no attempt on it and its breaker does not count it.
	ErrUnacked = fmt.Errorf("onexbus/watermill: subscription ended before the message was acknowledged: %w", core.ErrReleased)
)
