package node_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/onexbus/onexbus/core/node"
)

const goodHeartbeat = `{"node_id":"7d444840-9dc0-11d1-b245-5ffdce74fad2","node_type":"effect","uptime_seconds":1.5,"timestamp":"2026-12-01T10:00:00+01:00"}`

// TestParseRules: the original models' rules, every problem reported
// with its field.
func TestParseRules(t *testing.T) {
	h, err := node.ParseHeartbeat([]byte(goodHeartbeat))
	if err != nil {
		t.Fatal(err)
	}
	if h.NodeVersion != "1.0.0" || h.ActiveOperationsCount != 0 || h.MemoryUsageMB != nil {
		t.Errorf("defaults: %+v", h)
	}
	i, err := node.ParseIntrospection([]byte(`{"node_id":"7d444840-9dc0-11d1-b245-5ffdce74fad2","node_type":"compute","correlation_id":"0b6a4f3e-1d6c-4b53-8f63-5d9f1f2a8f11","timestamp":"2026-12-01T09:00:00Z"}`))
	if err != nil {
		t.Fatal(err)
	}
	if i.Reason != node.ReasonStartup || i.NodeVersion != "1.0.0" {
		t.Errorf("defaults: %+v", i)
	}
	cases := []struct {
		name, body string
		intro      bool
		fields     []string
	}{
		{"naive timestamp", `{"node_id":"7d444840-9dc0-11d1-b245-5ffdce74fad2","node_type":"effect","uptime_seconds":1,"timestamp":"2026-12-01T10:00:00"}`, false, []string{"timestamp"}},
		{"extra field", `{"node_id":"7d444840-9dc0-11d1-b245-5ffdce74fad2","node_type":"effect","uptime_seconds":1,"timestamp":"2026-12-01T10:00:00Z","colour":"red"}`, false, []string{"colour"}},
		{"missing required", `{"node_type":"effect"}`, false, []string{"node_id", "uptime_seconds", "timestamp"}},
		{"ranges", `{"node_id":"7d444840-9dc0-11d1-b245-5ffdce74fad2","node_type":"gateway","node_version":"v1","uptime_seconds":-1,"active_operations_count":-2,"memory_usage_mb":-3,"cpu_usage_percent":101,"timestamp":"2026-12-01T10:00:00Z"}`, false,
			[]string{"node_type", "node_version", "uptime_seconds", "active_operations_count", "memory_usage_mb", "cpu_usage_percent"}},
		{"introspection rules", `{"node_id":"00000000-0000-0000-0000-000000000000","node_type":"effect","reason":"bored","endpoints":{"api":"not a url"},"epoch":-1,"correlation_id":"0b6a4f3e-1d6c-4b53-8f63-5d9f1f2a8f11","timestamp":"2026-12-01T10:00:00Z"}`, true,
			[]string{"node_id", "reason", "endpoints.api", "epoch"}},
		{"not an object", `[1]`, true, []string{"JSON object"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var err error
			if c.intro {
				_, err = node.ParseIntrospection([]byte(c.body))
			} else {
				_, err = node.ParseHeartbeat([]byte(c.body))
			}
			if !errors.Is(err, node.ErrInvalidEvent) {
				t.Fatalf("err %v, want ErrInvalidEvent", err)
			}
			for _, f := range c.fields {
				if !strings.Contains(err.Error(), f) {
					t.Errorf("error does not name %s: %v", f, err)
				}
			}
		})
	}
}

// TestNewRejectsBadIdentity: the identity is held to the model's rules at New.
func TestNewRejectsBadIdentity(t *testing.T) {
	bus := newBus(t)
	defer bus.Close(t.Context())
	_, err := node.New(bus, node.Identity{Type: "gateway", Version: "x"}, node.WithHeartbeatInterval(time.Nanosecond))
	if !errors.Is(err, node.ErrInvalidConfig) {
		t.Fatalf("err %v", err)
	}
	for _, f := range []string{"node_id", "node_type", "node_version", "heartbeat interval"} {
		if !strings.Contains(err.Error(), f) {
			t.Errorf("error does not name %s: %v", f, err)
		}
	}
}
