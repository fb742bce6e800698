package broker

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// kcatGroup runs kcat's balanced consumer (-G) on topic until the end of
// every partition and returns the values it printed and its debug output.
func kcatGroup(t *testing.T, tb *testBroker, group, topic string) (values []string, debug string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(testCtx(t), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "kcat", "-b", tb.addr, "-G", group, "-e", "-q", "-f", "%s\n",
		"-X", "auto.offset.reset=earliest", "-d", "feature", topic)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("kcat -G %s: %v\n%s", group, err, stderr.String())
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if line != "" {
			values = append(values, line)
		}
	}
	return values, stderr.String()
}

// kcat (librdkafka 2.0.2) as a balanced consumer: librdkafka turns the
// feature on only because the advertised ranges meet JoinGroup v0,
// OffsetCommit 1-2 and OffsetFetch 1; it consumes every record once,
// commits on exit, and a second run resumes from those commits.
func TestKcatBalancedConsumerGroup(t *testing.T) {
	needTool(t, "kcat")
	tb := startBroker(t)
	ctx := testCtx(t)
	produceN(t, tb, "kc", 2, 20)

	values, debug := kcatGroup(t, tb, "kcg", "kc")
	if !strings.Contains(debug, "Enabling feature BrokerBalancedConsumer") || strings.Contains(debug, "Disabling feature BrokerBalancedConsumer") {
		t.Fatalf("librdkafka did not enable its balanced consumer:\n%s", debug)
	}
	seen := map[string]bool{}
	for _, v := range values {
		if seen[v] {
			t.Fatalf("value %s consumed twice", v)
		}
		seen[v] = true
	}
	if len(seen) != 20 {
		t.Fatalf("kcat consumed %d records, want 20: %v", len(seen), values)
	}
	adm := kadm.NewClient(tb.client(t))
	offs, err := adm.FetchOffsets(ctx, "kcg")
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	offs.Each(func(o kadm.OffsetResponse) { total += o.At })
	if total != 20 {
		t.Fatalf("kcat committed offsets summing to %d, want 20", total)
	}

	prod := tb.client(t, kgo.DefaultProduceTopic("kc"))
	if err := prod.ProduceSync(ctx, &kgo.Record{Value: []byte("late-1")}, &kgo.Record{Value: []byte("late-2")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if again, _ := kcatGroup(t, tb, "kcg", "kc"); len(again) != 2 || !strings.HasPrefix(again[0], "late-") || !strings.HasPrefix(again[1], "late-") {
		t.Fatalf("second run consumed %v, want only the 2 late records (resumed from the commits)", again)
	}
}
