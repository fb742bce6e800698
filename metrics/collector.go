package metrics

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/dlq"
)

// busCollector reads the bus's levels at scrape time.
type busCollector struct {
	bus *core.Bus
	cfg *config

	logMessages, logBytes, startOffset, endOffset *prometheus.Desc
	lagMessages, lagSeconds, committed            *prometheus.Desc
	breakerState, breakerOpens                    *prometheus.Desc
	deadLetters, deadLettersOldest                *prometheus.Desc
	storeSize, diskFree                           *prometheus.Desc

	mu      sync.Mutex // protects dlqAt and dlqSnap
	dlqAt   time.Time
	dlqSnap map[string]dlqTopic
}

type dlqTopic struct {
	count  int
	oldest time.Time
}

func newBusCollector(bus *core.Bus, cfg *config) *busCollector {
	part := []string{"topic"}
	if cfg.partitions {
		part = []string{"topic", "partition"}
	}
	return &busCollector{
		bus:               bus,
		cfg:               cfg,
		logMessages:       prometheus.NewDesc("onexbus_log_messages", "Messages retained in the log.", []string{"topic"}, nil),
		logBytes:          prometheus.NewDesc("onexbus_log_bytes", "Bytes the log stores (whole chunks).", []string{"topic"}, nil),
		startOffset:       prometheus.NewDesc("onexbus_log_start_offset", "Oldest retained offset (partition labels only).", []string{"topic", "partition"}, nil),
		endOffset:         prometheus.NewDesc("onexbus_log_end_offset", "Offset after the newest message (partition labels only).", []string{"topic", "partition"}, nil),
		lagMessages:       prometheus.NewDesc("onexbus_consumer_group_lag_messages", "Messages a group has not consumed, summed over partitions.", append([]string{"group"}, part...), nil),
		lagSeconds:        prometheus.NewDesc("onexbus_consumer_group_lag_seconds", "Age of the oldest message a group has not consumed, from stored timestamps (max over partitions).", append([]string{"group"}, part...), nil),
		committed:         prometheus.NewDesc("onexbus_consumer_group_committed_offset", "A group's committed offset (partition labels only).", []string{"group", "topic", "partition"}, nil),
		breakerState:      prometheus.NewDesc("onexbus_breaker_state", "1 for the state each subscriber's breaker is in.", []string{"topic", "group", "state"}, nil),
		breakerOpens:      prometheus.NewDesc("onexbus_breaker_opens_total", "How many times a subscriber's breaker opened.", []string{"topic", "group"}, nil),
		deadLetters:       prometheus.NewDesc("onexbus_dead_letters", "Letters in the dead-letter queue, by original topic.", []string{"topic"}, nil),
		deadLettersOldest: prometheus.NewDesc("onexbus_dead_letters_oldest_timestamp_seconds", "When the oldest letter of a topic was dead-lettered (Unix seconds).", []string{"topic"}, nil),
		storeSize:         prometheus.NewDesc("onexbus_store_size_bytes", "Size of the data file.", nil, nil),
		diskFree:          prometheus.NewDesc("onexbus_disk_free_bytes", "Free space of the data directory's filesystem.", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *busCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.logMessages, c.logBytes, c.startOffset, c.endOffset, c.lagMessages, c.lagSeconds,
		c.committed, c.breakerState, c.breakerOpens, c.deadLetters, c.deadLettersOldest, c.storeSize, c.diskFree} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *busCollector) Collect(ch chan<- prometheus.Metric) {
	c.collectLog(ch)
	c.collectLag(ch)
	c.collectBreakers(ch)
	c.collectDLQ(ch)
	c.collectStorage(ch)
}

func itoa(p int32) string { return formatInt(int64(p)) }

func (c *busCollector) collectLog(ch chan<- prometheus.Metric) {
	for _, t := range c.bus.Topics() {
		tc, ok := c.bus.TopicConfig(t)
		if !ok {
			continue
		}
		var msgs, bytes int64
		for p := range tc.Partitions {
			start, err1 := c.bus.StartOffset(t, p)
			end, err2 := c.bus.EndOffset(t, p)
			if err1 != nil || err2 != nil {
				continue
			}
			msgs += end - start
			if b, err := c.bus.TopicBytes(t, p, start); err == nil {
				bytes += b
			}
			if c.cfg.partitions {
				ch <- prometheus.MustNewConstMetric(c.startOffset, prometheus.GaugeValue, float64(start), t, itoa(p))
				ch <- prometheus.MustNewConstMetric(c.endOffset, prometheus.GaugeValue, float64(end), t, itoa(p))
			}
		}
		ch <- prometheus.MustNewConstMetric(c.logMessages, prometheus.GaugeValue, float64(msgs), t)
		ch <- prometheus.MustNewConstMetric(c.logBytes, prometheus.GaugeValue, float64(bytes), t)
	}
}

// collectLag reports each group's lag from its committed offsets: in
// messages against the end offsets, in seconds from the timestamp of the
// oldest message not consumed (so a stalled group's lag keeps growing).
func (c *busCollector) collectLag(ch chan<- prometheus.Metric) {
	now := c.cfg.now()
	type key struct{ group, topic string }
	sum := map[key][2]float64{} // messages, seconds
	for _, g := range c.bus.OffsetGroups() {
		for _, o := range c.bus.GroupOffsets(g) {
			start, err1 := c.bus.StartOffset(o.Topic, o.Partition)
			end, err2 := c.bus.EndOffset(o.Topic, o.Partition)
			if err1 != nil || err2 != nil {
				continue
			}
			lag := max(0, end-max(o.Offset, start))
			secs := 0.0
			if lag > 0 {
				if m, err := c.bus.Fetch(context.Background(), o.Topic, o.Partition, o.Offset, 1); err == nil && len(m) == 1 {
					secs = max(0, now.Sub(m[0].Timestamp).Seconds())
				}
			}
			if c.cfg.partitions {
				p := itoa(o.Partition)
				ch <- prometheus.MustNewConstMetric(c.lagMessages, prometheus.GaugeValue, float64(lag), g, o.Topic, p)
				ch <- prometheus.MustNewConstMetric(c.lagSeconds, prometheus.GaugeValue, secs, g, o.Topic, p)
				ch <- prometheus.MustNewConstMetric(c.committed, prometheus.GaugeValue, float64(o.Offset), g, o.Topic, p)
				continue
			}
			k := key{g, o.Topic}
			v := sum[k]
			v[0] += float64(lag)
			v[1] = max(v[1], secs)
			sum[k] = v
		}
	}
	for k, v := range sum {
		ch <- prometheus.MustNewConstMetric(c.lagMessages, prometheus.GaugeValue, v[0], k.group, k.topic)
		ch <- prometheus.MustNewConstMetric(c.lagSeconds, prometheus.GaugeValue, v[1], k.group, k.topic)
	}
}

func (c *busCollector) collectBreakers(ch chan<- prometheus.Metric) {
	for _, b := range c.bus.Health().Breakers {
		for _, s := range []core.BreakerState{core.BreakerClosed, core.BreakerOpen, core.BreakerHalfOpen} {
			v := 0.0
			if b.State == s {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(c.breakerState, prometheus.GaugeValue, v, b.Topic, b.Group, stateLabel(s))
		}
		ch <- prometheus.MustNewConstMetric(c.breakerOpens, prometheus.CounterValue, float64(b.Opens), b.Topic, b.Group)
	}
}

// stateLabel is a breaker state as a label value (no dashes).
func stateLabel(s core.BreakerState) string {
	switch s {
	case core.BreakerOpen:
		return "open"
	case core.BreakerHalfOpen:
		return "half_open"
	}
	return "closed"
}

// collectDLQ reports the dead-letter queue by original topic, from a walk
// made at most once per interval and bounded by the scan limit.
func (c *busCollector) collectDLQ(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	if c.dlqSnap == nil || c.cfg.now().Sub(c.dlqAt) >= c.cfg.dlqInterval {
		snap := map[string]dlqTopic{}
		var after uint64
		for seen := 0; seen < c.cfg.dlqScanLimit; {
			page, err := c.bus.DeadLetters().List(context.Background(), dlq.Filter{AfterID: after, Limit: min(1000, c.cfg.dlqScanLimit-seen)})
			if err != nil || len(page) == 0 {
				break
			}
			for i := range page {
				l := &page[i]
				t := snap[l.Topic]
				t.count++
				if t.oldest.IsZero() || l.DeadLetteredAt.Before(t.oldest) {
					t.oldest = l.DeadLetteredAt
				}
				snap[l.Topic] = t
			}
			seen += len(page)
			after = page[len(page)-1].ID
		}
		c.dlqSnap, c.dlqAt = snap, c.cfg.now()
	}
	snap := c.dlqSnap
	c.mu.Unlock()
	for topic, t := range snap {
		ch <- prometheus.MustNewConstMetric(c.deadLetters, prometheus.GaugeValue, float64(t.count), topic)
		ch <- prometheus.MustNewConstMetric(c.deadLettersOldest, prometheus.GaugeValue, float64(t.oldest.UnixNano())/1e9, topic)
	}
}

func (c *busCollector) collectStorage(ch chan<- prometheus.Metric) {
	if c.cfg.dataFile == "" {
		return
	}
	if size, err := fileSize(c.cfg.dataFile); err == nil {
		ch <- prometheus.MustNewConstMetric(c.storeSize, prometheus.GaugeValue, float64(size))
	}
	if free, err := diskFree(c.cfg.dataFile); err == nil {
		ch <- prometheus.MustNewConstMetric(c.diskFree, prometheus.GaugeValue, float64(free))
	}
}
