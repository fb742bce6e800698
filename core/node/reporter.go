package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/hashicorp/go-hclog"

	"github.com/onexbus/onexbus/core"
)

// DefaultHeartbeatInterval is the heartbeat interval of a reporter given
// none.
const DefaultHeartbeatInterval = 30 * time.Second

// Identity is what a node says about itself in every event.
type Identity struct {
	// ID is the node_id; required (not the nil UUID).
	ID uuid.UUID
	// Type is the node_type; required.
	Type Kind
	// Version is the node_version; empty means DefaultVersion.
	Version string
	// Name, Role, NetworkID and DeploymentID are optional.
	Name, Role, NetworkID, DeploymentID string
	// Capabilities, Endpoints (name to absolute URL), EventBus and
	// Metadata are copied into every introspection event.
	Capabilities Capabilities
	Endpoints    map[string]string
	EventBus     map[string]string
	Metadata     map[string]string
}

type config struct {
	interval time.Duration
	active   func() int64
	usage    func() (memMB, cpuPercent float64, ok bool)
	log      hclog.Logger
}

// Option configures New.
type Option func(*config)

// WithHeartbeatInterval sets the heartbeat interval (default
// DefaultHeartbeatInterval; 0 turns heartbeats off; otherwise 10ms..24h).
func WithHeartbeatInterval(d time.Duration) Option { return func(c *config) { c.interval = d } }

// WithActiveOperations sets the function that gives a heartbeat's
// active_operations_count (default: always 0). It is called from the
// heartbeat goroutine and must be safe for concurrent use.
func WithActiveOperations(f func() int64) Option { return func(c *config) { c.active = f } }

// WithUsage replaces the process measurement of memory_usage_mb and
// cpu_usage_percent; ok false leaves both out of the heartbeat.
func WithUsage(f func() (memMB, cpuPercent float64, ok bool)) Option {
	return func(c *config) { c.usage = f }
}

// WithLogger sets where heartbeat and request failures are logged (they
// happen on the reporter's goroutines, with nobody to return them to);
// nil discards.
func WithLogger(l hclog.Logger) Option { return func(c *config) { c.log = l } }

// Reporter publishes one node's registration events on a bus. Its
// methods are safe for concurrent use.
type Reporter struct {
	bus   *core.Bus
	id    Identity
	cfg   config
	probe *usageProbe

	// mu protects started, closed, sub, stop, reset and the start time.
	mu      sync.Mutex
	started bool
	closed  bool
	startAt time.Time
	sub     *core.Subscription
	stop    chan struct{}
	reset   chan time.Duration // buffer 1: the newest interval wins
	wg      sync.WaitGroup
}

// New returns a reporter for the node id on bus. Every problem with the
// identity and options is reported at once, wrapping ErrInvalidConfig.
func New(bus *core.Bus, id Identity, opts ...Option) (*Reporter, error) {
	cfg := config{interval: DefaultHeartbeatInterval, active: func() int64 { return 0 }}
	for _, o := range opts {
		o(&cfg)
	}
	if id.Version == "" {
		id.Version = DefaultVersion
	}
	var errs []error
	if bus == nil {
		errs = append(errs, errors.New("nil bus"))
	}
	if err := checkInterval(cfg.interval); err != nil {
		errs = append(errs, err)
	}
	if cfg.active == nil {
		errs = append(errs, errors.New("nil active operations function"))
	}
	// The identity is held to the model's rules through a sample event.
	sample := introspection(id, ReasonStartup, uuid.New(), time.Now())
	if err := sample.Validate(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, errors.Join(errs...))
	}
	if cfg.log == nil {
		cfg.log = hclog.NewNullLogger()
	}
	r := &Reporter{bus: bus, id: id, cfg: cfg}
	if cfg.usage == nil {
		r.probe = newUsageProbe()
		r.cfg.usage = r.probe.sample
	}
	return r, nil
}

func checkInterval(d time.Duration) error {
	if d != 0 && (d < 10*time.Millisecond || d > 24*time.Hour) {
		return fmt.Errorf("heartbeat interval %v not 0 or in 10ms..24h", d)
	}
	return nil
}

// GroupName is the consumer group a reporter reads RequestTopic in.
func (r *Reporter) GroupName() string { return "onex-node-" + r.id.ID.String() }

// Start publishes the startup introspection event, subscribes to
// introspection requests and starts the heartbeat. A second Start does
// nothing; Start after Close returns ErrClosed.
func (r *Reporter) Start(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case r.closed:
		return ErrClosed
	case r.started:
		return nil
	}
	r.startAt = time.Now()
	if err := r.publishIntrospection(ctx, ReasonStartup, uuid.New()); err != nil {
		return err
	}
	sub, err := r.bus.Subscribe(ctx, RequestTopic, r.GroupName(), r.handleRequest, core.SubscribeStart(core.StartLatest))
	if err != nil {
		return fmt.Errorf("node: subscribe to %s: %w", RequestTopic, err)
	}
	r.sub = sub
	r.stop = make(chan struct{})
	r.reset = make(chan time.Duration, 1)
	r.started = true
	interval := r.cfg.interval
	r.wg.Go(func() { r.beat(interval) })
	return nil
}

// SetHeartbeatInterval changes the interval of a running reporter (the
// next heartbeat is one new interval away; 0 stops heartbeats). The range
// is that of WithHeartbeatInterval.
func (r *Reporter) SetHeartbeatInterval(d time.Duration) error {
	if err := checkInterval(d); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cfg.interval = d
	if !r.started || r.closed {
		return nil
	}
	select {
	case <-r.reset:
	default:
	}
	r.reset <- d
	return nil
}

// beat publishes a heartbeat every interval until stop is closed.
func (r *Reporter) beat(interval time.Duration) {
	var tick <-chan time.Time
	var t *time.Ticker
	if interval > 0 {
		t = time.NewTicker(interval)
		tick = t.C
	}
	defer func() {
		if t != nil {
			t.Stop()
		}
	}()
	for {
		select {
		case <-r.stop:
			return
		case d := <-r.reset:
			interval = d
			if t != nil {
				t.Stop()
				t, tick = nil, nil
			}
			if d > 0 {
				t = time.NewTicker(d)
				tick = t.C
			}
		case <-tick:
			ctx, cancel := context.WithTimeout(context.Background(), max(interval, time.Second))
			if err := r.PublishHeartbeat(ctx); err != nil && !errors.Is(err, core.ErrClosed) {
				r.cfg.log.Warn("heartbeat not published", "topic", HeartbeatTopic, "error", err)
			}
			cancel()
		}
	}
}

// Heartbeat returns the node's heartbeat as of now.
func (r *Reporter) Heartbeat() Heartbeat {
	r.mu.Lock()
	start := r.startAt
	r.mu.Unlock()
	now := time.Now()
	h := Heartbeat{
		NodeID:                r.id.ID,
		NodeType:              r.id.Type,
		NodeVersion:           r.id.Version,
		ActiveOperationsCount: max(r.cfg.active(), 0),
		Timestamp:             now,
	}
	if !start.IsZero() {
		h.UptimeSeconds = max(now.Sub(start).Seconds(), 0)
	}
	if mem, cpu, ok := r.cfg.usage(); ok {
		mem, cpu = max(mem, 0), min(max(cpu, 0), 100)
		h.MemoryUsageMB, h.CPUUsagePercent = &mem, &cpu
	}
	return h
}

// PublishHeartbeat publishes one heartbeat now.
func (r *Reporter) PublishHeartbeat(ctx context.Context) error {
	h := r.Heartbeat()
	if err := h.Validate(); err != nil {
		return fmt.Errorf("node: heartbeat: %w", err)
	}
	return r.publish(ctx, HeartbeatTopic, uuid.Nil, h)
}

// Introspect publishes an introspection event with reason and correlation
// id (a fresh one when uuid.Nil). It needs Start first (ErrNotStarted).
func (r *Reporter) Introspect(ctx context.Context, reason Reason, correlationID uuid.UUID) error {
	r.mu.Lock()
	started, closed := r.started, r.closed
	r.mu.Unlock()
	switch {
	case closed:
		return ErrClosed
	case !started:
		return ErrNotStarted
	}
	if correlationID == uuid.Nil {
		correlationID = uuid.New()
	}
	return r.publishIntrospection(ctx, reason, correlationID)
}

func introspection(id Identity, reason Reason, corr uuid.UUID, now time.Time) Introspection {
	return Introspection{
		NodeID:        id.ID,
		NodeType:      id.Type,
		NodeVersion:   id.Version,
		Reason:        reason,
		Capabilities:  id.Capabilities,
		Endpoints:     maps.Clone(id.Endpoints),
		NodeName:      id.Name,
		NodeRole:      id.Role,
		NetworkID:     id.NetworkID,
		DeploymentID:  id.DeploymentID,
		EventBus:      maps.Clone(id.EventBus),
		Metadata:      maps.Clone(id.Metadata),
		CorrelationID: corr,
		Timestamp:     now,
	}
}

func (r *Reporter) publishIntrospection(ctx context.Context, reason Reason, corr uuid.UUID) error {
	e := introspection(r.id, reason, corr, time.Now())
	e.CurrentState = "running"
	if reason == ReasonShutdown {
		e.CurrentState = "stopping"
	}
	if err := e.Validate(); err != nil {
		return fmt.Errorf("node: introspection: %w", err)
	}
	return r.publish(ctx, IntrospectionTopic, corr, e)
}

// publish sends v as JSON to topic, keyed by the node id (so one node's
// events stay in order) with corr as the correlation_id header.
func (r *Reporter) publish(ctx context.Context, topic string, corr uuid.UUID, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("node: encode event for %s: %w", topic, err)
	}
	m := &core.Message{Topic: topic, Key: []byte(r.id.ID.String()), Value: body}
	m.Headers.CorrelationID = corr
	m.Headers.ContentType = "application/json"
	if _, err := r.bus.Publish(ctx, m); err != nil {
		return fmt.Errorf("node: publish to %s: %w", topic, err)
	}
	return nil
}

// Request is the body of a command on RequestTopic. Every field is
// optional; an empty body asks every node.
type Request struct {
	// NodeID, when set, names the one node that should answer.
	NodeID *uuid.UUID `json:"node_id,omitempty"`
	// CorrelationID, when set, is the correlation_id of the answer;
	// otherwise the command's correlation_id header is used.
	CorrelationID *uuid.UUID `json:"correlation_id,omitempty"`
}

// handleRequest answers one introspection request. A body that is not a
// Request is a permanent error: it is dead-lettered, never retried.
func (r *Reporter) handleRequest(ctx context.Context, m *core.Message) error {
	var req Request
	if len(m.Value) > 0 {
		if err := json.Unmarshal(m.Value, &req); err != nil {
			return core.Permanent(fmt.Errorf("node: introspection request at %s/%d@%d: %w", m.Topic, m.Partition, m.Offset, err))
		}
	}
	if req.NodeID != nil && *req.NodeID != r.id.ID {
		return nil
	}
	corr := m.Headers.CorrelationID
	if req.CorrelationID != nil {
		corr = *req.CorrelationID
	}
	err := r.Introspect(ctx, ReasonRequest, corr)
	if errors.Is(err, ErrClosed) {
		// Closing: give the request back; the next run of this node (or
		// another member of its group) answers it.
		return core.ErrReleased
	}
	return err
}

// Close stops the heartbeat, unsubscribes from requests and publishes the
// shutdown introspection event. It is idempotent: later calls return nil.
// A reporter never started publishes nothing.
func (r *Reporter) Close(ctx context.Context) error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	started := r.started
	if started {
		close(r.stop)
	}
	sub := r.sub
	r.mu.Unlock()
	if !started {
		return nil
	}
	r.wg.Wait()
	var errs []error
	if err := sub.Unsubscribe(ctx); err != nil {
		errs = append(errs, fmt.Errorf("node: unsubscribe from %s: %w", RequestTopic, err))
	}
	if err := r.publishIntrospection(ctx, ReasonShutdown, uuid.New()); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
