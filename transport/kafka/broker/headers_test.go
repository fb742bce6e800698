package broker

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/onexbus/onexbus/core"
)

// TestHeadersKcatToEmbeddedSubscriber: a record produced with kcat (its
// headers included) reaches an embedded Subscribe handler with the ONEX
// headers mapped and the foreign ones kept as extra headers.
func TestHeadersKcatToEmbeddedSubscriber(t *testing.T) {
	needTool(t, "kcat")
	tb := startBroker(t)
	ctx := testCtx(t)
	if _, err := tb.bus.Kafka().CreateTopic(ctx, "onex.evt.orders.created.v1", topicCfg(1)); err != nil {
		t.Fatal(err)
	}
	got := make(chan *core.Message, 1)
	sub, err := tb.bus.Subscribe(ctx, "onex.evt.orders.created.v1", "embedded", func(_ context.Context, m *core.Message) error {
		select {
		case got <- m:
		default:
		}
		return nil
	}, core.SubscribeStart(core.StartEarliest))
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe(ctx)
	corr := uuid.New()
	kcat(t, "order-1:{\"id\":1}\n", "-b", tb.addr, "-P", "-t", "onex.evt.orders.created.v1", "-K", ":",
		"-H", "correlation_id="+corr.String(), "-H", "event_type=order.created", "-H", "priority=high", "-H", "x-tenant=acme")
	var m *core.Message
	select {
	case m = <-got:
	case <-time.After(20 * time.Second):
		t.Fatal("the embedded subscriber got nothing")
	}
	if string(m.Key) != "order-1" || string(m.Value) != `{"id":1}` || m.Headers.CorrelationID != corr || m.Headers.EventType != "order.created" ||
		m.Headers.Priority.String() != "high" {
		t.Fatalf("message %+v, headers %+v", m, m.Headers)
	}
	found := false
	for _, h := range m.Headers.Extra {
		found = found || (h.Key == "x-tenant" && h.Value == "acme")
	}
	if !found {
		t.Fatalf("foreign header lost: %+v", m.Headers.Extra)
	}
}

// TestHeadersBusPublishToKgo: a Bus.Publish to a Kafka-format topic is
// fetched by a kgo consumer with every header the bus set.
func TestHeadersBusPublishToKgo(t *testing.T) {
	tb := startBroker(t)
	ctx := testCtx(t)
	topic := "onex.evt.billing.charged.v1"
	if _, err := tb.bus.Kafka().CreateTopic(ctx, topic, topicCfg(1)); err != nil {
		t.Fatal(err)
	}
	msg := &core.Message{Topic: topic, Key: []byte("k"), Value: []byte(`{"amount":3}`)}
	msg.Headers.CorrelationID = uuid.New()
	msg.Headers.Source = "billing"
	msg.Headers.Extra = []core.Header{{Key: "x-tenant", Value: "acme"}}
	if _, err := tb.bus.Publish(ctx, msg); err != nil {
		t.Fatal(err)
	}
	cl := tb.client(t, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	fs := cl.PollFetches(ctx)
	if err := fs.Err0(); err != nil || fs.NumRecords() != 1 {
		t.Fatalf("fetch: %v, %d records", err, fs.NumRecords())
	}
	r := fs.Records()[0]
	hs := map[string]string{}
	for _, h := range r.Headers {
		hs[h.Key] = string(h.Value)
	}
	for k, want := range map[string]string{
		"correlation_id": msg.Headers.CorrelationID.String(), "source": "billing", "event_type": topic,
		"content_type": "application/json", "schema_version": "1.0.0", "priority": "normal", "x-tenant": "acme",
	} {
		if hs[k] != want {
			t.Errorf("header %s = %q, want %q (all: %v)", k, hs[k], want, hs)
		}
	}
	if _, err := uuid.Parse(hs["message_id"]); err != nil || !strings.Contains(string(r.Value), "amount") || string(r.Key) != "k" {
		t.Fatalf("record %+v headers %v", r, hs)
	}
}
