package metrics

import (
	"errors"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/onexbus/onexbus/core"
)

// hookMetrics are the series core's hooks feed.
type hookMetrics struct {
	published, publishedBytes, duplicates *prometheus.CounterVec
	publishDuration                       *prometheus.HistogramVec
	rejected                              *prometheus.CounterVec
	fsync                                 prometheus.Histogram
	commitMessages, commitBytes           prometheus.Histogram
	deliveryLatency                       *prometheus.HistogramVec
	handlerDuration                       *prometheus.HistogramVec
	deliveries                            *prometheus.CounterVec
	inFlight                              *prometheus.GaugeVec
	deadLettered                          *prometheus.CounterVec
	evicted                               *prometheus.CounterVec
	breakerTransitions                    *prometheus.CounterVec

	// Children by label values, so the hot path skips the vectors' hash
	// lookups: keys are the label values joined by NUL.
	topicChildren sync.Map // topic -> *topicSeries
	groupChildren sync.Map // group -> *groupSeries
	doneChildren  sync.Map // topic, group, outcome -> *doneSeries
	publishDurObs prometheus.Observer
}

type topicSeries struct{ published, bytes prometheus.Counter }

type groupSeries struct {
	latency  prometheus.Observer
	inFlight prometheus.Gauge
}

type doneSeries struct {
	duration   prometheus.Observer
	deliveries prometheus.Counter
}

func (h *hookMetrics) topic(t string) *topicSeries {
	if v, ok := h.topicChildren.Load(t); ok {
		return v.(*topicSeries)
	}
	v, _ := h.topicChildren.LoadOrStore(t, &topicSeries{published: h.published.WithLabelValues(t), bytes: h.publishedBytes.WithLabelValues(t)})
	return v.(*topicSeries)
}

func (h *hookMetrics) group(g string) *groupSeries {
	if v, ok := h.groupChildren.Load(g); ok {
		return v.(*groupSeries)
	}
	v, _ := h.groupChildren.LoadOrStore(g, &groupSeries{latency: h.deliveryLatency.WithLabelValues(g), inFlight: h.inFlight.WithLabelValues(g)})
	return v.(*groupSeries)
}

func (h *hookMetrics) done(topic, group string, o core.Outcome) *doneSeries {
	key := topic + "\x00" + group + "\x00" + string(o)
	if v, ok := h.doneChildren.Load(key); ok {
		return v.(*doneSeries)
	}
	v, _ := h.doneChildren.LoadOrStore(key, &doneSeries{duration: h.handlerDuration.WithLabelValues(group, string(o)),
		deliveries: h.deliveries.WithLabelValues(topic, group, string(o))})
	return v.(*doneSeries)
}

func latencyHistogram(name, help string, labels ...string) *prometheus.HistogramVec {
	return prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: name, Help: help, Buckets: latencyBuckets,
		NativeHistogramBucketFactor: 1.1, NativeHistogramMaxBucketNumber: 160, NativeHistogramMinResetDuration: time.Hour,
	}, labels)
}

func (h *hookMetrics) register(reg *prometheus.Registry) {
	h.published = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "onexbus_published_messages_total", Help: "Messages published."}, []string{"topic"})
	h.publishedBytes = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "onexbus_published_bytes_total", Help: "Key and value bytes published."}, []string{"topic"})
	h.duplicates = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "onexbus_duplicates_dropped_total", Help: "Messages the dedup window dropped."}, []string{"topic"})
	h.publishDuration = latencyHistogram("onexbus_publish_duration_seconds", "From a publish call to durability by the bus's policy.", "durability")
	h.rejected = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "onexbus_publish_rejected_total", Help: "Publishes that failed, by reason."}, []string{"reason"})
	commitBuckets := prometheus.ExponentialBuckets(1, 2, 13) // 1..4096
	h.fsync = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name: "onexbus_wal_fsync_duration_seconds", Help: "Duration of a group commit's store transaction, fsync included.",
		Buckets: latencyBuckets, NativeHistogramBucketFactor: 1.1, NativeHistogramMaxBucketNumber: 160, NativeHistogramMinResetDuration: time.Hour,
	})
	h.commitMessages = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "onexbus_wal_commit_batch_messages", Help: "Messages per group commit.", Buckets: commitBuckets})
	h.commitBytes = prometheus.NewHistogram(prometheus.HistogramOpts{Name: "onexbus_wal_commit_batch_bytes", Help: "Bytes per group commit.",
		Buckets: prometheus.ExponentialBuckets(256, 4, 10)})
	h.deliveryLatency = latencyHistogram("onexbus_delivery_latency_seconds", "From a message's timestamp to its handler's start.", "group")
	h.handlerDuration = latencyHistogram("onexbus_handler_duration_seconds", "Handler call durations by outcome.", "group", "outcome")
	h.deliveries = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "onexbus_deliveries_total", Help: "Handler calls by outcome."}, []string{"topic", "group", "outcome"})
	h.inFlight = prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "onexbus_in_flight_messages", Help: "Handler calls under way."}, []string{"group"})
	h.deadLettered = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "onexbus_dead_lettered_total", Help: "Messages dead-lettered, by reason."}, []string{"topic", "group", "reason"})
	h.evicted = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "onexbus_retention_evicted_messages_total", Help: "Messages retention removed."}, []string{"topic"})
	h.breakerTransitions = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "onexbus_breaker_transitions_total", Help: "Breaker state changes, by the state entered."}, []string{"topic", "group", "to"})
	reg.MustRegister(h.published, h.publishedBytes, h.duplicates, h.publishDuration, h.rejected,
		h.commitMessages, h.commitBytes, h.deliveryLatency, h.handlerDuration, h.deliveries, h.inFlight,
		h.deadLettered, h.evicted, h.breakerTransitions, h.fsync)
}

// WithDurability names the bus's durability policy in the publish
// latency's durability label: fsync (the default), interval or none.
func WithDurability(label string) Option { return func(c *config) { c.durability = label } }

// OnPublish implements core.PublishHook.
func (m *Metrics) OnPublish(e core.PublishEvent) {
	h := &m.hooks
	if e.Err != nil {
		h.rejected.WithLabelValues(rejectReason(e.Err)).Add(float64(e.Messages))
		return
	}
	ts := h.topic(e.Topic)
	ts.published.Add(float64(e.Messages - e.Duplicates))
	ts.bytes.Add(float64(e.Bytes))
	if e.Duplicates > 0 {
		h.duplicates.WithLabelValues(e.Topic).Add(float64(e.Duplicates))
	}
	h.publishDurObs.Observe(e.Duration.Seconds())
}

func rejectReason(err error) string {
	switch {
	case errors.Is(err, core.ErrMessageTooLarge):
		return "too_large"
	case errors.Is(err, core.ErrInvalidTopic), errors.Is(err, core.ErrNotONEXTopic), errors.Is(err, core.ErrInvalidHeaders),
		errors.Is(err, core.ErrInvalidPartition):
		return "invalid"
	case errors.Is(err, core.ErrClosed):
		return "closed"
	}
	return "error" // a gate (backlog budget), the store, a context
}

// OnCommit implements core.CommitHook.
func (m *Metrics) OnCommit(e core.CommitEvent) {
	if e.Err != nil {
		return
	}
	m.hooks.fsync.Observe(e.Duration.Seconds())
	m.hooks.commitMessages.Observe(float64(e.Messages))
	m.hooks.commitBytes.Observe(float64(e.Bytes))
}

// OnRetentionEviction implements core.RetentionHook.
func (m *Metrics) OnRetentionEviction(e core.RetentionEvent) {
	m.hooks.evicted.WithLabelValues(e.Topic).Add(float64(e.Messages))
}

// OnDeliver implements core.DeliverHook.
func (m *Metrics) OnDeliver(e core.DeliverEvent) {
	g := m.hooks.group(e.Group)
	g.latency.Observe(max(0, e.Age.Seconds()))
	g.inFlight.Inc()
}

// OnHandlerDone implements core.HandlerDoneHook.
func (m *Metrics) OnHandlerDone(e core.HandlerEvent) {
	m.hooks.group(e.Group).inFlight.Dec()
	d := m.hooks.done(e.Topic, e.Group, e.Outcome)
	d.duration.Observe(e.Duration.Seconds())
	d.deliveries.Inc()
}

// OnBreakerTransition implements core.BreakerHook.
func (m *Metrics) OnBreakerTransition(e core.BreakerEvent) {
	m.hooks.breakerTransitions.WithLabelValues(e.Topic, e.Group, stateLabel(e.To)).Inc()
}

// OnDeadLetter implements core.DeadLetterHook.
func (m *Metrics) OnDeadLetter(e core.DeadLetterEvent) {
	m.hooks.deadLettered.WithLabelValues(e.Topic, e.Group, string(e.Reason)).Inc()
}
