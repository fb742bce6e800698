package daemon

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"

	"github.com/hashicorp/go-hclog"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kotel"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/dispatch/schema"
	"github.com/onexbus/onexbus/metrics"
	onexotel "github.com/onexbus/onexbus/metrics/otel"
	httpapi "github.com/onexbus/onexbus/transport/http"
	"github.com/onexbus/onexbus/transport/kafka"
)

// DefaultHTTPAPI is the HTTP API New mounts on http.addr unless
// WithHTTPAPI says otherwise: transport/http on the daemon's bus (a full
// forwarder backlog answers 503 with Retry-After), and the Confluent
// Schema Registry API subset of dispatch/schema under /schema-registry/
// (clients: sr.URLs("http://127.0.0.1:8080/schema-registry")).
var DefaultHTTPAPI APIFactory = func(bus *core.Bus, log hclog.Logger) (http.Handler, error) {
	api, err := httpapi.New(bus, httpapi.WithLogger(log), httpapi.WithUnavailableErrors(kafka.ErrBacklogFull))
	if err != nil {
		return nil, err
	}
	reg, err := schema.Open(bus, schema.WithLogger(log.Named("schema")))
	if err != nil {
		return nil, errors.Join(fmt.Errorf("onexbusd: schema registry: %w", err), api.Close(context.Background()))
	}
	mux := http.NewServeMux()
	mux.Handle("/schema-registry/", http.StripPrefix("/schema-registry", schema.NewRegistryHandler(reg)))
	mux.Handle("/", api.Handler())
	return closingHandler{Handler: mux, close: func(ctx context.Context) error {
		return errors.Join(api.Close(ctx), reg.Close())
	}}, nil
}

// closingHandler is an API handler with goroutines of its own (pull and
// push groups, operations), stopped after its listener drained.
type closingHandler struct {
	http.Handler
	close func(context.Context) error
}

// Close stops the API's goroutines.
func (h closingHandler) Close(ctx context.Context) error { return h.close(ctx) }

// closeAPI stops h's goroutines when it has any.
func closeAPI(ctx context.Context, h http.Handler) error {
	if c, ok := h.(interface{ Close(context.Context) error }); ok {
		return c.Close(ctx)
	}
	return nil
}

// newObservability builds the daemon's metrics (served on /metrics of
// the admin listener) and tracer; both are core hooks of the bus.
func newObservability(cfg Config) (*metrics.Metrics, []core.Hook, error) {
	m, err := metrics.New(metrics.WithDataFile(filepath.Join(cfg.DataDir, DataFile)), metrics.WithVersion(Version),
		metrics.WithDurability(durabilityLabel(cfg.Durability)))
	if err != nil {
		return nil, nil, fmt.Errorf("onexbusd: metrics: %w", err)
	}
	return m, []core.Hook{m, onexotel.New()}, nil
}

func durabilityLabel(policy string) string {
	switch policy {
	case "interval", "none":
		return policy
	}
	return "fsync"
}

// kafkaTracing traces the forwarder's and the ingest's Kafka clients with
// franz-go's kotel plugin: record headers carry the trace context to and
// from the upstream cluster.
func kafkaTracing() []kgo.Opt {
	k := kotel.NewKotel(kotel.WithTracer(kotel.NewTracer()))
	return []kgo.Opt{kgo.WithHooks(k.Hooks()...)}
}

// observeForwarder puts the forwarder's backlog against its budget, and
// whether the upstream is up, on /metrics.
func (d *Daemon) observeForwarder(f *kafka.Forwarder, cfg Config) {
	var budget int64
	if v, ok := cfg.Upstream.Value("KAFKA_BACKLOG_BUDGET_BYTES"); ok {
		budget, _ = strconv.ParseInt(v, 10, 64) // validated by the config
	}
	up := func() bool { return f.BreakerState() == kafka.BreakerClosed }
	if err := d.metrics.ObserveForwarder(f, budget, up); err != nil {
		d.log.Warn("forwarder metrics unavailable", "error", err)
	}
}
