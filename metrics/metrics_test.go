package metrics_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/metrics"
	"github.com/onexbus/onexbus/store/bolt"
)

func newBus(t *testing.T, opts ...core.Option) (*core.Bus, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "bus.db")
	st, err := bolt.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := core.New(append([]core.Option{core.WithStore(st), core.WithEnforcement(core.EnforceOff)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close(context.Background()) })
	return b, path
}

// scrape fetches /metrics in the text format and parses it with
// Prometheus's own parser.
func scrape(t *testing.T, m *metrics.Metrics) (map[string]*dto.MetricFamily, []byte) {
	t.Helper()
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	req, _ := http.NewRequest("GET", srv.URL, nil)
	req.Header.Set("Accept", "text/plain; version=0.0.4")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("parse /metrics: %v\n%s", err, body)
	}
	return fams, body
}

func labels(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Gauge != nil:
		return m.GetGauge().GetValue()
	case m.Counter != nil:
		return m.GetCounter().GetValue()
	}
	return -1
}

// find returns the sample of family name whose labels include want.
func find(t *testing.T, fams map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	t.Helper()
	f := fams[name]
	if f == nil {
		return 0, false
	}
next:
	for _, m := range f.GetMetric() {
		ls := labels(m)
		for k, v := range want {
			if ls[k] != v {
				continue next
			}
		}
		return value(m), true
	}
	return 0, false
}

// ACCEPTANCE 41: consumer lag in messages and in seconds; a stalled
// group's lag in seconds is the age of its oldest unconsumed message.
func TestLagInSecondsForAStalledGroup(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	b, path := newBus(t)
	ctx := context.Background()
	for i := range 4 {
		m := &core.Message{Topic: "orders", Value: []byte("x"), Timestamp: now.Add(-10*time.Minute + time.Duration(i)*time.Minute)}
		if _, err := b.Publish(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	durable, err := b.CommitGroupOffsets("billing", []core.GroupOffset{{Topic: "orders", Offset: 1, LeaderEpoch: -1}})
	if err != nil {
		t.Fatal(err)
	}
	if err := durable(ctx); err != nil {
		t.Fatal(err)
	}
	m, err := metrics.New(metrics.WithClock(func() time.Time { return now }), metrics.WithDataFile(path))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Observe(b); err != nil {
		t.Fatal(err)
	}
	if err := m.Observe(b); !errors.Is(err, metrics.ErrInvalidOption) {
		t.Fatalf("second Observe: %v", err)
	}
	fams, _ := scrape(t, m)
	if v, ok := find(t, fams, "onexbus_consumer_group_lag_messages", map[string]string{"group": "billing", "topic": "orders"}); !ok || v != 3 {
		t.Fatalf("lag messages %v %v", v, ok)
	}
	// The oldest unconsumed message (offset 1) was published 9 minutes
	// before now.
	if v, ok := find(t, fams, "onexbus_consumer_group_lag_seconds", map[string]string{"group": "billing", "topic": "orders"}); !ok || v != 540 {
		t.Fatalf("lag seconds %v %v", v, ok)
	}
	if v, ok := find(t, fams, "onexbus_log_messages", map[string]string{"topic": "orders"}); !ok || v != 4 {
		t.Fatalf("log messages %v", v)
	}
	if v, ok := find(t, fams, "onexbus_store_size_bytes", nil); !ok || v <= 0 {
		t.Fatalf("store size %v %v", v, ok)
	}
	// An hour later, with nothing consumed, the lag in seconds grew.
	now = now.Add(time.Hour)
	fams, _ = scrape(t, m)
	if v, _ := find(t, fams, "onexbus_consumer_group_lag_seconds", map[string]string{"group": "billing"}); v != 540+3600 {
		t.Fatalf("lag seconds after an hour %v", v)
	}
}

// With partition labels off, series grow with topics, not partitions:
// 1,000 topics of 4 partitions give one series per topic per family.
func TestCardinalityBoundedWithManyTopics(t *testing.T) {
	b, _ := newBus(t, core.WithDurability(core.DurabilityNone, 0))
	ctx := context.Background()
	for i := range 1000 {
		topic := fmt.Sprintf("t.%04d", i)
		if _, err := b.CreateTopic(ctx, topic, core.TopicConfig{Partitions: 4}); err != nil {
			t.Fatal(err)
		}
		for p := range int32(4) {
			if _, err := b.Publish(ctx, &core.Message{Topic: topic, Partition: p, ExplicitPartition: true}); err != nil {
				t.Fatal(err)
			}
		}
		durable, err := b.CommitGroupOffsets("g", []core.GroupOffset{{Topic: topic, Partition: 0, Offset: 1, LeaderEpoch: -1}, {Topic: topic, Partition: 3, Offset: 0, LeaderEpoch: -1}})
		if err != nil {
			t.Fatal(err)
		}
		_ = durable
	}
	m, _ := metrics.New()
	if err := m.Observe(b); err != nil {
		t.Fatal(err)
	}
	fams, _ := scrape(t, m)
	for name, f := range fams {
		if !strings.HasPrefix(name, "onexbus_") {
			continue
		}
		if n := len(f.GetMetric()); n > 1000 {
			t.Errorf("%s has %d series for 1,000 topics", name, n)
		}
		for _, s := range f.GetMetric() {
			if _, ok := labels(s)["partition"]; ok {
				t.Fatalf("%s carries a partition label with partition labels off", name)
			}
		}
	}
	if n := len(fams["onexbus_consumer_group_lag_messages"].GetMetric()); n != 1000 {
		t.Fatalf("lag series %d, want one per (group, topic)", n)
	}
}

// promtool, Prometheus's own linter, finds nothing to say about the
// exposition (CI installs Debian's prometheus package).
func TestPromtoolCheckMetrics(t *testing.T) {
	promtool := needPromtool(t)
	b, path := newBus(t)
	_, _ = b.Publish(context.Background(), &core.Message{Topic: "t", Value: []byte("x")})
	m, _ := metrics.New(metrics.WithDataFile(path))
	_ = m.Observe(b)
	srv := httptest.NewServer(m.InstrumentHTTP(http.NotFoundHandler()))
	resp, _ := http.Get(srv.URL + "/x")
	resp.Body.Close()
	srv.Close()
	_, body := scrape(t, m)
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(body)
	out, err := cmd.CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
}

// The heap the last GC found live and the next GC's goal are exposed
// (besides go_memstats_*): a soak judges heap flatness on them, since
// the heap in use at a random moment swings with the GC cycle.
func TestHeapAfterGCExposed(t *testing.T) {
	m, err := metrics.New()
	if err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	fams, _ := scrape(t, m)
	for _, name := range []string{"go_gc_heap_live_bytes", "go_gc_heap_goal_bytes", "go_memstats_heap_inuse_bytes", "go_goroutines"} {
		f, ok := fams[name]
		if !ok || len(f.GetMetric()) != 1 {
			t.Fatalf("%s not exposed once", name)
		}
		if v := f.GetMetric()[0].GetGauge().GetValue(); v <= 0 {
			t.Fatalf("%s = %v, want > 0", name, v)
		}
	}
}
