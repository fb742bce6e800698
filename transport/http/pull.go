package http

import (
	"context"
	"errors"
	"fmt"
	stdhttp "net/http"
	"reflect"
	"sync"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/google/uuid"

	"github.com/onexbus/onexbus/core"
)

// PullConfig declares a pull group: a consumer group of the bus whose
// deliveries clients lease over HTTP.
type PullConfig struct {
	Pattern     string `json:"pattern" minLength:"1" doc:"Topic or pattern (* one segment, ** any)."`
	Ordering    string `json:"ordering,omitempty" enum:"partition,key,none" default:"partition" doc:"partition: one lease per partition at a time; key: one per key; none: up to max_in_flight."`
	MaxInFlight int    `json:"max_in_flight,omitempty" minimum:"0" maximum:"10000" default:"16" doc:"Leases at once per partition, with key or none ordering."`
	Lease       string `json:"lease,omitempty" doc:"How long a received message is leased (Go duration; default the server's, 30s)."`
	Start       string `json:"start,omitempty" enum:"earliest,latest" default:"latest" doc:"Where a new group begins."`
	MaxAttempts int    `json:"max_attempts,omitempty" minimum:"0" maximum:"1000" doc:"Deliveries before the dead-letter queue (default the bus's)."`
	RetryBase   string `json:"retry_base,omitempty" doc:"First retry delay (Go duration; default the bus's)."`
	RetryMax    string `json:"retry_max,omitempty" doc:"Cap on retry delays (Go duration; default the bus's)."`
}

// subscribeOptions turns c into the options of the group's subscription,
// normalising c's defaults in place.
func (s *Server) subscribeOptions(c *PullConfig) (lease time.Duration, opts []core.SubscribeOption, err error) {
	if c.Ordering == "" {
		c.Ordering = "partition"
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = 16
	}
	if c.Start == "" {
		c.Start = "latest"
	}
	lease = s.cfg.defaultLease
	if c.Lease != "" {
		if lease, err = time.ParseDuration(c.Lease); err != nil || lease < time.Millisecond || lease > s.cfg.maxLease {
			return 0, nil, problemf(stdhttp.StatusBadRequest, "invalid_lease", "lease %q is not a duration in [1ms, %v]", c.Lease, s.cfg.maxLease)
		}
	}
	c.Lease = lease.String()
	var ord core.Ordering
	switch c.Ordering {
	case "partition":
		ord = core.OrderPartition
	case "key":
		ord = core.OrderKey
	case "none":
		ord = core.OrderNone
	default:
		return 0, nil, problemf(stdhttp.StatusBadRequest, "invalid_ordering", "ordering %q is not partition, key or none", c.Ordering)
	}
	start, err := core.ParseStartPosition(c.Start)
	if err != nil {
		return 0, nil, problemf(stdhttp.StatusBadRequest, "invalid_start", "start %q is not earliest or latest", c.Start)
	}
	opts = []core.SubscribeOption{
		core.SubscribeOrdering(ord, c.MaxInFlight),
		core.SubscribeStart(start),
		// The lease, not a handler timeout, bounds a delivery: a message
		// may wait any time for a client to receive it.
		core.SubscribeHandlerTimeout(0),
	}
	if c.MaxAttempts > 0 || c.RetryBase != "" || c.RetryMax != "" {
		r := core.DefaultRetryPolicy()
		if c.MaxAttempts > 0 {
			r.MaxAttempts = c.MaxAttempts
		}
		for _, f := range []struct {
			v   string
			dst *time.Duration
		}{{c.RetryBase, &r.Base}, {c.RetryMax, &r.Max}} {
			if f.v == "" {
				continue
			}
			if *f.dst, err = time.ParseDuration(f.v); err != nil || *f.dst < 0 {
				return 0, nil, problemf(stdhttp.StatusBadRequest, "invalid_retry", "%q is not a duration", f.v)
			}
		}
		opts = append(opts, core.SubscribeRetry(r))
	}
	return lease, opts, nil
}

// pullGroup parks the deliveries of one group until clients lease them.
type pullGroup struct {
	name  string
	cfg   PullConfig
	lease time.Duration
	sub   *core.Subscription

	mu      sync.Mutex           // protects ready, leased, arrived, ended, stopped
	ready   []*delivery          // waiting for a receiver, oldest first
	leased  map[string]*delivery // by lease id
	arrived chan struct{}        // closed and replaced when ready grows
	ended   chan struct{}        // closed and replaced when a lease ends
	stopped bool
}

// delivery is one parked handler call.
type delivery struct {
	msg     *core.Message
	attempt int
	done    chan error // buffer 1: the handler's result, sent once
	leaseID string
	expires time.Time
	timer   *time.Timer
}

func newPullGroup(name string, cfg PullConfig, lease time.Duration) *pullGroup {
	return &pullGroup{name: name, cfg: cfg, lease: lease, leased: map[string]*delivery{},
		arrived: make(chan struct{}), ended: make(chan struct{})}
}

// handle is the group's handler: it parks the delivery and returns what
// a client (or the lease's expiry) decides.
func (g *pullGroup) handle(ctx context.Context, m *core.Message) error {
	info, _ := core.Delivery(ctx)
	d := &delivery{msg: m, attempt: max(1, info.Attempt), done: make(chan error, 1)}
	g.mu.Lock()
	if g.stopped {
		g.mu.Unlock()
		return core.ErrReleased
	}
	g.ready = append(g.ready, d)
	close(g.arrived)
	g.arrived = make(chan struct{})
	g.mu.Unlock()
	select {
	case err := <-d.done:
		return err
	case <-ctx.Done():
		// The bus is closing: give the message back without an attempt.
		g.withdraw(d)
		return core.ErrReleased
	}
}

// withdraw takes d out of the group unless a result is already on its way.
func (g *pullGroup) withdraw(d *delivery) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for i, r := range g.ready {
		if r == d {
			g.ready = append(g.ready[:i], g.ready[i+1:]...)
			break
		}
	}
	if d.leaseID != "" && g.leased[d.leaseID] == d {
		delete(g.leased, d.leaseID)
		d.timer.Stop()
		g.endedLocked()
	}
}

// receive leases up to n ready deliveries, waiting up to wait for the
// first one.
func (g *pullGroup) receive(ctx context.Context, n int, wait time.Duration) ([]*delivery, error) {
	var deadline <-chan time.Time
	if wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		deadline = t.C
	}
	for {
		g.mu.Lock()
		if g.stopped {
			g.mu.Unlock()
			return nil, problemf(stdhttp.StatusNotFound, "pull_group_not_found", "pull group %q was deleted", g.name)
		}
		if len(g.ready) > 0 {
			k := min(n, len(g.ready))
			out := make([]*delivery, k)
			copy(out, g.ready[:k])
			g.ready = append(g.ready[:0], g.ready[k:]...)
			now := time.Now()
			for _, d := range out {
				d.leaseID = uuid.NewString()
				d.expires = now.Add(g.lease)
				g.leased[d.leaseID] = d
				d.timer = time.AfterFunc(g.lease, func() { g.expire(d) })
			}
			g.mu.Unlock()
			return out, nil
		}
		arrived := g.arrived
		g.mu.Unlock()
		if deadline == nil {
			return nil, nil
		}
		select {
		case <-arrived:
		case <-deadline:
			return nil, nil
		case <-ctx.Done():
			return nil, nil
		}
	}
}

// endedLocked wakes those waiting for a lease to end. g.mu must be held.
func (g *pullGroup) endedLocked() {
	close(g.ended)
	g.ended = make(chan struct{})
}

// expire fails a lease whose time ran out.
func (g *pullGroup) expire(d *delivery) {
	g.mu.Lock()
	if g.leased[d.leaseID] != d || time.Now().Before(d.expires) {
		// Acked meanwhile, or extended (its timer was reset).
		g.mu.Unlock()
		return
	}
	delete(g.leased, d.leaseID)
	g.endedLocked()
	g.mu.Unlock()
	d.done <- fmt.Errorf("%w (lease %s, %v)", ErrLeaseExpired, d.leaseID, g.lease)
}

// Lease results.
const (
	leaseAcked    = "acked"
	leaseNacked   = "nacked"
	leaseExtended = "extended"
	leaseUnknown  = "unknown"
)

// complete ends lease id with err (nil acks) and says what became of it:
// acked, nacked, or unknown for a lease not held (never given, already
// completed, or expired: once forgotten they look alike).
func (g *pullGroup) complete(id string, err error) string {
	g.mu.Lock()
	d := g.leased[id]
	if d == nil {
		g.mu.Unlock()
		return leaseUnknown
	}
	delete(g.leased, id)
	d.timer.Stop()
	g.endedLocked()
	g.mu.Unlock()
	d.done <- err
	if err == nil {
		return leaseAcked
	}
	return leaseNacked
}

// extend pushes lease id's expiry to now + by.
func (g *pullGroup) extend(id string, by time.Duration) (string, *time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	d := g.leased[id]
	if d == nil {
		return leaseUnknown, nil
	}
	d.expires = time.Now().Add(by)
	d.timer.Reset(by)
	exp := d.expires.UTC()
	return leaseExtended, &exp
}

// stop ends the group: waiting and leased deliveries are released (no
// attempt counted) and the subscription ends.
func (g *pullGroup) stop(ctx context.Context) error {
	g.mu.Lock()
	g.stopped = true
	parked := append([]*delivery(nil), g.ready...)
	g.ready = nil
	for id, d := range g.leased {
		d.timer.Stop()
		parked = append(parked, d)
		delete(g.leased, id)
	}
	close(g.arrived)
	g.arrived = make(chan struct{})
	g.endedLocked()
	g.mu.Unlock()
	for _, d := range parked {
		d.done <- core.ErrReleased
	}
	if err := g.sub.Unsubscribe(ctx); err != nil {
		return fmt.Errorf("http: stop pull group %s: %w", g.name, err)
	}
	return nil
}

func (d *delivery) out(group, enc string) MessageOut {
	m := messageOut(d.msg, enc)
	m.Group, m.LeaseID, m.Attempt = group, d.leaseID, d.attempt
	exp := d.expires.UTC()
	m.LeaseExpiresAt = &exp
	return m
}

type pullPutInput struct {
	Group string `path:"group"`
	Body  PullConfig
}

type pullOutput struct {
	Status int
	Body   PullConfig
}

type receiveInput struct {
	Group         string `path:"group"`
	Max           int    `query:"max" default:"10" minimum:"1" maximum:"1000"`
	Wait          string `query:"wait" default:"0s" doc:"Long poll: wait up to this long for a first message (Go duration)."`
	ValueEncoding string `query:"value_encoding" default:"auto" enum:"auto,json,text,base64"`
}

// LeaseIDs lists leases.
type LeaseIDs struct {
	LeaseIDs []string `json:"lease_ids" minItems:"1" maxItems:"10000"`
}

// NackBody fails leases.
type NackBody struct {
	LeaseIDs  []string `json:"lease_ids" minItems:"1" maxItems:"10000"`
	Delay     string   `json:"delay,omitempty" doc:"Retry no sooner than this (Go duration); the backoff applies if longer."`
	Permanent bool     `json:"permanent,omitempty" doc:"Skip the retries: straight to the dead-letter queue."`
	Error     string   `json:"error,omitempty" maxLength:"4096" doc:"Why: kept in the dead letter (redacted)."`
}

// ExtendBody extends leases.
type ExtendBody struct {
	LeaseIDs []string `json:"lease_ids" minItems:"1" maxItems:"10000"`
	Lease    string   `json:"lease,omitempty" doc:"The new lease from now (Go duration; default the group's)."`
}

// LeaseResult is what became of one lease: acked, nacked, extended, or
// unknown (never given, already completed, or expired).
type LeaseResult struct {
	LeaseID        string     `json:"lease_id"`
	Result         string     `json:"result" enum:"acked,nacked,extended,unknown"`
	LeaseExpiresAt *time.Time `json:"lease_expires_at,omitempty"`
}

// LeaseResults answers per lease, in request order.
type LeaseResults struct {
	Results []LeaseResult `json:"results"`
}

type ackInput struct {
	Group string `path:"group"`
	Body  LeaseIDs
}
type nackInput struct {
	Group string `path:"group"`
	Body  NackBody
}
type extendInput struct {
	Group string `path:"group"`
	Body  ExtendBody
}
type leaseOutput struct{ Body LeaseResults }

type streamInput struct {
	Group         string `path:"group"`
	MaxInFlight   int    `query:"max_in_flight" default:"10" minimum:"1" maximum:"1000" doc:"Leases this stream holds at once; it waits for acks beyond."`
	ValueEncoding string `query:"value_encoding" default:"auto" enum:"auto,json,text,base64"`
}

func (s *Server) registerPull() {
	huma.Register(s.api, huma.Operation{
		OperationID: "put-pull-group", Method: stdhttp.MethodPut, Path: "/v1/groups/{group}/pull",
		Summary:     "Declare a pull group",
		Description: "Idempotent: 201 when declared, 200 when it exists with the same settings, 409 when it exists with others.",
		Tags:        []string{"consume"}, DefaultStatus: stdhttp.StatusCreated,
		Responses: alsoStatus[PullConfig](s, stdhttp.StatusOK, "It exists with the same settings."),
	}, s.putPull)
	huma.Register(s.api, huma.Operation{
		OperationID: "get-pull-group", Method: stdhttp.MethodGet, Path: "/v1/groups/{group}/pull",
		Summary: "A pull group's settings", Tags: []string{"consume"},
	}, func(ctx context.Context, in *groupInput) (*pullOutput, error) {
		g, err := s.pullGroup(in.Group)
		if err != nil {
			return nil, err
		}
		return &pullOutput{Status: stdhttp.StatusOK, Body: g.cfg}, nil
	})
	huma.Register(s.api, huma.Operation{
		OperationID: "delete-pull-group", Method: stdhttp.MethodDelete, Path: "/v1/groups/{group}/pull",
		Summary:     "Stop a pull group",
		Description: "Its subscription ends; leased messages are given back without an attempt. Its position stays.",
		Tags:        []string{"consume"}, DefaultStatus: stdhttp.StatusNoContent,
	}, func(ctx context.Context, in *groupInput) (*struct{}, error) {
		s.mu.Lock()
		g := s.pulls[in.Group]
		delete(s.pulls, in.Group)
		s.mu.Unlock()
		if g == nil {
			return nil, problemf(stdhttp.StatusNotFound, "pull_group_not_found", "no pull group %q", in.Group)
		}
		// A client that hangs up must not leave the subscription running
		// without its entry.
		if err := g.stop(context.WithoutCancel(ctx)); err != nil {
			return nil, s.problem(err)
		}
		return nil, nil
	})
	huma.Register(s.api, huma.Operation{
		OperationID: "receive", Method: stdhttp.MethodPost, Path: "/v1/groups/{group}/messages:receive",
		Summary: "Lease messages of a pull group (long poll)", Tags: []string{"consume"},
	}, s.receive)
	huma.Register(s.api, huma.Operation{
		OperationID: "ack", Method: stdhttp.MethodPost, Path: "/v1/groups/{group}/messages:ack",
		Summary: "Ack leases: the group's cursor moves past them", Tags: []string{"consume"},
	}, func(ctx context.Context, in *ackInput) (*leaseOutput, error) {
		g, err := s.pullGroup(in.Group)
		if err != nil {
			return nil, err
		}
		res := LeaseResults{Results: make([]LeaseResult, len(in.Body.LeaseIDs))}
		for i, id := range in.Body.LeaseIDs {
			res.Results[i] = LeaseResult{LeaseID: id, Result: g.complete(id, nil)}
		}
		return &leaseOutput{Body: res}, nil
	})
	huma.Register(s.api, huma.Operation{
		OperationID: "nack", Method: stdhttp.MethodPost, Path: "/v1/groups/{group}/messages:nack",
		Summary: "Nack leases: retried with backoff (or after delay), or dead-lettered when permanent", Tags: []string{"consume"},
	}, s.nack)
	huma.Register(s.api, huma.Operation{
		OperationID: "extend", Method: stdhttp.MethodPost, Path: "/v1/groups/{group}/messages:extend",
		Summary: "Extend leases", Tags: []string{"consume"},
	}, s.extend)
	huma.Register(s.api, huma.Operation{
		OperationID: "stream", Method: stdhttp.MethodGet, Path: "/v1/groups/{group}/messages:stream",
		Summary:     "Stream leased deliveries (SSE)",
		Description: "Each `message` event is a leased delivery (its id is the lease id); ack it with messages:ack. Leases not acked expire as any.",
		Tags:        []string{"consume"},
		Responses:   sseResponses(s.api, map[string]reflect.Type{"message": reflect.TypeFor[MessageOut]()}),
	}, s.stream)
}

func (s *Server) pullGroup(name string) (*pullGroup, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.pulls[name]
	if g == nil {
		return nil, problemf(stdhttp.StatusNotFound, "pull_group_not_found", "no pull group %q: declare it with PUT /v1/groups/%s/pull", name, name)
	}
	return g, nil
}

func (s *Server) putPull(ctx context.Context, in *pullPutInput) (*pullOutput, error) {
	cfg := in.Body
	if err := s.authorizeSubscription(ctx, cfg.Pattern); err != nil {
		return nil, err
	}
	lease, opts, err := s.subscribeOptions(&cfg)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, s.problem(ErrClosed)
	}
	if g := s.pulls[in.Group]; g != nil {
		if g.cfg != cfg {
			return nil, problemf(stdhttp.StatusConflict, "pull_group_exists", "pull group %q exists with other settings: delete it first", in.Group)
		}
		return &pullOutput{Status: stdhttp.StatusOK, Body: g.cfg}, nil
	}
	if s.pushes[in.Group] != nil {
		return nil, problemf(stdhttp.StatusConflict, "push_group_exists", "group %q is a push group", in.Group)
	}
	g := newPullGroup(in.Group, cfg, lease)
	sub, err := s.bus.Subscribe(s.ctx, cfg.Pattern, in.Group, g.handle, opts...)
	if err != nil {
		return nil, s.groupProblem(err)
	}
	g.sub = sub
	s.pulls[in.Group] = g
	return &pullOutput{Status: stdhttp.StatusCreated, Body: cfg}, nil
}

// groupProblem maps a Subscribe error.
func (s *Server) groupProblem(err error) *Problem {
	if errors.Is(err, core.ErrGroupInUse) {
		return problemf(stdhttp.StatusConflict, "group_in_use", "%v", err)
	}
	if errors.Is(err, core.ErrInvalidConfig) {
		return problemf(stdhttp.StatusConflict, "group_settings_conflict", "%v", err)
	}
	return s.problem(err)
}

func (s *Server) receive(ctx context.Context, in *receiveInput) (*messagesOutput, error) {
	enc, err := parseEncoding(in.ValueEncoding)
	if err != nil {
		return nil, err
	}
	wait, err := s.parseWait(in.Wait)
	if err != nil {
		return nil, err
	}
	g, err := s.pullGroup(in.Group)
	if err != nil {
		return nil, err
	}
	ds, err := g.receive(ctx, in.Max, wait)
	if err != nil {
		return nil, err
	}
	out := Messages{Messages: make([]MessageOut, len(ds))}
	for i, d := range ds {
		out.Messages[i] = d.out(in.Group, enc)
	}
	return &messagesOutput{Body: out}, nil
}

func (s *Server) nack(ctx context.Context, in *nackInput) (*leaseOutput, error) {
	g, err := s.pullGroup(in.Group)
	if err != nil {
		return nil, err
	}
	var delay time.Duration
	if in.Body.Delay != "" {
		if delay, err = time.ParseDuration(in.Body.Delay); err != nil || delay < 0 || delay > s.cfg.maxLease {
			return nil, problemf(stdhttp.StatusBadRequest, "invalid_duration", "delay %q is not a duration in [0, %v]", in.Body.Delay, s.cfg.maxLease)
		}
	}
	reason := in.Body.Error
	if reason == "" {
		reason = "nacked over HTTP"
	}
	res := LeaseResults{Results: make([]LeaseResult, len(in.Body.LeaseIDs))}
	for i, id := range in.Body.LeaseIDs {
		var cause error = errors.New(reason)
		if in.Body.Permanent {
			cause = core.Permanent(cause)
		} else {
			cause = core.RetryAfter(cause, delay)
		}
		res.Results[i] = LeaseResult{LeaseID: id, Result: g.complete(id, cause)}
	}
	return &leaseOutput{Body: res}, nil
}

func (s *Server) extend(ctx context.Context, in *extendInput) (*leaseOutput, error) {
	g, err := s.pullGroup(in.Group)
	if err != nil {
		return nil, err
	}
	by := g.lease
	if in.Body.Lease != "" {
		if by, err = time.ParseDuration(in.Body.Lease); err != nil || by < time.Millisecond || by > s.cfg.maxLease {
			return nil, problemf(stdhttp.StatusBadRequest, "invalid_lease", "lease %q is not a duration in [1ms, %v]", in.Body.Lease, s.cfg.maxLease)
		}
	}
	res := LeaseResults{Results: make([]LeaseResult, len(in.Body.LeaseIDs))}
	for i, id := range in.Body.LeaseIDs {
		r, exp := g.extend(id, by)
		res.Results[i] = LeaseResult{LeaseID: id, Result: r, LeaseExpiresAt: exp}
	}
	return &leaseOutput{Body: res}, nil
}

// stream leases deliveries to one SSE client, holding at most
// MaxInFlight unacked leases at once.
func (s *Server) stream(ctx context.Context, in *streamInput) (*huma.StreamResponse, error) {
	enc, err := parseEncoding(in.ValueEncoding)
	if err != nil {
		return nil, err
	}
	g, err := s.pullGroup(in.Group)
	if err != nil {
		return nil, err
	}
	return &huma.StreamResponse{Body: func(hctx huma.Context) {
		ctx, cancel := context.WithCancel(hctx.Context())
		defer cancel()
		defer context.AfterFunc(s.ctx, cancel)()
		w := startSSE(hctx)
		keep, stopKeep := ticker(s.cfg.keepAlive)
		defer stopKeep()
		var held []*delivery
		// A client that goes away gives its leases back without an
		// attempt: it may never have seen them.
		defer func() {
			for _, d := range g.stillLeased(held) {
				g.complete(d.leaseID, core.ErrReleased)
			}
		}()
		for {
			ended := g.leaseEnded() // before the check, so no end is missed
			held = g.stillLeased(held)
			room := in.MaxInFlight - len(held)
			if room > 0 {
				ds, err := g.receive(ctx, room, s.cfg.keepAlive)
				if err != nil {
					return
				}
				held = append(held, ds...)
				for _, d := range ds {
					if err := w.event(d.leaseID, "message", d.out(in.Group, enc)); err != nil {
						return
					}
				}
				if len(ds) > 0 {
					continue
				}
			} else {
				// Full: wait for a lease to end.
				select {
				case <-ctx.Done():
					return
				case <-ended:
				case <-keep:
				}
			}
			select {
			case <-ctx.Done():
				return
			default:
			}
			if err := w.keepAlive(); err != nil {
				return
			}
		}
	}}, nil
}

// stillLeased keeps the deliveries of ds whose lease is still held.
func (g *pullGroup) stillLeased(ds []*delivery) []*delivery {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := ds[:0]
	for _, d := range ds {
		if g.leased[d.leaseID] == d {
			out = append(out, d)
		}
	}
	return out
}

// leaseEnded returns a channel closed when any lease of the group ends.
func (g *pullGroup) leaseEnded() <-chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.ended
}
