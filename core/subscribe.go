package core

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Handler handles one delivered message. Returning nil acknowledges it:
// the group's cursor moves past it. An error means the message was not
// handled: it is retried by the subscription's RetryPolicy (an error
// wrapped with Permanent skips the retries). A panic counts as an error.
// ctx is cancelled when the handler timeout passes or Close gives up
// waiting.
type Handler func(ctx context.Context, msg *Message) error

// permanentError marks a failure that retrying cannot fix.
type permanentError struct{ err error }

func (p permanentError) Error() string { return "permanent: " + p.err.Error() }
func (p permanentError) Unwrap() error { return p.err }

// Permanent wraps err so that the engine does not retry the message.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err: err}
}

// IsPermanent reports whether err was wrapped with Permanent.
func IsPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p)
}

type subConfig struct {
	start       StartPosition
	retry       RetryPolicy
	timeout     time.Duration
	ordering    Ordering
	concurrency int
	// transactional makes each handler call a transaction (txn.go).
	transactional bool
	// readOnly is SubscribeReadOnly.
	readOnly bool
}

// Ordering says which messages of a partition may be handled at the same
// time.
type Ordering uint8

// Orderings.
const (
	// OrderPartition handles a partition's messages one at a time, in
	// offset order; a failing message holds back the partition (Kafka's
	// behaviour). The default.
	OrderPartition Ordering = iota
	// OrderKey handles messages of different keys in parallel and those of
	// one key in order: a failing message holds back only the later
	// messages of its own key. Messages without a key are independent.
	OrderKey
	// OrderNone handles messages in parallel with no order at all.
	OrderNone
)

// String returns partition, key or none.
func (o Ordering) String() string {
	switch o {
	case OrderKey:
		return "key"
	case OrderNone:
		return "none"
	}
	return "partition"
}

// SubscribeOrdering sets the ordering of the group's deliveries and, for
// OrderKey and OrderNone, how many handler calls of one partition may run
// at once (default 16). Ordering is a setting of the group: every member
// must give the same (see Subscribe).
func SubscribeOrdering(o Ordering, concurrency int) SubscribeOption {
	return func(c *subConfig) { c.ordering, c.concurrency = o, concurrency }
}

// SubscribeOption configures one subscription.
type SubscribeOption func(*subConfig)

// SubscribeStart sets where the group begins if it has no cursor yet
// (default: the bus's WithStartPosition).
func SubscribeStart(s StartPosition) SubscribeOption { return func(c *subConfig) { c.start = s } }

// SubscribeRetry sets the retry policy of the group's deliveries
// (default: the bus's WithRetry). It is a setting of the group: every
// member must give the same (see Subscribe).
func SubscribeRetry(r RetryPolicy) SubscribeOption { return func(c *subConfig) { c.retry = r } }

// SubscribeHandlerTimeout bounds each call of the handler (default: the
// bus's WithHandlerTimeout).
func SubscribeHandlerTimeout(d time.Duration) SubscribeOption {
	return func(c *subConfig) { c.timeout = d }
}

// SubscribeReadOnly declares that the handler only reads msg.Key and
// msg.Value, during the call: it never writes to their bytes or appends
// to them, and copies what it keeps past its return. The bus may then
// hand the handler Key and Value that alias the log's own bytes instead
// of a copy: it does so for records held in this process's memory (the
// memory store, store/memory, and records not yet committed on any
// store), saving a copy of each message's bytes and a third of its
// allocation (768 B to 512 for a 256 B value); on other stores (bbolt)
// it copies as without the option. The Message itself, its headers and
// strings stay the handler's own, as without the option. Writing to the
// bytes would change the message for every group and for History (a
// slice's capacity ends at its length, so an append allocates rather
// than overwrite the next record); keeping them keeps the log's memory
// they are part of alive past retention. It is a setting of the group,
// as the ordering is: every member must give the same (see Subscribe).
//
// Without the option (the default) Key and Value are the handler's own
// copy, which it may modify and keep.
func SubscribeReadOnly() SubscribeOption { return func(c *subConfig) { c.readOnly = true } }

// Subscription is one member of a consumer group, returned by Subscribe.
type Subscription struct {
	bus     *Bus
	group   *group
	pattern Pattern
	handler Handler
	cfg     subConfig
	ctx     context.Context // the bus's handler context, marked with s

	// state is the handler calls under way (its low bits) and
	// subInactive once unsubscribed, in one word so that a call starts
	// and ends with one atomic add each, without a lock: the lock pairs
	// around each call were about 10% of a delivery loop's own work.
	state atomic.Int64
	// mu protects idle and idleAt. A call that ends after Unsubscribe
	// takes it (see endCall), and Unsubscribe reads the count under it:
	// so either the call's critical section comes first and Unsubscribe
	// reads the lower count, or it comes after and finds idle to close.
	mu     sync.Mutex
	idle   chan struct{} // closed when the calls drop to idleAt; made by a waiting Unsubscribe
	idleAt int64         // 1 when Unsubscribe runs inside one of the calls, else 0

	// releaseHold ends the retention hold Subscribe took for the group
	// (WithSubscribersHoldRetention), or is nil. Set before s is
	// published, called once by the Unsubscribe that deactivates s.
	releaseHold func()
}

// subInactive is the bit of Subscription.state set by Unsubscribe; the
// bits below it count the calls under way.
const subInactive = int64(1) << 62

// calls returns the handler calls under way in state v.
func calls(v int64) int64 { return v &^ subInactive }

// endCall counts a call as ended, and wakes a waiting Unsubscribe once
// the calls it waits for are over.
func (s *Subscription) endCall() {
	if v := s.state.Add(-1); v&subInactive != 0 {
		s.mu.Lock()
		if s.idle != nil && calls(s.state.Load()) <= s.idleAt {
			close(s.idle)
			s.idle = nil
		}
		s.mu.Unlock()
	}
}

type subscriptionKey struct{}

// Group returns the consumer group the subscription is a member of.
func (s *Subscription) Group() string { return s.group.name }

// Pattern returns the topic or pattern subscribed to.
func (s *Subscription) Pattern() string { return s.pattern.String() }

// Subscribe adds a member to a consumer group on the topics matching
// pattern (a topic name, or a pattern where `*` matches one segment and
// `**` any number). Every group receives every message of its topics;
// inside a group, each partition is delivered to one member at a time, in
// order. Topics created later that match the pattern are picked up.
//
// A group with no cursor on a partition begins at the start position
// (SubscribeStart); partitions of topics created after the group
// subscribed begin at their first message.
//
// The retry policy, the ordering (with its concurrency) and
// SubscribeReadOnly are settings of the group, not of a member: the
// first member of a group sets them, and a member joining with different
// ones is refused with an error wrapping ErrGroupSettings. Once the last
// member has left, the next one sets them anew. The start position and
// the handler timeout are the member's own.
//
// ctx bounds only the call: the subscription lives until Unsubscribe or
// Close, whatever happens to ctx afterwards.
//
// It returns ErrClosed, ErrNilHandler, an error wrapping
// ErrInvalidPattern, ErrInvalidGroup or ErrGroupSettings,
// ErrInvalidConfig for bad options, or ErrGroupInUse while Kafka-protocol
// members hold the group.
func (b *Bus) Subscribe(ctx context.Context, pattern, groupName string, h Handler, opts ...SubscribeOption) (*Subscription, error) {
	if b.closed.Load() {
		return nil, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if h == nil {
		return nil, ErrNilHandler
	}
	if groupName == "" || len(groupName) > 255 || strings.ContainsRune(groupName, 0) {
		return nil, fmt.Errorf("%w: %q must be 1-255 bytes without NUL", ErrInvalidGroup, groupName)
	}
	p, err := CompilePattern(pattern)
	if err != nil {
		return nil, err
	}
	cfg := subConfig{start: b.cfg.start, retry: b.cfg.retry, timeout: b.cfg.handlerTimeout, concurrency: 16}
	for _, o := range opts {
		if o == nil {
			return nil, fmt.Errorf("%w: nil SubscribeOption", ErrInvalidConfig)
		}
		o(&cfg)
	}
	if err := cfg.retry.validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	if cfg.ordering > OrderNone || cfg.concurrency < 1 || cfg.concurrency > 10_000 {
		return nil, fmt.Errorf("%w: ordering %v with concurrency %d (want 1-10000)", ErrInvalidConfig, cfg.ordering, cfg.concurrency)
	}
	if cfg.timeout < 0 {
		return nil, fmt.Errorf("%w: handler timeout %v is negative", ErrInvalidConfig, cfg.timeout)
	}

	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed.Load() {
		return nil, ErrClosed
	}
	if err := b.checkClaimLocked(groupName); err != nil {
		return nil, err
	}
	g := b.groups[groupName]
	if g == nil {
		g = newGroup(groupName)
		b.groups[groupName] = g
	}
	settings := groupSettings{retry: cfg.retry, ordering: cfg.ordering, concurrency: cfg.concurrency, readOnly: cfg.readOnly}
	if len(g.members) > 0 && g.settings != settings {
		return nil, fmt.Errorf("%w: group %s has %s, this member asks for %s", ErrGroupSettings, groupName, g.settings, settings)
	}
	g.settings = settings
	s := &Subscription{bus: b, group: g, pattern: p, handler: h, cfg: cfg}
	if b.cfg.subscribersHold {
		// Before any loop of the group starts: no retention round can
		// drop what the group is about to read. Holds of one group nest,
		// one per member.
		release, err := b.log.HoldRetentionOf(groupName, p.Match)
		if err != nil {
			return nil, fmt.Errorf("onexbus: subscribe %s to %s: hold retention: %w", groupName, pattern, b.wrapLogErr(err))
		}
		s.releaseHold = release
	}
	s.ctx = context.WithValue(b.handlerCtx, subscriptionKey{}, s)
	g.members = append(g.members, s)
	b.subs++
	for _, topic := range b.log.Topics() {
		if !p.Match(topic) {
			continue
		}
		tc, _ := b.log.Topic(topic)
		for part := int32(0); part < tc.Partitions; part++ {
			if err := g.ensureLoopLocked(b, topic, part, cfg.start, s); err != nil {
				g.removeLocked(s)
				b.subs--
				g.rebalanceLocked() // retires the loops started for s
				if s.releaseHold != nil {
					s.releaseHold()
				}
				return nil, err
			}
		}
	}
	g.rebalanceLocked()
	return s, nil
}

// Unsubscribe stops delivery to this member: once it returns, the handler
// is not called again, and the member's partitions go to the group's
// other members. It waits for a call under way (bounded by ctx), except
// when called from inside the subscription's own handler. A second call
// does nothing and returns nil.
func (s *Subscription) Unsubscribe(ctx context.Context) error {
	b := s.bus
	b.mu.Lock()
	wasActive := s.state.Or(subInactive)&subInactive == 0
	if wasActive {
		s.group.removeLocked(s)
		b.subs--
		s.group.rebalanceLocked()
	}
	b.mu.Unlock()
	if wasActive && s.releaseHold != nil {
		// The group's other members hold their own; with none left,
		// the group's unconsumed messages may go by retention.
		s.releaseHold()
	}
	if !wasActive || ctx.Value(subscriptionKey{}) == s {
		return nil
	}
	// No call starts once inactive: wait for the count to drop to 0, or
	// to 1 when this goroutine is inside one of the calls (whatever ctx
	// it passed): that one cannot end while we wait.
	own := int64(0)
	if slot, ok := b.callerSlot(); ok && slot.calling.Load() == s {
		own = 1
	}
	s.mu.Lock()
	if calls(s.state.Load()) <= own {
		s.mu.Unlock()
		return nil
	}
	if s.idle == nil {
		s.idle = make(chan struct{})
		s.idleAt = own
	}
	idle := s.idle
	s.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("onexbus: unsubscribe: waiting for the handler: %w", ctx.Err())
	}
}

var errNotActive = errors.New("onexbus: subscription not active")

// call runs the handler once for msg on the handler goroutine of slot,
// turning a panic into an error.
func (s *Subscription) call(msg *Message, d DeliveryInfo, slot *handlerSlot, ctxBuf *deliveryContext) (err error) {
	// A call counted before Unsubscribe set the bit is waited for; one
	// that finds the bit set takes its count back and does not run.
	if s.state.Add(1)&subInactive != 0 {
		s.endCall()
		return errNotActive
	}
	slot.calling.Store(s)
	defer func() {
		slot.calling.Store(nil)
		s.endCall()
	}()

	ctx := withDeliveryIn(s.ctx, ctxBuf, d)
	if s.cfg.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, s.cfg.timeout)
		defer cancel()
	}
	hctx, end := s.bus.handlerContext(ctx, msg, d)
	if end != nil {
		defer func() { end(err) }() // after the recover below: sees a panic as its error
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %v", errHandlerPanicked, r)
		}
	}()
	err = s.handler(hctx, msg)
	if err == nil && ctx.Err() != nil && s.ctx.Err() == nil {
		// The handler returned success after its deadline: the work may
		// be incomplete, so it counts as a failure.
		err = fmt.Errorf("onexbus: handler ran past its timeout %v: %w", s.cfg.timeout, ctx.Err())
	}
	return err
}
