package daemon_test

import (
	"net/http"
	"strings"
	"testing"
)

// The daemon serves the HTTP API on http.addr and the catalogued metrics
// on /metrics of the admin listener, including the API's own requests.
func TestServesHTTPAPIAndMetrics(t *testing.T) {
	r := startDaemon(t, testConfig(t))
	a := r.d.Addrs()
	if a.HTTP == nil {
		t.Fatal("no HTTP listener")
	}
	resp, err := http.Post("http://"+a.HTTP.String()+"/v1/topics/orders/messages", "application/json",
		strings.NewReader(`{"value_text":"hi"}`))
	if err != nil || resp.StatusCode != 201 {
		t.Fatalf("publish over HTTP: %v %v", resp, err)
	}
	resp.Body.Close()
	code, body := get(t, "http://"+a.Admin.String()+"/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	for _, want := range []string{
		`onexbus_published_messages_total{topic="orders"} 1`,
		`onexbus_log_messages{topic="orders"} 1`,
		`onexbusd_http_requests_total{code="201",method="POST",route="POST /v1/topics/{topic}/messages"} 1`,
		`onexbusd_build_info{`,
		`onexbus_wal_fsync_duration_seconds_bucket`,
		`onexbus_disk_free_bytes`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
