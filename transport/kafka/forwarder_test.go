package kafka

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/onexbus/onexbus/core"
)

const topic = "onex.evt.orders.created.v1"

// fullHeaders sets every header field.
func fullHeaders(i int) core.Headers {
	return core.Headers{
		CorrelationID: uuid.New(), MessageID: uuid.New(),
		Timestamp: time.Date(2025, 1, 2, 3, 4, 5, 6000, time.UTC),
		Source:    "svc", EventType: "order.created", ContentType: "application/x-test", SchemaVersion: "2.1.0",
		Destination: "billing", TraceID: "trace", SpanID: "span", ParentSpanID: "parent", OperationName: "op",
		Priority: core.PriorityHigh, RoutingKey: "rk", PartitionKey: fmt.Sprintf("pk-%d", i%7),
		RetryCount: 1, MaxRetries: 5, TTLSeconds: 60,
		TraceParent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
		Extra:       []core.Header{{Key: "tenant", Value: "acme"}, {Key: "n", Value: fmt.Sprint(i)}},
	}
}

// ACCEPTANCE 7, 8, 13: messages with every header go bus A -> forwarder ->
// Kafka -> ingest -> bus B intact, in per-key order, same partition, and
// two groups on bus B each get every message.
func TestRoundTripAllHeaders(t *testing.T) {
	c, _ := newCluster(t)
	cfg := testConfig(t, c)
	a := newBus(t, core.WithTopic(topic, core.TopicConfig{Partitions: 3}))
	b := newBus(t, core.WithStartPosition(core.StartEarliest))
	f := startForwarder(t, a, cfg)
	startIngest(t, b, cfg, []string{topic})

	ctx := context.Background()
	const n = 300
	type got struct {
		g string
		m *core.Message
	}
	recv := make(chan got, 2*n)
	for _, g := range []string{"g1", "g2"} {
		if _, err := b.Subscribe(ctx, topic, g, func(_ context.Context, m *core.Message) error {
			recv <- got{g, m}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	sent := map[uuid.UUID]*core.Message{}
	var last *core.Message
	for i := range n {
		m := &core.Message{Topic: topic, Key: fmt.Appendf(nil, "k%d", i%5), Value: fmt.Appendf(nil, "seq-%d", i/5), Headers: fullHeaders(i)}
		if _, err := a.Publish(ctx, m); err != nil {
			t.Fatal(err)
		}
		sent[m.Headers.MessageID] = m
		last = m
	}
	// The caller can wait for the upstream ack of its message.
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := f.WaitAcked(wctx, topic, last.Partition, last.Offset); err != nil {
		t.Fatal(err)
	}
	if f.Acked(topic, last.Partition) <= last.Offset {
		t.Fatal("Acked is behind WaitAcked")
	}
	next := map[string]map[string]int{"g1": {}, "g2": {}}
	for range 2 * n {
		var r got
		select {
		case r = <-recv:
		case <-time.After(30 * time.Second):
			t.Fatal("timed out waiting for ingested messages")
		}
		in := sent[r.m.Headers.MessageID]
		if in == nil {
			t.Fatalf("unknown message %v", r.m.Headers.MessageID)
		}
		if r.m.Partition != in.Partition || string(r.m.Value) != string(in.Value) {
			t.Fatalf("partition %d value %q, want %d %q", r.m.Partition, r.m.Value, in.Partition, in.Value)
		}
		if !reflect.DeepEqual(r.m.Headers, in.Headers) {
			t.Fatalf("headers differ:\n got %+v\nwant %+v", r.m.Headers, in.Headers)
		}
		var seq int
		fmt.Sscanf(string(r.m.Value), "seq-%d", &seq)
		k := string(r.m.Key)
		if seq != next[r.g][k] {
			t.Fatalf("group %s key %s: seq %d, want %d", r.g, k, seq, next[r.g][k])
		}
		next[r.g][k]++
	}
	if bl := f.Backlog(); bl != 0 {
		t.Fatalf("backlog %d after everything was acked", bl)
	}
}

// Kafka goes away while messages are published: publishes keep
// succeeding, the breaker opens, and when Kafka returns the backlog drains
// with every message, in per-key order.
func TestForwarderOutage(t *testing.T) {
	n := 100_000
	if testing.Short() {
		n = 10_000
	}
	c, g := newCluster(t)
	cfg := testConfig(t, c)
	a := newBus(t, core.WithTopic(topic, core.TopicConfig{Partitions: 4}))
	f := startForwarder(t, a, cfg)
	ctx := context.Background()
	publish := func(from, to int) {
		t.Helper()
		batch := make([]*core.Message, 0, 500)
		for i := from; i < to; i++ {
			batch = append(batch, &core.Message{Topic: topic, Key: fmt.Appendf(nil, "k%d", i%64), Value: fmt.Appendf(nil, "seq-%d", i/64)})
			if len(batch) == cap(batch) || i == to-1 {
				if err := a.PublishBatch(ctx, batch); err != nil {
					t.Fatal(err)
				}
				batch = batch[:0]
			}
		}
	}
	// n is a multiple of 64, so every key gets n/64 messages.
	publish(0, n/10)
	waitFor(t, 30*time.Second, "first tenth forwarded", func() bool { return f.Backlog() == 0 })
	g.cut()
	publish(n/10, n)
	waitFor(t, 30*time.Second, "breaker open", func() bool { return f.BreakerState() == BreakerOpen })
	if f.Backlog() == 0 {
		t.Fatal("backlog drained while Kafka was unreachable")
	}
	g.restore()
	waitFor(t, 120*time.Second, "backlog drained", func() bool { return f.Backlog() == 0 })
	if s := f.BreakerState(); s != BreakerClosed {
		t.Fatalf("breaker %v after the drain", s)
	}
	recs := consumeAll(t, c, topic, n)
	checkPerKeyOrder(t, recs, n)
}

// The forwarded position is persisted: a new forwarder on the same bus
// resumes after what the first one forwarded.
func TestForwarderResumesFromPersistedPosition(t *testing.T) {
	c, _ := newCluster(t)
	cfg := testConfig(t, c)
	a := newBus(t)
	ctx := context.Background()
	f1, err := NewForwarder(a, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := f1.Start(ctx); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if _, err := a.Publish(ctx, &core.Message{Topic: topic, Key: []byte("k"), Value: fmt.Appendf(nil, "seq-%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := f1.WaitAcked(wctx, topic, 0, 9); err != nil {
		t.Fatal(err)
	}
	if err := f1.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := f1.Close(ctx); err != nil {
		t.Fatal("second Close:", err)
	}
	if err := f1.WaitAcked(ctx, topic, 0, 10); !errors.Is(err, ErrForwarderClosed) {
		t.Fatalf("WaitAcked after Close: %v", err)
	}
	for i := 10; i < 20; i++ {
		if _, err := a.Publish(ctx, &core.Message{Topic: topic, Key: []byte("k"), Value: fmt.Appendf(nil, "seq-%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	f2 := startForwarder(t, a, cfg)
	if got := f2.Acked(topic, 0); got != 10 {
		t.Fatalf("second forwarder starts at %d, want 10", got)
	}
	if err := f2.WaitAcked(wctx, topic, 0, 19); err != nil {
		t.Fatal(err)
	}
	recs := consumeAll(t, c, topic, 20)
	if len(recs) != 20 {
		t.Fatalf("%d records upstream, want 20 (nothing forwarded twice on a clean restart)", len(recs))
	}
	checkPerKeyOrder(t, recs, 20)
}
