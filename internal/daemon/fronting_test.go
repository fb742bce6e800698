package daemon_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/onexbus/onexbus/core"
)

// TestFrontingForwardsAndIngests: with forward.pattern and ingest.topics
// the daemon copies local topics to the upstream Kafka and appends the
// upstream topics locally; /readyz?verbose shows both.
func TestFrontingForwardsAndIngests(t *testing.T) {
	up, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "onex.cmd.billing.charge.v1"))
	if err != nil {
		t.Fatal(err)
	}
	defer up.Close()
	cfg := testConfig(t)
	cfg.ForwardPattern = "onex.evt.**"
	cfg.IngestTopics = []string{"onex.cmd.billing.charge.v1"}
	cfg.Upstream = withUpstream(t, cfg.Upstream, map[string]string{
		"KAFKA_BOOTSTRAP_SERVERS":       strings.Join(up.ListenAddrs(), ","),
		"KAFKA_TIMEOUT_SECONDS":         "1",
		"KAFKA_CONSUMER_SLEEP_INTERVAL": "0.01",
		"KAFKA_SESSION_TIMEOUT_MS":      "6000",
		"KAFKA_HEARTBEAT_INTERVAL_MS":   "500",
		"KAFKA_LINGER_MS":               "1",
	})
	r := startDaemon(t, cfg)

	if _, err := r.d.Bus().Publish(context.Background(), &core.Message{Topic: "onex.evt.billing.paid.v1", Value: []byte("paid")}); err != nil {
		t.Fatal(err)
	}
	cl := kafkaClient(t, up.ListenAddrs()[0], kgo.ConsumeTopics("onex.evt.billing.paid.v1"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var got []*kgo.Record
	for len(got) == 0 && ctx.Err() == nil {
		got = append(got, cl.PollFetches(ctx).Records()...)
	}
	if len(got) != 1 || string(got[0].Value) != "paid" {
		t.Fatalf("upstream got %d records", len(got))
	}

	pr := kafkaClient(t, up.ListenAddrs()[0])
	if err := pr.ProduceSync(ctx, &kgo.Record{Topic: "onex.cmd.billing.charge.v1", Value: []byte("charge")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "ingested record appended locally", func() bool {
		end, err := r.d.Bus().EndOffset("onex.cmd.billing.charge.v1", 0)
		return err == nil && end == 1
	})
	code, body := get(t, "http://"+r.d.Addrs().Admin.String()+"/readyz?verbose")
	if code != 200 || !strings.Contains(body, `"forwarder"`) || !strings.Contains(body, `"ingest running","ok":true`) {
		t.Errorf("/readyz %d %s", code, body)
	}
	// The forwarder's backlog and the upstream's state are on /metrics.
	_, metrics := get(t, "http://"+r.d.Addrs().Admin.String()+"/metrics")
	for _, want := range []string{"onexbus_forwarder_backlog_messages ", "onexbus_forwarder_backlog_budget_bytes ", "onexbus_forwarder_upstream_up 1"} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
