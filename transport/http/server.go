package http

import (
	"context"
	"errors"
	"fmt"
	stdhttp "net/http"
	"reflect"
	"strconv"
	"sync"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/danielgtaylor/huma/v2/adapters/humago"
	"github.com/hashicorp/go-hclog"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/transport/auth"
)

// Version is the API version named in the OpenAPI document.
const Version = "1.0.0"

// Server serves the HTTP API of one bus. Its methods are safe for
// concurrent use. It owns the goroutines of its pull groups, webhooks and
// operations; Close stops them. It never closes the bus.
type Server struct {
	bus *core.Bus
	cfg config
	api huma.API
	mux *stdhttp.ServeMux

	ctx    context.Context // ends when Close begins
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex            // protects pulls, pushes and closed
	pulls  map[string]*pullGroup // by group name
	pushes map[string]*pushGroup // by group name
	closed bool

	ops *operations
}

type config struct {
	logger          hclog.Logger
	maxBodyBytes    int64
	maxWait         time.Duration
	keepAlive       time.Duration
	unavailable     []error
	client          *stdhttp.Client
	maxReplayCount  int
	operationsKept  int
	defaultLease    time.Duration
	maxLease        time.Duration
	allowPrivateURL bool
	auth            *auth.Store       // WithAuth; nil: open
	limiter         *auth.RateLimiter // WithRateLimiter; nil: none
}

func defaultConfig() config {
	return config{
		logger:         hclog.NewNullLogger(),
		maxBodyBytes:   32 << 20,
		maxWait:        30 * time.Second,
		keepAlive:      15 * time.Second,
		client:         &stdhttp.Client{},
		maxReplayCount: 5,
		operationsKept: 100,
		defaultLease:   30 * time.Second,
		maxLease:       12 * time.Hour,
	}
}

func (c *config) validate() error {
	var errs []error
	if c.maxBodyBytes < 1<<10 || c.maxBodyBytes > 1<<30 {
		errs = append(errs, fmt.Errorf("max body bytes %d not in [1 KiB, 1 GiB]", c.maxBodyBytes))
	}
	if c.maxWait < 0 || c.maxWait > 10*time.Minute {
		errs = append(errs, fmt.Errorf("max wait %v not in [0, 10m]", c.maxWait))
	}
	if c.keepAlive < time.Millisecond || c.keepAlive > 10*time.Minute {
		errs = append(errs, fmt.Errorf("SSE keep-alive %v not in [1ms, 10m]", c.keepAlive))
	}
	if c.client == nil {
		errs = append(errs, errors.New("nil webhook client"))
	}
	if c.maxReplayCount < 1 || c.maxReplayCount > 1000 {
		errs = append(errs, fmt.Errorf("max replay count %d not in [1, 1000]", c.maxReplayCount))
	}
	if c.defaultLease < time.Millisecond || c.maxLease < c.defaultLease || c.maxLease > 7*24*time.Hour {
		errs = append(errs, fmt.Errorf("leases: default %v, max %v: want 1ms <= default <= max <= 168h", c.defaultLease, c.maxLease))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrInvalidOption, errors.Join(errs...))
	}
	return nil
}

// Option configures a Server.
type Option func(*config)

// WithLogger logs through l (default: nothing).
func WithLogger(l hclog.Logger) Option {
	return func(c *config) {
		if l != nil {
			c.logger = l
		}
	}
}

// WithMaxBodyBytes bounds request bodies (default 32 MiB, at most 1 GiB);
// a larger body is answered 413.
func WithMaxBodyBytes(n int64) Option { return func(c *config) { c.maxBodyBytes = n } }

// WithMaxWait caps the long-poll wait a request may ask for (default 30 s).
func WithMaxWait(d time.Duration) Option { return func(c *config) { c.maxWait = d } }

// WithKeepAlive sets how often SSE streams send a keep-alive comment
// (default 15 s).
func WithKeepAlive(d time.Duration) Option { return func(c *config) { c.keepAlive = d } }

// WithUnavailableErrors names errors of publish gates (the Kafka
// forwarder's ErrBacklogFull, say) that mean "try again later": a publish
// failing with one is answered 503 backlog_full with Retry-After.
func WithUnavailableErrors(errs ...error) Option {
	return func(c *config) { c.unavailable = append(c.unavailable, errs...) }
}

// WithWebhookClient sets the client push subscriptions POST with (default
// a plain http.Client; each request is bounded by its push timeout).
func WithWebhookClient(cl *stdhttp.Client) Option { return func(c *config) { c.client = cl } }

// WithMaxReplayCount is the replay loop guard: a dead letter already
// replayed this many times (its replay_count header) is not replayed again
// (default 5).
func WithMaxReplayCount(n int) Option { return func(c *config) { c.maxReplayCount = n } }

// WithLeases sets the lease of pull groups that do not choose one (default
// 30 s) and the longest lease or extension allowed (default 12 h).
func WithLeases(def, max time.Duration) Option {
	return func(c *config) { c.defaultLease, c.maxLease = def, max }
}

// New builds the API of bus. Every option problem is reported at once,
// wrapped in ErrInvalidOption.
func New(bus *core.Bus, opts ...Option) (s *Server, err error) {
	if bus == nil {
		return nil, fmt.Errorf("%w: nil bus", ErrInvalidOption)
	}
	cfg := defaultConfig()
	for i, o := range opts {
		if o == nil {
			return nil, fmt.Errorf("%w: option %d is nil", ErrInvalidOption, i)
		}
		o(&cfg)
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s = &Server{
		bus:    bus,
		cfg:    cfg,
		mux:    stdhttp.NewServeMux(),
		ctx:    ctx,
		cancel: cancel,
		pulls:  map[string]*pullGroup{},
		pushes: map[string]*pushGroup{},
	}
	s.ops = newOperations(cfg.operationsKept)
	defer func() {
		// huma panics on a malformed operation: a bug here, reported as an
		// error rather than taking the caller down.
		if r := recover(); r != nil {
			cancel()
			s, err = nil, fmt.Errorf("http: registering the API: %v", r)
		}
	}()
	s.api = humago.New(s.mux, apiConfig())
	s.useAuth()
	s.register()
	return s, nil
}

// apiConfig is the OpenAPI configuration: document at /openapi.json,
// problems as errors, no schema links in bodies.
func apiConfig() huma.Config {
	c := huma.DefaultConfig("onexbusd", Version)
	c.Info.Description = "The HTTP API of onexbus: publish, consume with leases, read, administer."
	c.OpenAPIPath = "/openapi"
	c.DocsPath = ""
	c.SchemasPath = ""
	c.CreateHooks = nil // no $schema field or Link header in responses
	return c
}

func (s *Server) register() {
	s.registerPublish()
	s.registerRead()
	s.registerTail()
	s.registerTopics()
	s.registerTopicEdits()
	s.registerGroups()
	s.registerPull()
	s.registerPush()
	s.registerBreakers()
	s.registerDLQ()
	s.registerOperations()
	s.registerStorage()
	s.registerACLs()
}

// Handler returns the API's handler: mount it at the root of a listener.
func (s *Server) Handler() stdhttp.Handler { return s.handler() }

// OpenAPI returns the API's OpenAPI 3.1 document as JSON.
func (s *Server) OpenAPI() ([]byte, error) {
	b, err := s.api.OpenAPI().MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("http: encode the OpenAPI document: %w", err)
	}
	return b, nil
}

// Close stops the pull and push groups (their subscriptions end; leased
// messages not acked are delivered again later, as after a crash),
// cancels running operations and waits for its goroutines, bounded by
// ctx. It is idempotent. Requests in flight are the http.Server's to
// drain: shut it down first.
func (s *Server) Close(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	pulls, pushes := s.pulls, s.pushes
	s.pulls, s.pushes = map[string]*pullGroup{}, map[string]*pushGroup{}
	s.mu.Unlock()
	s.cancel()
	var errs []error
	for _, p := range pulls {
		errs = append(errs, p.stop(ctx))
	}
	for _, p := range pushes {
		errs = append(errs, p.stop(ctx))
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		errs = append(errs, fmt.Errorf("http: close: %w", ctx.Err()))
	}
	return errors.Join(errs...)
}

// problem maps err for a response, honouring WithUnavailableErrors.
func (s *Server) problem(err error) *Problem {
	for _, u := range s.cfg.unavailable {
		if errors.Is(err, u) {
			return newProblem(stdhttp.StatusServiceUnavailable, "backlog_full", err.Error())
		}
	}
	return toProblem(err)
}

// parseWait parses a long-poll wait (a Go duration; "" is none) and
// bounds it by the configured maximum.
func (s *Server) parseWait(v string) (time.Duration, error) {
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, problemf(stdhttp.StatusBadRequest, "invalid_duration", "%q is not a duration such as 500ms or 5s", v)
	}
	return min(d, s.cfg.maxWait), nil
}

// alsoStatus documents a second success status of an operation whose
// body is of type T (huma documents only the default one).
func alsoStatus[T any](s *Server, status int, description string) map[string]*huma.Response {
	registry := s.api.OpenAPI().Components.Schemas
	schema := registry.Schema(reflect.TypeFor[T](), true, "")
	return map[string]*huma.Response{
		strconv.Itoa(status): {Description: description, Content: map[string]*huma.MediaType{contentJSON: {Schema: schema}}},
		"default":            problemResponse(registry),
	}
}

// problemResponse documents the problem+json body of every error.
func problemResponse(registry huma.Registry) *huma.Response {
	return &huma.Response{
		Description: "A problem (RFC 9457).",
		Content: map[string]*huma.MediaType{
			"application/problem+json": {Schema: registry.Schema(reflect.TypeFor[Problem](), true, "")},
		},
	}
}
