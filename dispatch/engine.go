package dispatch

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/hashicorp/go-hclog"

	"github.com/onexbus/onexbus/core"
)

// Limits of registrations, as the original models had them.
const (
	MaxIDLen      = 200
	MaxPatternLen = 500
	MinPriority   = -1000
	MaxPriority   = 1000
)

// HandlerFunc handles one message and returns its outputs: messages to
// publish (each with its Topic set). It must honour ctx, which ends at the
// dispatcher's timeout.
type HandlerFunc func(ctx context.Context, m *core.Message) ([]*core.Message, error)

// Dispatcher is a registered handler.
type Dispatcher struct {
	// ID names the dispatcher (1-200 characters), unique in an engine.
	ID string
	// Category is the category of messages it handles.
	Category core.Category
	// MessageTypes, when not empty, are the only message types it takes.
	MessageTypes []string
	// Handler does the work.
	Handler HandlerFunc
	// Timeout bounds one call (default: the engine's, 30 s) through the
	// handler's context: a handler that ignores ctx is not cut off, but
	// its result after the deadline counts as a timeout.
	Timeout time.Duration
}

// Route sends messages to a dispatcher.
type Route struct {
	// ID names the route (1-200 characters), unique in an engine.
	ID string
	// TopicPattern selects topics: a name or a pattern (`*` one segment,
	// `**` any number), at most 500 characters.
	TopicPattern string
	// Category must be the message's (from its topic).
	Category core.Category
	// MessageType, when set, must be the message's event_type.
	MessageType string
	// DispatcherID names the dispatcher the route sends to.
	DispatcherID string
	// Priority orders routes, higher first (-1000..1000); ties keep
	// registration order.
	Priority int
	// Disabled routes are skipped (routes are enabled by default).
	Disabled bool
}

// Publisher publishes a dispatch's outputs; *core.Bus is one.
type Publisher interface {
	// PublishBatch durably publishes msgs and sets their positions.
	PublishBatch(ctx context.Context, msgs []*core.Message) error
}

// Engine routes messages to dispatchers. Build it with New, register
// dispatchers and routes, Freeze it, then Dispatch (from any number of
// goroutines).
type Engine struct {
	pub Publisher
	cfg config

	mu          sync.Mutex // protects the table until frozen
	frozen      atomic.Bool
	dispatchers map[string]*Dispatcher
	routes      []*compiledRoute // sorted by priority at Freeze

	stats stats
}

type compiledRoute struct {
	Route
	pattern core.Pattern
	seq     int
	target  *Dispatcher
}

type config struct {
	timeout  time.Duration
	registry *Registry
	logger   hclog.Logger
	observer Observer
}

// Option configures an Engine.
type Option func(*config)

// WithTimeout sets the default dispatcher timeout (30 s).
func WithTimeout(d time.Duration) Option { return func(c *config) { c.timeout = d } }

// WithRegistry checks every message against r (see Registry).
func WithRegistry(r *Registry) Option { return func(c *config) { c.registry = r } }

// WithLogger logs through l (default: nothing).
func WithLogger(l hclog.Logger) Option {
	return func(c *config) {
		if l != nil {
			c.logger = l
		}
	}
}

// WithObserver reports every dispatch to o (metrics, tracing).
func WithObserver(o Observer) Option { return func(c *config) { c.observer = o } }

// Observer is told of every dispatch, after it ended, without locks held.
type Observer interface {
	// OnDispatch receives the dispatch's result.
	OnDispatch(r *Result)
}

// New builds an engine that publishes outputs through pub.
func New(pub Publisher, opts ...Option) (*Engine, error) {
	if pub == nil {
		return nil, fmt.Errorf("%w: nil publisher", ErrInvalid)
	}
	cfg := config{timeout: 30 * time.Second, logger: hclog.NewNullLogger()}
	for i, o := range opts {
		if o == nil {
			return nil, fmt.Errorf("%w: option %d is nil", ErrInvalid, i)
		}
		o(&cfg)
	}
	if cfg.timeout <= 0 {
		return nil, fmt.Errorf("%w: timeout %v must be positive", ErrInvalid, cfg.timeout)
	}
	e := &Engine{pub: pub, cfg: cfg, dispatchers: map[string]*Dispatcher{}}
	e.stats.init()
	return e, nil
}

func validID(kind, id string) error {
	if id == "" || len(id) > MaxIDLen {
		return fmt.Errorf("%w: %s id %q must have 1 to %d characters", ErrInvalid, kind, id, MaxIDLen)
	}
	return nil
}

// RegisterDispatcher adds d. It returns ErrFrozen after Freeze,
// ErrDuplicate for an id already registered, and ErrInvalid for an empty
// id, a nil handler or a negative timeout.
func (e *Engine) RegisterDispatcher(d Dispatcher) error {
	if err := validID("dispatcher", d.ID); err != nil {
		return err
	}
	if d.Handler == nil {
		return fmt.Errorf("%w: dispatcher %q has no handler", ErrInvalid, d.ID)
	}
	if d.Timeout < 0 {
		return fmt.Errorf("%w: dispatcher %q timeout %v is negative", ErrInvalid, d.ID, d.Timeout)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.frozen.Load() {
		return fmt.Errorf("%w: register dispatcher %q", ErrFrozen, d.ID)
	}
	if _, ok := e.dispatchers[d.ID]; ok {
		return fmt.Errorf("%w: dispatcher %q", ErrDuplicate, d.ID)
	}
	if d.Timeout == 0 {
		d.Timeout = e.cfg.timeout
	}
	d.MessageTypes = slices.Clone(d.MessageTypes)
	e.dispatchers[d.ID] = &d
	return nil
}

// RegisterRoute adds r. It returns ErrFrozen after Freeze, ErrDuplicate
// for an id already registered, and ErrInvalid for a bad id, pattern or
// priority. The dispatcher it names is checked by Freeze.
func (e *Engine) RegisterRoute(r Route) error {
	if err := validID("route", r.ID); err != nil {
		return err
	}
	if err := validID("dispatcher", r.DispatcherID); err != nil {
		return fmt.Errorf("route %q: %w", r.ID, err)
	}
	if len(r.TopicPattern) == 0 || len(r.TopicPattern) > MaxPatternLen ||
		strings.HasPrefix(r.TopicPattern, ".") || strings.HasSuffix(r.TopicPattern, ".") {
		return fmt.Errorf("%w: route %q pattern %q must have 1 to %d characters and no leading or trailing dot", ErrInvalid, r.ID, r.TopicPattern, MaxPatternLen)
	}
	p, err := core.CompilePattern(r.TopicPattern)
	if err != nil {
		return fmt.Errorf("%w: route %q: %w", ErrInvalid, r.ID, err)
	}
	if r.Priority < MinPriority || r.Priority > MaxPriority {
		return fmt.Errorf("%w: route %q priority %d not in [%d, %d]", ErrInvalid, r.ID, r.Priority, MinPriority, MaxPriority)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.frozen.Load() {
		return fmt.Errorf("%w: register route %q", ErrFrozen, r.ID)
	}
	for _, x := range e.routes {
		if x.ID == r.ID {
			return fmt.Errorf("%w: route %q", ErrDuplicate, r.ID)
		}
	}
	e.routes = append(e.routes, &compiledRoute{Route: r, pattern: p, seq: len(e.routes)})
	return nil
}

// Freeze checks every route's dispatcher and makes the table read-only.
// It returns an error wrapping ErrUnknownDispatcher listing every route
// whose dispatcher does not exist (and then leaves the engine unfrozen),
// and ErrFrozen when called twice.
func (e *Engine) Freeze() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.frozen.Load() {
		return fmt.Errorf("%w: freeze", ErrFrozen)
	}
	var errs []error
	for _, r := range e.routes {
		d := e.dispatchers[r.DispatcherID]
		if d == nil {
			errs = append(errs, fmt.Errorf("%w: route %q names %q", ErrUnknownDispatcher, r.ID, r.DispatcherID))
			continue
		}
		r.target = d
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	slices.SortStableFunc(e.routes, func(a, b *compiledRoute) int {
		if a.Priority != b.Priority {
			return b.Priority - a.Priority
		}
		return a.seq - b.seq
	})
	e.frozen.Store(true)
	return nil
}

// Status is the outcome of a dispatch, with the original system's names.
type Status string

// Statuses.
const (
	StatusSuccess       Status = "success"
	StatusRouted        Status = "routed"
	StatusNoHandler     Status = "no_handler"
	StatusNoDispatcher  Status = "no_dispatcher"
	StatusHandlerError  Status = "handler_error"
	StatusTimeout       Status = "timeout"
	StatusInvalid       Status = "invalid_message"
	StatusPublishFailed Status = "publish_failed"
	StatusSkipped       Status = "skipped"
	StatusInternalError Status = "internal_error"
)

// Output is where a dispatch published one output.
type Output struct {
	Topic     string
	Partition int32
	Offset    int64
}

// Result describes one dispatch.
type Result struct {
	// DispatchID identifies this dispatch.
	DispatchID uuid.UUID
	// Status is the outcome; Err says why for every status but success.
	Status Status
	Err    error
	// RouteID is the first matching route; DispatcherIDs every dispatcher
	// that ran, in order.
	RouteID       string
	DispatcherIDs []string
	// Topic, Category and MessageType describe the message.
	Topic       string
	Category    core.Category
	MessageType string
	// CorrelationID is the message's (every output carries it).
	CorrelationID uuid.UUID
	// Started and Duration time the dispatch.
	Started  time.Time
	Duration time.Duration
	// Outputs are the published outputs, in order.
	Outputs []Output
}

// Dispatch routes m to its dispatchers, runs them and publishes their
// outputs; see the package doc. It returns ErrNotFrozen (in the result's
// Err, status internal_error) before Freeze.
func (e *Engine) Dispatch(ctx context.Context, m *core.Message) *Result {
	r := &Result{DispatchID: uuid.New(), Topic: m.Topic, MessageType: m.Headers.EventType,
		CorrelationID: m.Headers.CorrelationID, Started: time.Now()}
	e.dispatch(ctx, m, r)
	r.Duration = time.Since(r.Started)
	e.stats.record(r)
	if e.cfg.observer != nil {
		e.cfg.observer.OnDispatch(r)
	}
	return r
}

func (e *Engine) dispatch(ctx context.Context, m *core.Message, r *Result) {
	if !e.frozen.Load() {
		r.Status, r.Err = StatusInternalError, ErrNotFrozen
		return
	}
	t, err := core.ParseTopic(m.Topic)
	if err != nil || !t.Conforms() || t.Category == core.CategoryNone {
		r.Status, r.Err = StatusInvalid, fmt.Errorf("%w: topic %q has no category", ErrInvalidMessage, m.Topic)
		return
	}
	r.Category = t.Category
	if r.MessageType == "" {
		r.Status, r.Err = StatusInvalid, fmt.Errorf("%w: no event_type header", ErrInvalidMessage)
		return
	}
	var allowed []string
	if reg := e.cfg.registry; reg != nil {
		handlers, err := reg.Handlers(r.MessageType, t.Category, t.Domain)
		if err != nil {
			r.Status, r.Err = StatusInvalid, fmt.Errorf("%w: %w", ErrInvalidMessage, err)
			return
		}
		allowed = handlers
	}
	var run []*Dispatcher
	for _, rt := range e.routes {
		if rt.Disabled || rt.Category != t.Category || (rt.MessageType != "" && rt.MessageType != r.MessageType) ||
			!rt.pattern.Match(m.Topic) {
			continue
		}
		d := rt.target
		if len(d.MessageTypes) > 0 && !slices.Contains(d.MessageTypes, r.MessageType) {
			continue
		}
		if d.Category != t.Category || slices.Contains(run, d) || (allowed != nil && !slices.Contains(allowed, d.ID)) {
			continue
		}
		if r.RouteID == "" {
			r.RouteID = rt.ID
		}
		run = append(run, d)
	}
	if len(run) == 0 {
		r.Status, r.Err = StatusNoDispatcher, fmt.Errorf("%w: topic %q, category %s, type %q", ErrNoDispatcher, m.Topic, t.Category, r.MessageType)
		return
	}
	var outputs []*core.Message
	var errs []error
	timedOut := false
	for _, d := range run {
		r.DispatcherIDs = append(r.DispatcherIDs, d.ID)
		outs, err := e.call(ctx, d, m)
		if err != nil {
			if errors.Is(err, ErrTimeout) {
				timedOut = true
			}
			errs = append(errs, fmt.Errorf("%s: %w", d.ID, err))
			continue
		}
		for i, o := range outs {
			if o == nil || o.Topic == "" {
				errs = append(errs, fmt.Errorf("%s: output %d has no topic", d.ID, i))
				continue
			}
			prepareOutput(o, m, d.ID, i)
			outputs = append(outputs, o)
		}
	}
	switch {
	case timedOut:
		r.Status, r.Err = StatusTimeout, errors.Join(errs...)
		return
	case len(errs) > 0:
		r.Status, r.Err = StatusHandlerError, errors.Join(errs...)
		return
	}
	if len(outputs) > 0 {
		if err := e.pub.PublishBatch(ctx, outputs); err != nil {
			r.Status, r.Err = StatusPublishFailed, fmt.Errorf("%w: %w", ErrPublish, err)
			return
		}
		for _, o := range outputs {
			r.Outputs = append(r.Outputs, Output{Topic: o.Topic, Partition: o.Partition, Offset: o.Offset})
		}
	}
	r.Status = StatusSuccess
}

// call runs one dispatcher under its timeout; a panic is an error.
func (e *Engine) call(ctx context.Context, d *Dispatcher, m *core.Message) (outs []*core.Message, err error) {
	ctx, cancel := context.WithTimeout(ctx, d.Timeout)
	defer cancel()
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("dispatcher panicked: %v", p)
		}
	}()
	deadline, _ := ctx.Deadline()
	outs, err = d.Handler(ctx, m)
	if errors.Is(ctx.Err(), context.DeadlineExceeded) && !time.Now().Before(deadline) {
		return nil, fmt.Errorf("%w after %v", ErrTimeout, d.Timeout)
	}
	return outs, err
}

// prepareOutput gives an output the input's correlation id and, when it
// has none, a message id derived from the input's and the dispatcher's,
// so a retried dispatch publishes the same ids and dedup keeps one copy.
func prepareOutput(o, in *core.Message, dispatcher string, i int) {
	if o.Headers.CorrelationID == uuid.Nil {
		o.Headers.CorrelationID = in.Headers.CorrelationID
	}
	if o.Headers.MessageID == uuid.Nil {
		h := sha256.Sum256([]byte(in.Headers.MessageID.String() + "\x00" + dispatcher + "\x00" + strconv.Itoa(i)))
		id, _ := uuid.FromBytes(h[:16])
		id[6] = id[6]&0x0f | 0x80 // version 8
		id[8] = id[8]&0x3f | 0x80
		o.Headers.MessageID = id
	}
}

// Handler adapts the engine to a subscription: success acks; a handler
// error, a timeout or a failed publish is retried by the subscription's
// policy; a message that no dispatcher takes, or an invalid one, is
// dead-lettered at once (core.Permanent) with its reason.
func (e *Engine) Handler() core.Handler {
	return func(ctx context.Context, m *core.Message) error {
		r := e.Dispatch(ctx, m)
		if ctx.Err() != nil && r.Status != StatusSuccess {
			// The bus is stopping (or the subscription's own timeout
			// ended it): give the message back rather than spend an
			// attempt on the shutdown.
			if errors.Is(ctx.Err(), context.Canceled) {
				return core.ErrReleased
			}
		}
		switch r.Status {
		case StatusSuccess, StatusRouted, StatusSkipped:
			return nil
		case StatusNoDispatcher, StatusNoHandler, StatusInvalid:
			return core.Permanent(r.Err)
		}
		return r.Err
	}
}
