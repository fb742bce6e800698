package core

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// DeliveryInfo describes the delivery a handler is running.
type DeliveryInfo struct {
	// Group is the consumer group the message is delivered to.
	Group string
	// Attempt is the number of this delivery, from 1: a message retried
	// twice is delivered with Attempt 3. It counts the attempts the log
	// stored, so it survives restarts.
	Attempt int

	txn *Txn // the call's transaction (SubscribeTransactional), or nil
}

type deliveryInfoKey struct{}

// Delivery returns the DeliveryInfo of the handler call whose context is
// ctx, and false for any other context.
func Delivery(ctx context.Context) (DeliveryInfo, bool) {
	d, ok := ctx.Value(deliveryInfoKey{}).(DeliveryInfo)
	return d, ok
}

// withDeliveryIn returns ctx carrying d for Delivery, built in buf (room
// the delivery loop allocated with the message; nil: a new one).
func withDeliveryIn(ctx context.Context, buf *deliveryContext, d DeliveryInfo) context.Context {
	if buf == nil {
		buf = new(deliveryContext)
	}
	*buf = deliveryContext{Context: ctx, info: d}
	return buf
}

// deliveryContext is context.WithValue(ctx, deliveryInfoKey{}, info) in
// one allocation instead of two (the value context and the boxed
// DeliveryInfo): a handler call makes one. The boxing happens only when
// Delivery asks. Cancellation, deadline and every other value are the
// parent's, so the context package still finds the parent's cancelCtx
// (its Value answers the package's own key) and WithCancel or WithTimeout
// on it need no goroutine.
type deliveryContext struct {
	context.Context
	info DeliveryInfo
}

// Value implements context.Context.
func (c *deliveryContext) Value(key any) any {
	if _, ok := key.(deliveryInfoKey); ok {
		return c.info
	}
	return c.Context.Value(key)
}

// String names the context as context.WithValue's does, for debugging.
func (c *deliveryContext) String() string {
	return fmt.Sprintf("%v.WithValue(core.deliveryInfoKey, %v)", c.Context, c.info)
}

// retryAfterError asks for a retry no sooner than after.
type retryAfterError struct {
	err   error
	after time.Duration
}

func (r retryAfterError) Error() string { return r.err.Error() }
func (r retryAfterError) Unwrap() error { return r.err }

// RetryAfter wraps a handler's error so that the message is retried no
// sooner than d from now: the retry waits for the longer of d and the
// retry policy's backoff. The attempt counts as any failure does. A nil
// err gives nil; d <= 0 adds nothing.
func RetryAfter(err error, d time.Duration) error {
	if err == nil || d <= 0 {
		return err
	}
	return retryAfterError{err: err, after: d}
}

// retryFloor is the least delay err asks for with RetryAfter, or 0.
func retryFloor(err error) time.Duration {
	var r retryAfterError
	if errors.As(err, &r) {
		return r.after
	}
	return 0
}
