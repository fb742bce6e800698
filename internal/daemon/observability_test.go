package daemon_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sr"

	"github.com/onexbus/onexbus/dispatch/schema"
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
	cl, err := kgo.NewClient(kgo.SeedBrokers(a.Kafka.String()), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "kafka-orders", Value: []byte("v")}).FirstErr(); err != nil {
		t.Fatalf("produce over the Kafka listener: %v", err)
	}
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
		`onexbusd_kafka_requests_total{api="Produce"} 1`,
		`onexbusd_kafka_request_duration_seconds_bucket{api="Metadata"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// The Confluent Schema Registry API subset is served under
// /schema-registry/ on the HTTP listener, for franz-go's sr client.
func TestServesSchemaRegistry(t *testing.T) {
	r := startDaemon(t, testConfig(t))
	base := "http://" + r.d.Addrs().HTTP.String() + "/schema-registry"
	cl, err := sr.NewClient(sr.URLs(base))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ss, err := cl.CreateSchema(ctx, "orders-value", sr.Schema{Schema: `{"type":"object","properties":{"id":{"type":"string"}}}`, Type: sr.TypeJSON})
	if err != nil {
		t.Fatalf("register through the daemon: %v", err)
	}
	got, err := cl.SchemaByID(ctx, ss.ID)
	if err != nil || got.Type != sr.TypeJSON {
		t.Fatalf("schema by id: %+v, %v", got, err)
	}
	// The HTTP API is still there beside it.
	code, _ := get(t, "http://"+r.d.Addrs().HTTP.String()+"/v1/topics")
	if code != 200 {
		t.Fatalf("/v1/topics: %d", code)
	}
}

// A topic in reject mode refuses a Kafka producer's record that breaks
// its schema (INVALID_RECORD) and stores the one that fits.
func TestKafkaProduceValidatedAgainstSchema(t *testing.T) {
	r := startDaemon(t, testConfig(t))
	base := "http://" + r.d.Addrs().HTTP.String() + "/schema-registry"
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	src, err := sr.NewClient(sr.URLs(base))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := src.CreateSchema(ctx, "typed-value", sr.Schema{Type: sr.TypeJSON,
		Schema: `{"type":"object","properties":{"id":{"type":"string"}},"required":["id"]}`}); err != nil {
		t.Fatal(err)
	}
	if err := r.d.SchemaRegistry().SetValidation(ctx, "typed", schema.ModeReject); err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(r.d.Addrs().Kafka.String()), kgo.AllowAutoTopicCreation(),
		kgo.RecordRetries(1), kgo.ProducerBatchMaxBytes(1<<20))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "typed", Value: []byte(`{"id":"a"}`)}).FirstErr(); err != nil {
		t.Fatalf("a record that fits: %v", err)
	}
	err = cl.ProduceSync(ctx, &kgo.Record{Topic: "typed", Value: []byte(`{"name":"no id"}`)}).FirstErr()
	if !errors.Is(err, kerr.InvalidRecord) {
		t.Fatalf("a record that breaks the schema: %v, want INVALID_RECORD", err)
	}
	if end, _ := r.d.Bus().EndOffset("typed", 0); end != 1 {
		t.Fatalf("%d records stored, want 1", end)
	}
}
