package metrics_test

import (
	"testing"

	"github.com/onexbus/onexbus/metrics"
)

type backlog struct{ msgs, bytes int64 }

func (b backlog) Backlog() int64               { return b.msgs }
func (b backlog) BacklogBytes() (int64, error) { return b.bytes, nil }

func TestForwarderBacklogAgainstBudget(t *testing.T) {
	up := false
	m, err := metrics.New(metrics.WithForwarder(backlog{msgs: 7, bytes: 900}, 1000, func() bool { return up }))
	if err != nil {
		t.Fatal(err)
	}
	fams, _ := scrape(t, m)
	for name, want := range map[string]float64{"onexbus_forwarder_backlog_messages": 7, "onexbus_forwarder_backlog_bytes": 900,
		"onexbus_forwarder_backlog_budget_bytes": 1000, "onexbus_forwarder_upstream_up": 0} {
		if v, ok := find(t, fams, name, nil); !ok || v != want {
			t.Errorf("%s = %v (%v), want %v", name, v, ok, want)
		}
	}
}
