package metrics_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/metrics"
)

// catalogue is every series the package promises, with its type and
// label names (research/daemon-interfaces.md section 2.2).
var catalogue = []struct {
	name   string
	typ    dto.MetricType
	labels []string
}{
	{"onexbus_published_messages_total", dto.MetricType_COUNTER, []string{"topic"}},
	{"onexbus_published_bytes_total", dto.MetricType_COUNTER, []string{"topic"}},
	{"onexbus_duplicates_dropped_total", dto.MetricType_COUNTER, []string{"topic"}},
	{"onexbus_publish_duration_seconds", dto.MetricType_HISTOGRAM, []string{"durability"}},
	{"onexbus_publish_rejected_total", dto.MetricType_COUNTER, []string{"reason"}},
	{"onexbus_wal_fsync_duration_seconds", dto.MetricType_HISTOGRAM, nil},
	{"onexbus_wal_commit_batch_messages", dto.MetricType_HISTOGRAM, nil},
	{"onexbus_wal_commit_batch_bytes", dto.MetricType_HISTOGRAM, nil},
	{"onexbus_delivery_latency_seconds", dto.MetricType_HISTOGRAM, []string{"group"}},
	{"onexbus_handler_duration_seconds", dto.MetricType_HISTOGRAM, []string{"group", "outcome"}},
	{"onexbus_deliveries_total", dto.MetricType_COUNTER, []string{"group", "outcome", "topic"}},
	{"onexbus_in_flight_messages", dto.MetricType_GAUGE, []string{"group"}},
	{"onexbus_breaker_state", dto.MetricType_GAUGE, []string{"group", "state", "topic"}},
	{"onexbus_breaker_opens_total", dto.MetricType_COUNTER, []string{"group", "topic"}},
	{"onexbus_breaker_transitions_total", dto.MetricType_COUNTER, []string{"group", "to", "topic"}},
	{"onexbus_dead_letters", dto.MetricType_GAUGE, []string{"topic"}},
	{"onexbus_dead_letters_oldest_timestamp_seconds", dto.MetricType_GAUGE, []string{"topic"}},
	{"onexbus_dead_lettered_total", dto.MetricType_COUNTER, []string{"group", "reason", "topic"}},
	{"onexbus_consumer_group_lag_messages", dto.MetricType_GAUGE, []string{"group", "topic"}},
	{"onexbus_consumer_group_lag_seconds", dto.MetricType_GAUGE, []string{"group", "topic"}},
	{"onexbus_log_messages", dto.MetricType_GAUGE, []string{"topic"}},
	{"onexbus_log_bytes", dto.MetricType_GAUGE, []string{"topic"}},
	{"onexbus_retention_evicted_messages_total", dto.MetricType_COUNTER, []string{"topic"}},
	{"onexbus_store_size_bytes", dto.MetricType_GAUGE, nil},
	{"onexbus_disk_free_bytes", dto.MetricType_GAUGE, nil},
	{"onexbusd_http_requests_total", dto.MetricType_COUNTER, []string{"code", "method", "route"}},
	{"onexbusd_http_request_duration_seconds", dto.MetricType_HISTOGRAM, []string{"method", "route"}},
	{"onexbusd_build_info", dto.MetricType_GAUGE, []string{"go_version", "revision", "version"}},
	{"onexbusd_kafka_requests_total", dto.MetricType_COUNTER, []string{"api"}},
	{"onexbusd_kafka_request_duration_seconds", dto.MetricType_HISTOGRAM, []string{"api"}},
}

// Every catalogued name is exposed with its type and exactly its labels,
// after a workload that exercises each event.
func TestCatalogue(t *testing.T) {
	m, err := metrics.New(metrics.WithDLQInterval(0)) // no cached DLQ walk: the test polls for the letter
	if err != nil {
		t.Fatal(err)
	}
	b, path := newBus(t, core.WithHooks(m),
		core.WithRetry(core.RetryPolicy{MaxAttempts: 2, Base: time.Millisecond, Max: time.Millisecond}),
		core.WithBreaker(core.BreakerPolicy{Threshold: 2, ResetTimeout: time.Hour}),
		core.WithTopic("capped", core.TopicConfig{Partitions: 1, Retention: core.Retention{MaxMessages: 1}}),
		core.WithMaxMessageBytes(1<<10))
	if err := m.Observe(b); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := b.Subscribe(ctx, "orders", "g", func(_ context.Context, msg *core.Message) error {
		if string(msg.Value) == "bad" {
			return errors.New("nope")
		}
		return nil
	}, core.SubscribeStart(core.StartEarliest)); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"ok", "bad", "bad2"} {
		if _, err := b.Publish(ctx, &core.Message{Topic: "orders", Value: []byte(v)}); err != nil {
			t.Fatal(err)
		}
	}
	dup := &core.Message{Topic: "orders", Value: []byte("ok")}
	dup.Headers.MessageID = [16]byte{1}
	_, _ = b.Publish(ctx, dup)
	again := &core.Message{Topic: "orders", Value: []byte("ok")}
	again.Headers.MessageID = [16]byte{1}
	_, _ = b.Publish(ctx, again)
	_, _ = b.Publish(ctx, &core.Message{Topic: "orders", Value: make([]byte, 2<<10)}) // rejected: too large
	for range 2 {
		_, _ = b.Publish(ctx, &core.Message{Topic: "capped", Value: []byte("x")})
	}
	m.ObserveKafkaRequest("Produce", 3*time.Millisecond)
	api := httptest.NewServer(m.InstrumentHTTP(http.NewServeMux()))
	resp, err := http.Get(api.URL + "/anything")
	if err == nil {
		resp.Body.Close()
	}
	api.Close()
	// Wait for the failing message's dead letter (a level the collector
	// reads).
	deadline := time.Now().Add(10 * time.Second)
	for {
		fams, _ := scrape(t, m)
		if _, ok := find(t, fams, "onexbus_dead_lettered_total", map[string]string{"reason": "max_attempts"}); ok {
			if _, ok := find(t, fams, "onexbus_dead_letters", nil); ok {
				break
			}
		}
		if time.Now().After(deadline) {
			n, _ := b.DeadLetters().Count(ctx)
			off, _, _ := b.GroupOffset("g", "orders", 0)
			t.Fatalf("no dead letter within 10s: %d letters, cursor %+v, health %+v", n, off, b.Health())
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Storage series need the data file (a second Metrics on the same bus).
	m3, _ := metrics.New(metrics.WithDataFile(path), metrics.WithDLQInterval(0))
	_ = m3.Observe(b)
	fams, _ := scrape(t, m)
	storage, _ := scrape(t, m3)
	for _, c := range catalogue {
		f := fams[c.name]
		if f == nil {
			f = storage[c.name]
		}
		if f == nil {
			t.Errorf("%s missing", c.name)
			continue
		}
		if f.GetType() != c.typ {
			t.Errorf("%s is %v, want %v", c.name, f.GetType(), c.typ)
		}
		for _, s := range f.GetMetric() {
			var got []string
			for _, l := range s.GetLabel() {
				got = append(got, l.GetName())
			}
			slices.Sort(got)
			if !slices.Equal(got, c.labels) {
				t.Errorf("%s labels %v, want %v", c.name, got, c.labels)
				break
			}
		}
	}
	if v, _ := find(t, fams, "onexbus_duplicates_dropped_total", map[string]string{"topic": "orders"}); v != 1 {
		t.Errorf("duplicates %v", v)
	}
	if v, _ := find(t, fams, "onexbus_publish_rejected_total", map[string]string{"reason": "too_large"}); v != 1 {
		t.Errorf("rejected %v", v)
	}
	if v, _ := find(t, fams, "onexbus_retention_evicted_messages_total", map[string]string{"topic": "capped"}); v != 1 {
		t.Errorf("evicted %v", v)
	}
	if v, _ := find(t, fams, "onexbusd_http_requests_total", map[string]string{"route": "unmatched", "code": "404"}); v != 1 {
		t.Errorf("http requests %v", v)
	}
}
