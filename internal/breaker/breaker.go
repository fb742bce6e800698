// Package breaker is the one three-state circuit breaker of onexbus, used
// by core (per (topic, group) subscriber) and by transport/kafka (per
// upstream cluster).
//
// # Model
//
// Closed lets every call through and counts consecutive failures; at
// Policy.Threshold it opens. Open lets nothing through until
// Policy.ResetTimeout has passed since it opened (elapsed time on the
// monotonic clock: a step of the wall clock, back or forward, neither
// extends nor shortens the wait); then the next caller becomes the one
// half-open probe (the breaker reports HalfOpen) and every
// other caller waits. The probe's success closes the breaker; its failure
// opens it again for another ResetTimeout. Only the probe decides a
// half-open breaker: a call let through while closed that reports after
// the breaker opened is ignored (its Pass carries the epoch it was
// granted in), so a burst of failures that were already in flight neither
// re-opens nor closes it.
//
// # Use
//
// Acquire never blocks: it returns a Pass, or the channel that is closed
// at the next state change and the time until the breaker half-opens.
// Wait blocks on the same rules until a Pass or the context's end. Every
// Pass that was granted (OK) must be given back exactly once, with
// Release when the call ran or Cancel when it did not.
//
// A Breaker is safe for concurrent use. OnChange callbacks run after the
// breaker's lock is released, on the goroutine that caused the change.
package breaker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// State is the state of a breaker.
type State uint8

// States.
const (
	// Closed lets calls through.
	Closed State = iota
	// Open lets no call through until the reset timeout has passed.
	Open
	// HalfOpen lets one probe call through at a time.
	HalfOpen
)

// String returns closed, open or half-open.
func (s State) String() string {
	switch s {
	case Closed:
		return "closed"
	case Open:
		return "open"
	case HalfOpen:
		return "half-open"
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

// Policy configures a breaker.
type Policy struct {
	// Threshold is the number of consecutive failures that opens the
	// breaker; 0 disables it (every call passes, it never opens, Trip
	// does nothing).
	Threshold int
	// ResetTimeout is how long the breaker stays open before it lets a
	// probe through.
	ResetTimeout time.Duration
}

// MaxThreshold and MaxResetTimeout bound a Policy.
const (
	MaxThreshold    = 1_000_000
	MaxResetTimeout = 24 * time.Hour
)

// ErrInvalidPolicy is wrapped by Policy.Validate.
var ErrInvalidPolicy = errors.New("breaker: invalid policy")

// Validate reports every field out of range, wrapping ErrInvalidPolicy:
// Threshold in [0, MaxThreshold], and when Threshold > 0, ResetTimeout in
// (0, MaxResetTimeout].
func (p Policy) Validate() error {
	var errs []error
	if p.Threshold < 0 || p.Threshold > MaxThreshold {
		errs = append(errs, fmt.Errorf("%w: threshold %d not in [0, %d]", ErrInvalidPolicy, p.Threshold, MaxThreshold))
	}
	if p.Threshold != 0 && (p.ResetTimeout <= 0 || p.ResetTimeout > MaxResetTimeout) {
		errs = append(errs, fmt.Errorf("%w: reset timeout %v not in (0, %v]", ErrInvalidPolicy, p.ResetTimeout, MaxResetTimeout))
	}
	return errors.Join(errs...)
}

// Change describes one state change, for OnChange.
type Change struct {
	From, To State
	// Failures is the run of consecutive failures after the change.
	Failures int
	// Cause is the failure that caused the change, if one did (nil on a
	// half-open, a close, a Trip or a Reset).
	Cause error
}

// Option configures a Breaker.
type Option func(*Breaker)

// WithOnChange calls fn after every state change, without the breaker's
// lock held. Calls from concurrent changes may arrive in any order.
func WithOnChange(fn func(Change)) Option { return func(b *Breaker) { b.onChange = fn } }

// Breaker is a three-state circuit breaker; see the package doc.
type Breaker struct {
	policy   Policy
	onChange func(Change)

	mu       sync.Mutex // protects the fields below
	state    State
	failures int
	opens    int
	openedAt time.Time     // from time.Now, with its monotonic reading
	probing  bool          // a half-open probe is under way
	epoch    uint64        // counts state changes
	changed  chan struct{} // closed and replaced at every state change and probe end

	// clean is epoch+1 while the state is Closed with no failure in the
	// current run, and 0 otherwise; written under mu (publishLocked),
	// read without it. It is the lock-free path of a delivery's two
	// calls in the common case: Acquire grants the pass a locked Acquire
	// would, and Release of a success with that epoch has nothing to
	// change (failures is already 0), so it returns at once, as if it
	// had taken the lock just before any concurrent failure.
	clean atomic.Uint64
}

// New returns a closed breaker with policy p, which the caller validated.
func New(p Policy, opts ...Option) *Breaker {
	b := &Breaker{policy: p, changed: make(chan struct{})}
	b.clean.Store(1) // closed, no failure, epoch 0
	for _, o := range opts {
		if o != nil {
			o(b)
		}
	}
	return b
}

// Pass is what Acquire grants: a call in the closed state, or the one
// half-open probe. The zero Pass is not granted.
type Pass struct {
	ok    bool
	probe bool
	epoch uint64 // the breaker's epoch when granted
}

// OK reports whether the call may go ahead.
func (p Pass) OK() bool { return p.ok }

// Probe reports whether the call is the half-open probe.
func (p Pass) Probe() bool { return p.probe }

// Acquire asks to make a call. When the call may go ahead it returns a
// granted Pass; otherwise a channel that is closed at the next state
// change (or when a probe ends) and how long until the breaker may
// half-open (0 when a probe is under way).
func (b *Breaker) Acquire() (Pass, <-chan struct{}, time.Duration) {
	if b.policy.Threshold == 0 {
		return Pass{ok: true}, nil, 0
	}
	if e := b.clean.Load(); e != 0 {
		return Pass{ok: true, epoch: e - 1}, nil, 0
	}
	var ch *Change
	defer func() { b.notify(ch) }()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state == Open {
		wait := b.policy.ResetTimeout - time.Since(b.openedAt)
		if wait > 0 {
			return Pass{}, b.changed, wait
		}
		ch = b.setLocked(HalfOpen, nil)
	}
	if b.state == HalfOpen {
		if b.probing {
			return Pass{}, b.changed, 0
		}
		b.probing = true
		return Pass{ok: true, probe: true, epoch: b.epoch}, nil, 0
	}
	return Pass{ok: true, epoch: b.epoch}, nil, 0
}

// Wait blocks until Acquire grants a Pass, or ctx ends (then the zero
// Pass and ctx's error).
func (b *Breaker) Wait(ctx context.Context) (Pass, error) {
	for {
		p, changed, wait := b.Acquire()
		if p.ok {
			return p, nil
		}
		var timer <-chan time.Time
		if wait > 0 {
			t := time.NewTimer(wait)
			timer = t.C
			defer t.Stop()
		}
		select {
		case <-changed:
		case <-timer:
		case <-ctx.Done():
			return Pass{}, ctx.Err()
		}
	}
}

// Release reports the outcome of a call that p let through; cause is the
// failure (nil on success), passed to OnChange.
func (b *Breaker) Release(p Pass, ok bool, cause error) {
	if b.policy.Threshold == 0 || !p.ok {
		return
	}
	if ok && !p.probe && b.clean.Load() == p.epoch+1 {
		return // closed, no failure, same epoch: nothing to change
	}
	var ch *Change
	defer func() { b.notify(ch) }()
	b.mu.Lock()
	defer b.mu.Unlock()
	if p.probe {
		b.probing = false
		if ok {
			b.failures = 0
			ch = b.setLocked(Closed, nil)
			return
		}
		b.failures++
		ch = b.openLocked(cause)
		return
	}
	if p.epoch != b.epoch || b.state != Closed {
		return // granted before the breaker last changed: not its say
	}
	if ok {
		b.failures = 0
		b.publishLocked()
		return
	}
	b.failures++
	b.publishLocked()
	if b.failures >= b.policy.Threshold {
		ch = b.openLocked(cause)
	}
}

// Cancel gives back a Pass whose call did not run.
func (b *Breaker) Cancel(p Pass) {
	if !p.probe {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.probing = false
	b.wakeLocked()
}

// Trip opens a closed or half-open breaker at once, as if the threshold
// had been reached (a call that hangs rather than fails, for instance).
// An open breaker is left as it is.
func (b *Breaker) Trip(cause error) {
	if b.policy.Threshold == 0 {
		return
	}
	var ch *Change
	defer func() { b.notify(ch) }()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state == Open {
		return
	}
	b.failures = max(b.failures, b.policy.Threshold)
	b.probing = false
	ch = b.openLocked(cause)
}

// Reset closes an open or half-open breaker by hand; it returns true if it
// changed the state.
func (b *Breaker) Reset() bool {
	var ch *Change
	defer func() { b.notify(ch) }()
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.state == Closed {
		return false
	}
	b.failures = 0
	b.probing = false
	ch = b.setLocked(Closed, nil)
	return true
}

// Snapshot is a breaker's state at one moment.
type Snapshot struct {
	State State
	// Failures is the current run of consecutive failures.
	Failures int
	// Opens counts how many times the breaker opened.
	Opens int
}

// Snapshot returns the breaker's state. An open breaker whose reset
// timeout has passed reports Open until a caller asks to pass.
func (b *Breaker) Snapshot() Snapshot {
	b.mu.Lock()
	defer b.mu.Unlock()
	return Snapshot{State: b.state, Failures: b.failures, Opens: b.opens}
}

// State returns the breaker's state.
func (b *Breaker) State() State { return b.Snapshot().State }

func (b *Breaker) openLocked(cause error) *Change {
	b.opens++
	b.openedAt = time.Now()
	return b.setLocked(Open, cause)
}

func (b *Breaker) setLocked(s State, cause error) *Change {
	c := &Change{From: b.state, To: s, Cause: cause}
	b.state = s
	b.epoch++
	b.publishLocked()
	b.wakeLocked()
	c.Failures = b.failures
	return c
}

// publishLocked sets clean from the state, the failures and the epoch;
// every change of one of them calls it.
func (b *Breaker) publishLocked() {
	if b.state == Closed && b.failures == 0 {
		b.clean.Store(b.epoch + 1)
	} else {
		b.clean.Store(0)
	}
}

func (b *Breaker) wakeLocked() {
	close(b.changed)
	b.changed = make(chan struct{})
}

func (b *Breaker) notify(c *Change) {
	if c != nil && b.onChange != nil {
		b.onChange(*c)
	}
}
