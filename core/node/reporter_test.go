package node_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/uuid"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/core/node"
	"github.com/onexbus/onexbus/transport/memory"
)

func newBus(t *testing.T) *core.Bus {
	t.Helper()
	bus, err := memory.New(core.WithStartPosition(core.StartEarliest))
	if err != nil {
		t.Fatal(err)
	}
	return bus
}

func identity() node.Identity {
	return node.Identity{
		ID:           uuid.MustParse("7d444840-9dc0-11d1-b245-5ffdce74fad2"),
		Type:         node.KindRuntimeHost,
		Version:      "0.3.0-dev+abc",
		Name:         "onexbusd",
		Capabilities: node.Capabilities{Declared: []string{"kafka"}},
		Endpoints:    map[string]string{"kafka": "kafka://127.0.0.1:9092", "admin": "http://127.0.0.1:8081"},
	}
}

func history(t *testing.T, bus *core.Bus, topic string) []*core.Message {
	t.Helper()
	msgs, err := bus.History(context.Background(), topic, 1000)
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}

func introspections(t *testing.T, bus *core.Bus) []node.Introspection {
	t.Helper()
	var out []node.Introspection
	for _, m := range history(t, bus, node.IntrospectionTopic) {
		e, err := node.ParseIntrospection(m.Value)
		if err != nil {
			t.Fatalf("stored introspection %s does not parse: %v", m.Value, err)
		}
		if m.Headers.CorrelationID != e.CorrelationID {
			t.Fatalf("header correlation_id %s, event %s: one identity expected", m.Headers.CorrelationID, e.CorrelationID)
		}
		out = append(out, e)
	}
	return out
}

// TestReporterLifecycleEvents: startup on Start, request on a command
// (with the request's correlation id), shutdown on Close; every event
// valid by the original model's rules.
func TestReporterLifecycleEvents(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		bus := newBus(t)
		defer bus.Close(context.Background())
		r, err := node.New(bus, identity(), node.WithHeartbeatInterval(0))
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		if err := r.Start(ctx); err != nil {
			t.Fatal(err)
		}
		if err := r.Start(ctx); err != nil {
			t.Fatalf("second Start: %v", err)
		}
		corr := uuid.New()
		req := &core.Message{Topic: node.RequestTopic, Value: []byte(`{}`)}
		req.Headers.CorrelationID = corr
		if _, err := bus.Publish(ctx, req); err != nil {
			t.Fatal(err)
		}
		other := uuid.New()
		body, _ := json.Marshal(node.Request{NodeID: &other})
		if _, err := bus.Publish(ctx, &core.Message{Topic: node.RequestTopic, Value: body}); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if err := r.Close(ctx); err != nil {
			t.Fatal(err)
		}
		if err := r.Close(ctx); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		evs := introspections(t, bus)
		if len(evs) != 3 {
			t.Fatalf("%d introspection events, want startup, request, shutdown: %+v", len(evs), evs)
		}
		want := []node.Reason{node.ReasonStartup, node.ReasonRequest, node.ReasonShutdown}
		for i, e := range evs {
			if e.Reason != want[i] {
				t.Errorf("event %d reason %s, want %s", i, e.Reason, want[i])
			}
			if e.NodeID != identity().ID || e.NodeType != node.KindRuntimeHost || e.NodeVersion != "0.3.0-dev+abc" {
				t.Errorf("event %d identity %+v", i, e)
			}
			if e.Endpoints["kafka"] != "kafka://127.0.0.1:9092" || e.Capabilities.Declared[0] != "kafka" {
				t.Errorf("event %d endpoints/capabilities %+v", i, e)
			}
			if e.Timestamp.IsZero() {
				t.Errorf("event %d has no timestamp", i)
			}
		}
		if evs[1].CorrelationID != corr {
			t.Errorf("request answered with correlation_id %s, want the request's %s", evs[1].CorrelationID, corr)
		}
		if err := r.Introspect(ctx, node.ReasonRequest, uuid.Nil); !errors.Is(err, node.ErrClosed) {
			t.Errorf("Introspect after Close: %v, want ErrClosed", err)
		}
	})
}

// TestHeartbeatInterval: with a fake clock, one heartbeat per interval,
// uptime growing by exactly the interval, and none after Close.
func TestHeartbeatInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		bus := newBus(t)
		defer bus.Close(context.Background())
		var ops int64 = 4
		r, err := node.New(bus, identity(), node.WithHeartbeatInterval(10*time.Second),
			node.WithActiveOperations(func() int64 { return ops }))
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		if err := r.Start(ctx); err != nil {
			t.Fatal(err)
		}
		time.Sleep(35 * time.Second)
		synctest.Wait()
		hbs := history(t, bus, node.HeartbeatTopic)
		if len(hbs) != 3 {
			t.Fatalf("%d heartbeats after 35s at 10s, want 3", len(hbs))
		}
		for i, m := range hbs {
			h, err := node.ParseHeartbeat(m.Value)
			if err != nil {
				t.Fatalf("heartbeat %d: %v (%s)", i, err, m.Value)
			}
			if want := float64(10 * (i + 1)); h.UptimeSeconds != want {
				t.Errorf("heartbeat %d uptime %v, want %v", i, h.UptimeSeconds, want)
			}
			if h.ActiveOperationsCount != 4 || h.MemoryUsageMB == nil || *h.MemoryUsageMB <= 0 || h.CPUUsagePercent == nil {
				t.Errorf("heartbeat %d: %+v", i, h)
			}
			if !strings.Contains(string(m.Value), `"timestamp":"2000-01-01T00:00:`) {
				t.Errorf("heartbeat %d timestamp not RFC 3339 with zone: %s", i, m.Value)
			}
		}
		if err := r.SetHeartbeatInterval(time.Second); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		time.Sleep(2500 * time.Millisecond)
		synctest.Wait()
		if n := len(history(t, bus, node.HeartbeatTopic)); n != 5 {
			t.Fatalf("%d heartbeats after switching to 1s for 2.5s, want 5", n)
		}
		if err := r.Close(ctx); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		if n := len(history(t, bus, node.HeartbeatTopic)); n != 5 {
			t.Fatalf("%d heartbeats after Close, want still 5", n)
		}
	})
}
