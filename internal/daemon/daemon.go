package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/core/node"
	"github.com/onexbus/onexbus/dispatch/schema"
	"github.com/onexbus/onexbus/internal/netlimit"
	"github.com/onexbus/onexbus/metrics"
	"github.com/onexbus/onexbus/store"
	"github.com/onexbus/onexbus/store/bolt"
	"github.com/onexbus/onexbus/transport/kafka"
	"github.com/onexbus/onexbus/wal"
)

// Lifecycle states, in order.
const (
	stateNew int32 = iota
	stateStarting
	stateRecovered
	stateReady
	stateDraining
	stateStopped
)

// DataFile is the bbolt file in the data directory.
const DataFile = "onexbus.db"

// Addrs are the addresses the daemon's listeners are bound to.
type Addrs struct {
	// Kafka is the Kafka listener; nil when this binary has none.
	Kafka net.Addr
	// HTTP is the HTTP API; nil when no API is mounted.
	HTTP net.Addr
	// Admin serves /livez and /readyz.
	Admin net.Addr
}

// Daemon is onexbusd: a bus on a bbolt file in the data directory, its
// listeners, the upstream forwarder and ingest when fronting a Kafka, and
// the node events. New validates; Run starts, serves until its context
// ends and drains.
type Daemon struct {
	opts  options
	log   hclog.Logger
	state atomic.Int32
	ran   atomic.Bool
	ready chan struct{}
	inFl  atomic.Int64 // requests in flight on the HTTP listeners

	// mu protects cfg's reloadable fields, addrs and reporter.
	mu       sync.Mutex
	cfg      Config
	addrs    Addrs
	reporter *node.Reporter
	bus      *core.Bus
	kafkaSrv KafkaServer

	// metrics and hooks observe the bus (set in New, read-only after).
	metrics *metrics.Metrics
	hooks   []core.Hook
	// schemas is the schema registry on the bus, set once it is open.
	schemas *schema.Registry

	// sec is the principal store and the listeners' certificates (set in
	// New; swapped in place by Reload).
	sec *security

	forwarderRef atomic.Pointer[kafka.Forwarder]
	ingestRef    atomic.Pointer[kafka.Ingest]
	// storeRef is the bbolt store under the bus (set in openBus), for the
	// "store writable" readiness check.
	storeRef atomic.Pointer[bolt.Store]
}

// New validates cfg (every problem at once, wrapping ErrInvalidConfig)
// and returns a daemon that Run starts.
func New(cfg Config, opts ...Option) (*Daemon, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	o := options{logOutput: os.Stderr, kafka: DefaultKafka, api: DefaultHTTPAPI}
	for _, opt := range opts {
		opt(&o)
	}
	m, hooks, err := newObservability(cfg)
	if err != nil {
		return nil, err
	}
	sec, err := newSecurity(cfg, o.configFile)
	if err != nil {
		return nil, err
	}
	d := &Daemon{opts: o, cfg: cfg, ready: make(chan struct{}), metrics: m, hooks: hooks, sec: sec}
	d.log = NewLogger(cfg, o.logOutput)
	return d, nil
}

// NewLogger returns the daemon's hclog logger for cfg's log.level and
// log.json, writing to w.
func NewLogger(cfg Config, w io.Writer) hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{
		Name:       "onexbusd",
		Level:      hclog.LevelFromString(cfg.LogLevel),
		JSONFormat: cfg.LogJSON,
		Output:     w,
	})
}

// Logger returns the daemon's logger.
func (d *Daemon) Logger() hclog.Logger { return d.log }

// Ready is closed once the log is recovered and every listener serves.
func (d *Daemon) Ready() <-chan struct{} { return d.ready }

// Addrs returns the bound addresses (complete once Ready is closed).
func (d *Daemon) Addrs() Addrs {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.addrs
}

// Bus returns the running bus, nil before recovery and after shutdown.
func (d *Daemon) Bus() *core.Bus {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.bus
}

// config returns a copy of the configuration (reloadable fields current).
func (d *Daemon) config() Config {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cfg
}

// running is what Run started, for shutdown in reverse order.
type running struct {
	lock     *dirLock
	adminSrv *http.Server
	// adminCancel ends the admin listener's requests (its BaseContext).
	adminCancel context.CancelFunc
	adminDone   chan error
	httpSrv     *http.Server
	httpAPI     http.Handler
	httpDone    chan error
	kafka       *kafkaListener
	bus         *core.Bus
	forwarder   *kafka.Forwarder
	ingest      *kafka.Ingest
	reporter    *node.Reporter
}

// Run starts the daemon and serves until ctx ends, then drains within
// shutdown.timeout and returns nil on a clean stop. Start-up problems are
// returned with a message a person can act on, wrapping ErrDataDirLocked,
// ErrAddrInUse or ErrCorruptData where they apply.
func (d *Daemon) Run(ctx context.Context) error {
	if !d.ran.CompareAndSwap(false, true) {
		return ErrAlreadyRun
	}
	d.state.Store(stateStarting)
	stopTracing, err := startTracing(ctx)
	if err != nil {
		return err
	}
	defer func() {
		tctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := stopTracing(tctx); err != nil {
			d.log.Warn("flushing traces failed", "error", err)
		}
	}()
	rt := &running{}
	err = d.start(ctx, rt)
	if err != nil {
		d.state.Store(stateDraining)
		return errors.Join(err, d.stop(rt, time.Now().Add(d.config().ShutdownTimeout)))
	}
	d.state.Store(stateReady)
	a := d.Addrs()
	d.log.Info("ready", "kafka", addrString(a.Kafka), "http", addrString(a.HTTP), "admin", addrString(a.Admin),
		"data_dir", d.cfg.DataDir, "durability", d.cfg.Durability, "mode", d.mode())
	close(d.ready)
	<-ctx.Done()
	// Lame duck first: /readyz answers 503 before any listener closes.
	d.state.Store(stateDraining)
	cfg := d.config()
	if cfg.LameDuck > 0 {
		d.log.Info("shutting down: /readyz answers 503; listeners close after the lame-duck period", "lame_duck", cfg.LameDuck)
		time.Sleep(cfg.LameDuck)
	}
	d.log.Info("shutting down: draining", "timeout", cfg.ShutdownTimeout)
	return d.stop(rt, time.Now().Add(cfg.ShutdownTimeout))
}

func isClosed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func addrString(a net.Addr) string {
	if a == nil {
		return "off"
	}
	return a.String()
}

func (d *Daemon) mode() string {
	if d.cfg.Fronting() {
		return "fronting"
	}
	return "standalone"
}

// listen binds one listener, naming the setting when the address is taken.
func listen(name, env, flag, addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err == nil {
		return ln, nil
	}
	if errors.Is(err, syscall.EADDRINUSE) {
		return nil, fmt.Errorf("%w: %s %s is taken by another process; stop it, or choose another address with --%s or %s (port 0 picks a free one)", ErrAddrInUse, name, addr, flag, env)
	}
	return nil, fmt.Errorf("onexbusd: listen on %s %s: %w", name, addr, err)
}

func (d *Daemon) start(ctx context.Context, rt *running) error {
	cfg := d.config()
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return fmt.Errorf("onexbusd: create data dir %s: %w", cfg.DataDir, err)
	}
	lock, err := lockDir(cfg.DataDir)
	if err != nil {
		return err
	}
	rt.lock = lock

	// Bind every listener before the (possibly long) recovery, so a taken
	// port fails at once; /livez answers during recovery, /readyz 503.
	adminLn, err := listen("admin.addr", "ONEXBUS_ADMIN_ADDR", "admin-addr", cfg.AdminAddr)
	if err != nil {
		return err
	}
	var kafkaLn, httpLn net.Listener
	closeLns := func() {
		for _, ln := range []net.Listener{kafkaLn, httpLn} {
			if ln != nil {
				_ = ln.Close() // not served yet: nothing to report
			}
		}
	}
	if d.opts.kafka != nil {
		if kafkaLn, err = listen("kafka.addr", "ONEXBUS_KAFKA_ADDR", "kafka-addr", cfg.KafkaAddr); err != nil {
			_ = adminLn.Close() // not served yet
			return err
		}
	}
	if d.opts.api != nil {
		if httpLn, err = listen("http.addr", "ONEXBUS_HTTP_ADDR", "http-addr", cfg.HTTPAddr); err != nil {
			_ = adminLn.Close() // not served yet
			closeLns()
			return err
		}
	}
	d.warnExposure(cfg)
	mux := d.adminMux()
	// Requests on the admin listener run under adminCtx, cancelled when
	// it shuts down: the dashboard's event streams (tail, operations)
	// then end instead of holding Shutdown until its deadline.
	adminCtx, adminCancel := context.WithCancel(context.Background())
	rt.adminCancel = adminCancel
	rt.adminSrv = &http.Server{Handler: counting(&d.inFl, d.protectAdmin(mux)), ReadHeaderTimeout: 10 * time.Second,
		BaseContext: func(net.Listener) context.Context { return adminCtx }}
	rt.adminDone = make(chan error, 1)
	adminServed := wrapTLS(netlimit.Listen(adminLn, cfg.Security.AdminMaxConnections, cfg.Security.AdminMaxConnectionsPerAddr, d.log.Named("admin")), d.sec.admin)
	go func() { rt.adminDone <- rt.adminSrv.Serve(adminServed) }()
	d.mu.Lock()
	d.addrs.Admin = adminLn.Addr()
	d.mu.Unlock()

	bus, err := d.openBus(cfg)
	if err != nil {
		closeLns()
		return err
	}
	rt.bus = bus
	d.mu.Lock()
	d.bus = bus
	d.mu.Unlock()
	d.state.Store(stateRecovered)

	if kafkaLn != nil {
		if err := d.serveKafka(bus, cfg, kafkaLn, rt); err != nil {
			closeLns()
			return err
		}
	}
	if httpLn != nil {
		hs := HTTPSettings{Logger: d.log.Named("http"), RateLimiter: d.sec.limiter}
		if cfg.Security.httpAuthenticated(cfg.Security.HTTPTLS) {
			hs.Auth = d.sec.store
		}
		h, err := d.opts.api(bus, hs)
		if err != nil {
			_ = httpLn.Close() // not served yet
			return fmt.Errorf("onexbusd: build HTTP API: %w", err)
		}
		h = d.withSchemaRegistry(h)
		rt.httpAPI = h
		rt.httpSrv = &http.Server{Handler: counting(&d.inFl, d.metrics.InstrumentHTTP(h)), ReadHeaderTimeout: 10 * time.Second}
		rt.httpDone = make(chan error, 1)
		httpServed := wrapTLS(netlimit.Listen(httpLn, cfg.Security.HTTPMaxConnections, cfg.Security.HTTPMaxConnectionsPerAddr, d.log.Named("http")), d.sec.http)
		go func() { rt.httpDone <- rt.httpSrv.Serve(httpServed) }()
		d.mu.Lock()
		d.addrs.HTTP = httpLn.Addr()
		d.mu.Unlock()
	}
	if err := d.startUpstream(ctx, bus, cfg, rt); err != nil {
		return err
	}
	mux.Handle("/ui/", d.dashboard(ctx, bus))
	for _, s := range d.opts.setups {
		if err := s(ctx, bus, mux); err != nil {
			return fmt.Errorf("onexbusd: setup: %w", err)
		}
	}
	return d.startNode(ctx, bus, cfg, rt)
}

// openBus opens (and recovers) the log in the data directory.
func (d *Daemon) openBus(cfg Config) (*core.Bus, error) {
	path := filepath.Join(cfg.DataDir, DataFile)
	policy, _ := wal.ParsePolicy(cfg.Durability) // validated
	start := time.Now()
	st, err := bolt.Open(path, bolt.WithNoSync(policy != wal.PolicySync))
	if err != nil {
		return nil, dataError(path, err)
	}
	d.storeRef.Store(st)
	enf, _ := core.ParseEnforcement(cfg.Enforcement) // validated
	format := core.FormatKafka
	if cfg.TopicFormat == "frames" {
		format = core.FormatFrames
	}
	interval := time.Duration(0)
	if policy == wal.PolicyInterval {
		interval = cfg.DurabilityInterval
	}
	opts := []core.Option{
		core.WithStore(st),
		core.WithDurability(policy, interval),
		core.WithLogger(d.log.Named("bus")),
		core.WithSource(cfg.Source),
		core.WithEnforcement(enf),
		core.WithDefaultTopicConfig(core.TopicConfig{Partitions: cfg.DefaultPartitions, Format: format, Retention: core.Retention{
			MaxMessages: cfg.RetentionMessages, MaxBytes: cfg.RetentionBytes, MaxAge: cfg.RetentionAge,
		}}),
		core.WithDedup(cfg.DedupWindow, cfg.DedupMaxIDs),
		core.WithTxnLimits(txnLimits(cfg)),
		core.WithRetry(core.RetryPolicy{MaxAttempts: cfg.RetryMaxAttempts, Base: cfg.RetryBase, Max: cfg.RetryMax}),
		core.WithBreaker(core.BreakerPolicy{Threshold: cfg.BreakerThreshold, ResetTimeout: cfg.BreakerResetTimeout}),
		core.WithMaxMessageBytes(cfg.MaxMessageBytes),
		core.WithHooks(d.hooks...),
	}
	bus, err := core.New(opts...)
	if err != nil {
		// core.New closes the store it was given when it fails.
		return nil, dataError(path, err)
	}
	if err := d.metrics.Observe(bus); err != nil {
		return nil, errors.Join(err, bus.Close(context.Background()))
	}
	if err := d.openSchemas(bus); err != nil {
		return nil, errors.Join(err, bus.Close(context.Background()))
	}
	d.log.Info("log recovered", "file", path, "took", time.Since(start).Round(time.Millisecond), "topics", len(bus.Topics()))
	return bus, nil
}

// dataError turns a store or log error into one a person can act on.
func dataError(path string, err error) error {
	switch {
	case errors.Is(err, store.ErrCorrupt), errors.Is(err, wal.ErrCorrupt):
		return fmt.Errorf("%w: %s: %w; move the file aside and restore a backup (onexbusd check names the damage)", ErrCorruptData, path, err)
	case errors.Is(err, syscall.EWOULDBLOCK):
		return fmt.Errorf("%w: %s is open in another process: %w", ErrDataDirLocked, path, err)
	}
	return fmt.Errorf("onexbusd: open %s: %w", path, err)
}

// startUpstream starts the forwarder and the ingest of fronting mode.
func (d *Daemon) startUpstream(ctx context.Context, bus *core.Bus, cfg Config, rt *running) error {
	if cfg.ForwardPattern != "" {
		f, err := kafka.NewForwarder(bus, cfg.Upstream, kafka.WithTopicPattern(cfg.ForwardPattern),
			kafka.WithForwarderLogger(d.log.Named("forwarder")), kafka.WithKgoOptions(kafkaTracing()...))
		if err != nil {
			return fmt.Errorf("onexbusd: forwarder: %w", err)
		}
		if err := f.Start(ctx); err != nil {
			return errors.Join(fmt.Errorf("onexbusd: start forwarder: %w", err), f.Close(context.WithoutCancel(ctx)))
		}
		rt.forwarder = f
		d.forwarderRef.Store(f)
		d.observeForwarder(f, cfg)
	}
	if len(cfg.IngestTopics) > 0 {
		in, err := kafka.NewIngest(bus, cfg.Upstream, cfg.IngestTopics, kafka.WithIngestLogger(d.log.Named("ingest")),
			kafka.WithIngestKgoOptions(kafkaTracing()...))
		if err != nil {
			return fmt.Errorf("onexbusd: ingest: %w", err)
		}
		if err := in.Start(ctx); err != nil {
			return errors.Join(fmt.Errorf("onexbusd: start ingest: %w", err), in.Close(context.WithoutCancel(ctx)))
		}
		rt.ingest = in
		d.ingestRef.Store(in)
	}
	return nil
}

// startNode starts the node events.
func (d *Daemon) startNode(ctx context.Context, bus *core.Bus, cfg Config, rt *running) error {
	id, err := nodeID(cfg.NodeID, cfg.DataDir)
	if err != nil {
		return err
	}
	a := d.Addrs()
	endpoints := map[string]string{"admin": d.scheme(d.sec.admin) + a.Admin.String()}
	caps := []string{"bbolt", "node-events"}
	if a.Kafka != nil {
		endpoints["kafka"] = "kafka://" + d.advertised(cfg, a.Kafka)
		caps = append(caps, "kafka-wire")
	}
	if a.HTTP != nil {
		endpoints["http"] = d.scheme(d.sec.http) + a.HTTP.String()
		caps = append(caps, "http-api")
	}
	if cfg.ForwardPattern != "" {
		caps = append(caps, "kafka-forward")
	}
	if len(cfg.IngestTopics) > 0 {
		caps = append(caps, "kafka-ingest")
	}
	version := Version
	if !node.ValidVersion(version) {
		version = node.DefaultVersion
	}
	r, err := node.New(bus, node.Identity{
		ID: id, Type: node.KindRuntimeHost, Version: version, Name: cfg.NodeName,
		Capabilities: node.Capabilities{Declared: caps},
		Endpoints:    endpoints,
		EventBus:     map[string]string{"implementation": "onexbus", "mode": d.mode(), "durability": cfg.Durability},
	}, node.WithHeartbeatInterval(cfg.NodeHeartbeatInterval),
		node.WithActiveOperations(d.activeOperations),
		node.WithLogger(d.log.Named("node")))
	if err != nil {
		return fmt.Errorf("onexbusd: node events: %w", err)
	}
	if err := r.Start(ctx); err != nil {
		return fmt.Errorf("onexbusd: node events: %w", err)
	}
	rt.reporter = r
	d.mu.Lock()
	d.reporter = r
	d.mu.Unlock()
	return nil
}

// advertised is the Kafka address clients are told about: the
// configured one, else the bound address, with 127.0.0.1 for an
// unspecified IP (0.0.0.0 is not an address a client can reach; a
// remote client needs kafka.advertised_addr).
func (d *Daemon) advertised(cfg Config, bound net.Addr) string {
	if cfg.KafkaAdvertisedAddr != "" {
		return cfg.KafkaAdvertisedAddr
	}
	if tcp, ok := bound.(*net.TCPAddr); ok && tcp.IP.IsUnspecified() {
		return net.JoinHostPort("127.0.0.1", fmt.Sprint(tcp.Port))
	}
	return bound.String()
}

// activeOperations is the heartbeat's active_operations_count: HTTP
// requests and Kafka requests in flight.
func (d *Daemon) activeOperations() int64 {
	return d.inFl.Load() + d.kafkaInFlight()
}

// adminGrace is how long the admin listener's requests get to end at
// shutdown, after their context is cancelled, before their connections
// are closed.
const adminGrace = time.Second

// stop shuts down what start started, in reverse order, each step
// bounded by deadline: the Kafka and HTTP listeners stop accepting and
// drain, the node says goodbye, the upstream stops, the bus drains its
// handlers and flushes the log, the admin listener closes last and the
// data dir is unlocked.
func (d *Daemon) stop(rt *running, deadline time.Time) error {
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	var errs []error
	step := func(what string, err error) {
		if err != nil {
			errs = append(errs, fmt.Errorf("onexbusd: shutdown: %s: %w", what, err))
		}
	}
	if rt.kafka != nil {
		step("kafka listener", rt.kafka.close(ctx))
	}
	if rt.httpSrv != nil {
		step("http listener", rt.httpSrv.Shutdown(ctx))
		if err := <-rt.httpDone; !errors.Is(err, http.ErrServerClosed) {
			step("http listener", err)
		}
		step("http api", closeAPI(ctx, rt.httpAPI))
	}
	if rt.reporter != nil {
		step("node events", rt.reporter.Close(ctx))
	}
	if rt.ingest != nil {
		step("ingest", rt.ingest.Close(ctx))
	}
	if rt.forwarder != nil {
		step("forwarder", rt.forwarder.Close(ctx))
	}
	if d.schemas != nil {
		step("schema registry", d.schemas.Close())
	}
	if rt.bus != nil {
		step("bus", rt.bus.Close(ctx))
		d.mu.Lock()
		d.bus = nil
		d.mu.Unlock()
	}
	if rt.adminSrv != nil {
		actx, acancel := context.WithTimeout(context.Background(), adminGrace)
		rt.adminCancel()
		if err := rt.adminSrv.Shutdown(actx); errors.Is(err, context.DeadlineExceeded) {
			// The bus is closed and flushed: nothing stored depends on
			// a request still running (a dashboard render on a starved
			// machine, an embedder's route that ignores its context).
			d.log.Warn("admin listener: requests still running after the grace; closing their connections", "grace", adminGrace)
			step("admin listener", rt.adminSrv.Close())
		} else {
			step("admin listener", err)
		}
		acancel()
		if err := <-rt.adminDone; !errors.Is(err, http.ErrServerClosed) {
			step("admin listener", err)
		}
	}
	if rt.lock != nil {
		step("data dir lock", rt.lock.release())
	}
	wasReady := d.state.Swap(stateStopped) == stateDraining && isClosed(d.ready)
	if ctx.Err() != nil && len(errs) > 0 {
		errs = append([]error{ErrDrainTimeout}, errs...)
	}
	if len(errs) == 0 && wasReady {
		d.log.Info("stopped: drained and flushed")
	}
	return errors.Join(errs...)
}
