package metrics

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Forwarder is what the Kafka forwarder tells about its backlog;
// transport/kafka's *Forwarder provides Backlog and BacklogBytes.
type Forwarder interface {
	// Backlog is how many messages Kafka has not acknowledged yet.
	Backlog() int64
	// BacklogBytes is about how many bytes those take in the log.
	BacklogBytes() (int64, error)
}

// WithForwarder reports f's backlog against budget (0: no budget) and
// whether the upstream is up (up may be nil).
func WithForwarder(f Forwarder, budget int64, up func() bool) Option {
	return func(c *config) { c.forwarder, c.budget, c.upstreamUp = f, budget, up }
}

// ObserveForwarder adds f's backlog to the metrics once the forwarder
// runs (WithForwarder when it exists before New). It returns
// ErrInvalidOption when a forwarder is observed already.
func (m *Metrics) ObserveForwarder(f Forwarder, budget int64, up func() bool) error {
	if f == nil || m.cfg.forwarder != nil {
		return fmt.Errorf("%w: nil forwarder or one observed already", ErrInvalidOption)
	}
	m.cfg.forwarder, m.cfg.budget, m.cfg.upstreamUp = f, budget, up
	if err := m.reg.Register(newForwarderCollector(&m.cfg)); err != nil {
		return fmt.Errorf("metrics: observe forwarder: %w", err)
	}
	return nil
}

// forwarderCollector reads the forwarder at scrape time.
type forwarderCollector struct {
	cfg                           *config
	backlog, backlogBytes, budget *prometheus.Desc
	up                            *prometheus.Desc
}

func newForwarderCollector(cfg *config) *forwarderCollector {
	return &forwarderCollector{
		cfg:          cfg,
		backlog:      prometheus.NewDesc("onexbus_forwarder_backlog_messages", "Messages the upstream Kafka has not acknowledged.", nil, nil),
		backlogBytes: prometheus.NewDesc("onexbus_forwarder_backlog_bytes", "Bytes of the log the upstream Kafka has not acknowledged.", nil, nil),
		budget:       prometheus.NewDesc("onexbus_forwarder_backlog_budget_bytes", "The backlog budget (KAFKA_BACKLOG_BUDGET_BYTES); 0 is none.", nil, nil),
		up:           prometheus.NewDesc("onexbus_forwarder_upstream_up", "1 while the upstream Kafka is reachable (the forwarder's breaker is closed).", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *forwarderCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.backlog
	ch <- c.backlogBytes
	ch <- c.budget
	ch <- c.up
}

// Collect implements prometheus.Collector.
func (c *forwarderCollector) Collect(ch chan<- prometheus.Metric) {
	f := c.cfg.forwarder
	ch <- prometheus.MustNewConstMetric(c.backlog, prometheus.GaugeValue, float64(f.Backlog()))
	if b, err := f.BacklogBytes(); err == nil {
		ch <- prometheus.MustNewConstMetric(c.backlogBytes, prometheus.GaugeValue, float64(b))
	}
	ch <- prometheus.MustNewConstMetric(c.budget, prometheus.GaugeValue, float64(c.cfg.budget))
	if c.cfg.upstreamUp != nil {
		v := 0.0
		if c.cfg.upstreamUp() {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, v)
	}
}
