package metrics

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/onexbus/onexbus/core"
)

// heapAfterGC adds two runtime/metrics series to the Go collector's
// defaults: go_gc_heap_live_bytes (the heap marked live by the last GC)
// and go_gc_heap_goal_bytes (the heap size the next GC aims at). They
// show the heap a process keeps, where go_memstats_heap_inuse_bytes
// swings with the GC cycle (up to GOGC% above the live heap at a random
// moment), so a leak shows in them and a GC swing does not.
var heapAfterGC = collectors.GoRuntimeMetricsRule{Matcher: regexp.MustCompile(`^/gc/heap/(live|goal):bytes$`)}

// ErrInvalidOption is returned by New for an option out of range, and by
// Observe for a nil bus or a second call.
var ErrInvalidOption = errors.New("metrics: invalid option")

// Metrics holds onexbus's Prometheus metrics on a registry of its own
// (with the Go and process collectors). Its methods are safe for
// concurrent use.
type Metrics struct {
	cfg config
	reg *prometheus.Registry

	httpRequests *prometheus.CounterVec
	httpDuration *prometheus.HistogramVec

	hooks hookMetrics
	kafka kafkaRequests

	observed bool
}

type config struct {
	partitions   bool
	dlqInterval  time.Duration
	dlqScanLimit int
	dataFile     string
	now          func() time.Time
	version      string
	durability   string
	forwarder    Forwarder
	budget       int64
	upstreamUp   func() bool
}

// Option configures Metrics.
type Option func(*config)

// WithPartitionLabels adds a partition label to the lag and offset series
// (off by default: series then grow with partitions).
func WithPartitionLabels(on bool) Option { return func(c *config) { c.partitions = on } }

// WithDLQInterval sets how often the dead-letter queue is walked for its
// per-topic size and age (default 15 s; scrapes in between reuse it).
func WithDLQInterval(d time.Duration) Option { return func(c *config) { c.dlqInterval = d } }

// WithDLQScanLimit bounds the letters one walk reads (default 100,000).
func WithDLQScanLimit(n int) Option { return func(c *config) { c.dlqScanLimit = n } }

// WithDataFile names the bus's data file, for onexbus_store_size_bytes
// and onexbus_disk_free_bytes (left out without it).
func WithDataFile(path string) Option { return func(c *config) { c.dataFile = path } }

// WithClock sets the clock lag in seconds is measured with (tests).
func WithClock(now func() time.Time) Option { return func(c *config) { c.now = now } }

// WithVersion sets the version onexbusd_build_info reports (default the
// module's build info).
func WithVersion(v string) Option { return func(c *config) { c.version = v } }

// New builds the metrics. Every option problem is reported at once,
// wrapped in ErrInvalidOption.
func New(opts ...Option) (*Metrics, error) {
	cfg := config{dlqInterval: 15 * time.Second, dlqScanLimit: 100_000, now: time.Now, durability: "fsync"}
	for i, o := range opts {
		if o == nil {
			return nil, fmt.Errorf("%w: option %d is nil", ErrInvalidOption, i)
		}
		o(&cfg)
	}
	var errs []error
	if cfg.dlqInterval < 0 {
		errs = append(errs, fmt.Errorf("DLQ interval %v is negative", cfg.dlqInterval))
	}
	if cfg.dlqScanLimit < 0 {
		errs = append(errs, fmt.Errorf("DLQ scan limit %d is negative", cfg.dlqScanLimit))
	}
	switch cfg.durability {
	case "fsync", "interval", "none":
	default:
		errs = append(errs, fmt.Errorf("durability label %q is not fsync, interval or none", cfg.durability))
	}
	if cfg.now == nil {
		errs = append(errs, errors.New("nil clock"))
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%w: %w", ErrInvalidOption, errors.Join(errs...))
	}
	m := &Metrics{cfg: cfg, reg: prometheus.NewRegistry()}
	m.reg.MustRegister(collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(heapAfterGC)),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.httpRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "onexbusd_http_requests_total", Help: "HTTP requests by route pattern, method and status code.",
	}, []string{"route", "method", "code"})
	m.httpDuration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "onexbusd_http_request_duration_seconds", Help: "HTTP request durations by route pattern and method.",
		Buckets: latencyBuckets, NativeHistogramBucketFactor: 1.1, NativeHistogramMaxBucketNumber: 160, NativeHistogramMinResetDuration: time.Hour,
	}, []string{"route", "method"})
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "onexbusd_build_info", Help: "1, with the build's version, revision and Go version.",
	}, []string{"version", "revision", "go_version"})
	version, revision, goVersion := buildInfo(cfg.version)
	build.WithLabelValues(version, revision, goVersion).Set(1)
	m.reg.MustRegister(m.httpRequests, m.httpDuration, build)
	m.hooks.register(m.reg)
	m.kafka = newKafkaRequests(m.reg)
	m.hooks.publishDurObs = m.hooks.publishDuration.WithLabelValues(cfg.durability)
	if cfg.forwarder != nil {
		m.reg.MustRegister(newForwarderCollector(&m.cfg))
	}
	return m, nil
}

// latencyBuckets are the classic buckets of latency histograms: 100 µs
// to 10 s.
var latencyBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

func buildInfo(version string) (v, rev, goVer string) {
	v, rev, goVer = version, "unknown", "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		goVer = bi.GoVersion
		if v == "" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				rev = s.Value
			}
		}
	}
	if v == "" {
		v = "devel"
	}
	return v, rev, goVer
}

// Observe adds the scrape-time collectors of bus (log, lag, breakers,
// dead letters, storage). It returns ErrInvalidOption for a nil bus or
// when a bus is observed already.
func (m *Metrics) Observe(bus *core.Bus) error {
	if bus == nil {
		return fmt.Errorf("%w: nil bus", ErrInvalidOption)
	}
	if m.observed {
		return fmt.Errorf("%w: a bus is observed already", ErrInvalidOption)
	}
	if err := m.reg.Register(newBusCollector(bus, &m.cfg)); err != nil {
		return fmt.Errorf("metrics: observe: %w", err)
	}
	m.observed = true
	return nil
}

// Registry is the registry the metrics live on; register more collectors
// on it to serve them on the same endpoint.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the metrics (text, OpenMetrics or protobuf as the
// scraper asks; native histograms need protobuf).
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{EnableOpenMetrics: true, Registry: m.reg})
}

// InstrumentHTTP counts and times the requests h serves, labelled by the
// route pattern the ServeMux matched (never the raw path), method and
// status code.
func (m *Metrics) InstrumentHTTP(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		h.ServeHTTP(sw, r)
		route := r.Pattern
		if route == "" {
			route = "unmatched"
		}
		method := r.Method
		switch method {
		case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodHead, http.MethodOptions:
		default:
			method = "other" // bounded: a client cannot invent label values
		}
		m.httpRequests.WithLabelValues(route, method, strconv.Itoa(sw.code)).Inc()
		m.httpDuration.WithLabelValues(route, method).Observe(time.Since(start).Seconds())
	})
}

// statusWriter remembers the status code a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

// Flush lets event streams through the wrapper.
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap gives http.ResponseController the writer underneath.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
