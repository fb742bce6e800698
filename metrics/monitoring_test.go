package metrics_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"regexp"
	"testing"
)

// promtool checks the alert rules and runs their unit tests
// (monitoring/alerts_test.yml: each alert fires when it should).
func TestAlertRules(t *testing.T) {
	promtool := needPromtool(t)
	for _, args := range [][]string{{"check", "rules", "monitoring/alerts.yml"}, {"test", "rules", "monitoring/alerts_test.yml"}} {
		out, err := exec.Command(promtool, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("promtool %v: %v\n%s", args, err, out)
		}
	}
}

// Every metric the dashboard and the alerts query is one the package
// exposes.
func TestDashboardAndAlertsUseCataloguedNames(t *testing.T) {
	known := map[string]bool{}
	for _, c := range catalogue {
		known[c.name] = true
	}
	for _, n := range []string{"onexbus_forwarder_backlog_messages", "onexbus_forwarder_backlog_bytes",
		"onexbus_forwarder_backlog_budget_bytes", "onexbus_forwarder_upstream_up"} {
		known[n] = true
	}
	name := regexp.MustCompile(`onexbusd?_[a-z_]+`)
	suffix := regexp.MustCompile(`_(bucket|sum|count)$`)
	for _, file := range []string{"monitoring/grafana-dashboard.json", "monitoring/alerts.yml"} {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if file == "monitoring/grafana-dashboard.json" {
			var d map[string]any
			if err := json.Unmarshal(b, &d); err != nil {
				t.Fatalf("dashboard is not JSON: %v", err)
			}
		}
		for _, n := range name.FindAllString(string(b), -1) {
			if base := suffix.ReplaceAllString(n, ""); !known[base] && !known[n] {
				t.Errorf("%s uses %s, which is not exposed", file, n)
			}
		}
	}
}

func needPromtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("promtool is not installed (apt-get install prometheus)")
		}
		t.Skip("promtool not installed: apt-get install prometheus")
	}
	return p
}
