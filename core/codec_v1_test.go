package core

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/onexbus/onexbus/internal/testutil"
	"github.com/onexbus/onexbus/internal/testutil/codecv1"
	"github.com/onexbus/onexbus/message"
	"github.com/onexbus/onexbus/wal"
)

// v1Messages are the messages TestReadsVersion1Log stores: default
// headers, keys, every header set, extra and unparsed headers, an empty
// and a nil value, explicit header times.
func v1Messages(topic string, n int) []*Message {
	base := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	var out []*Message
	for i := range n {
		m := &Message{Topic: topic, Value: bytes.Repeat([]byte{byte(i)}, i%300), Timestamp: base.Add(time.Duration(i) * time.Millisecond)}
		switch i % 5 {
		case 1:
			m.Key = []byte(fmt.Sprintf("key-%d", i%7))
		case 2:
			m.Headers = message.Headers{
				CorrelationID: uuid.New(), Source: "svc-v1", ContentType: "text/plain", SchemaVersion: "2.1.0",
				Destination: "billing", TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", SpanID: "00f067aa0ba902b7",
				ParentSpanID: "00f067aa0ba902b6", OperationName: "create", Priority: PriorityHigh,
				RoutingKey: "orders.eu", PartitionKey: fmt.Sprint("pk-", i), RetryCount: 2, MaxRetries: -1,
				TTLSeconds: 3600, TraceParent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
				Timestamp: base.Add(-time.Hour),
				Extra:     []Header{{Key: "x-tenant", Value: "acme"}, {Key: "x-empty", Value: ""}},
				Unparsed:  []Header{{Key: "priority", Value: "urgent"}},
			}
		case 3:
			m.Value = nil
			m.Key = []byte{}
		case 4:
			m.Value = []byte{}
			m.Headers.Extra = []Header{{Key: "x-n", Value: strings.Repeat("v", i)}}
		}
		out = append(out, m)
	}
	return out
}

// TestReadsVersion1Log: a log whose records hold version 1 bodies (the
// encoder kept in internal/testutil/codecv1, in wal records built as
// the version 1 publish built them) reopens and reads fully, by History
// and by a subscription from the earliest offset, every field as
// published; version 2 records appended after it read alongside.
func TestReadsVersion1Log(t *testing.T) {
	ctx := testutil.Context(t)
	dir := t.TempDir()
	const topic = "onex.evt.codec.v1log.v1"
	b, err := New(WithDataDir(dir))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.CreateTopic(ctx, topic, TopicConfig{Partitions: 3}); err != nil {
		t.Fatal(err)
	}
	want := map[[2]int64]*Message{}
	v1 := v1Messages(topic, 400)
	now := time.Now()
	for _, m := range v1 {
		fresh, err := b.prepare(m, now)
		if err != nil {
			t.Fatal(err)
		}
		body := codecv1.AppendMessage(nil, m)
		if body[0] != 1 {
			t.Fatalf("codecv1 wrote version %d", body[0])
		}
		recs := []wal.Record{{Timestamp: m.Timestamp.UnixNano(), MessageID: m.Headers.MessageID,
			CorrelationID: m.Headers.CorrelationID, Payload: body, FreshID: fresh}}
		if err := b.log.Append(ctx, topic, m.Partition, recs); err != nil {
			t.Fatal(err)
		}
		m.Offset = recs[0].Offset
		want[[2]int64{int64(m.Partition), m.Offset}] = m
	}
	if err := b.Close(ctx); err != nil {
		t.Fatal(err)
	}

	b, err = New(WithDataDir(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close(ctx)
	for _, m := range v1Messages(topic, 50) {
		m.Timestamp = time.Time{}
		if _, err := b.Publish(ctx, m); err != nil {
			t.Fatal(err)
		}
		want[[2]int64{int64(m.Partition), m.Offset}] = m
	}
	check := func(t *testing.T, how string, got []*Message) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%s: %d messages, want %d", how, len(got), len(want))
		}
		for _, g := range got {
			w := want[[2]int64{int64(g.Partition), g.Offset}]
			if w == nil {
				t.Fatalf("%s: unexpected %s/%d@%d", how, g.Topic, g.Partition, g.Offset)
			}
			if g.Topic != topic || !bytes.Equal(g.Key, w.Key) || (g.Key == nil) != (w.Key == nil) ||
				!bytes.Equal(g.Value, w.Value) || (g.Value == nil) != (w.Value == nil) ||
				!g.Timestamp.Equal(w.Timestamp) || !headersAlike(g.Headers, w.Headers) {
				t.Fatalf("%s: %d@%d\n got %+v\nwant %+v", how, g.Partition, g.Offset, g, w)
			}
		}
	}
	hist, err := b.History(ctx, topic, 10_000)
	if err != nil {
		t.Fatal(err)
	}
	check(t, "History", hist)

	var mu sync.Mutex
	var got []*Message
	all := make(chan struct{})
	sub, err := b.Subscribe(ctx, topic, "reader", func(_ context.Context, m *Message) error {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, m)
		if len(got) == len(want) {
			close(all)
		}
		return nil
	}, SubscribeStart(StartEarliest))
	if err != nil {
		t.Fatal(err)
	}
	testutil.Receive(t, all, 30*time.Second)
	if err := sub.Unsubscribe(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	check(t, "Subscribe", got)
}

// headersAlike compares headers field by field, times by instant.
func headersAlike(a, b Headers) bool {
	if !a.Timestamp.Equal(b.Timestamp) {
		return false
	}
	a.Timestamp, b.Timestamp = time.Time{}, time.Time{}
	if len(a.Extra) == 0 && len(b.Extra) == 0 {
		a.Extra, b.Extra = nil, nil
	}
	if len(a.Unparsed) == 0 && len(b.Unparsed) == 0 {
		a.Unparsed, b.Unparsed = nil, nil
	}
	return fmt.Sprintf("%#v", a) == fmt.Sprintf("%#v", b)
}

// TestStoredBytesPerMessage measures what the log stores for a published
// message with a 256-byte value and default headers (the bus's source
// "onexbus", a 23-byte topic): chunk bytes over messages, chunk headers
// included, in a bbolt log after Sync. Version 2 records (the frame's 48
// bytes and a 268-byte body) against the same messages stored with
// version 1 bodies (441 bytes a record); FormatKafka topics are logged
// for comparison (one batch of 61 bytes per PublishAsync plus nine text
// headers, which a Kafka consumer reads, so they are not ours to
// shorten).
func TestStoredBytesPerMessage(t *testing.T) {
	ctx := testutil.Context(t)
	b, err := New(WithDataDir(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close(ctx)
	const n = 1000
	value := make([]byte, 256)
	perMessage := func(topic string) float64 {
		t.Helper()
		if err := b.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		stored, err := b.log.BytesFrom(topic, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		return float64(stored) / n
	}
	// Topics of one length: version 1 stored the topic again as
	// event_type.
	const v1Topic, v2Topic, kafkaTopic = "onex.evt.codec.size1.v1", "onex.evt.codec.size2.v1", "onex.evt.codec.sizek.v1"
	for topic, f := range map[string]Format{v1Topic: FormatFrames, v2Topic: FormatFrames, kafkaTopic: FormatKafka} {
		if _, err := b.CreateTopic(ctx, topic, TopicConfig{Partitions: 1, Format: f}); err != nil {
			t.Fatal(err)
		}
	}
	for _, topic := range []string{v2Topic, kafkaTopic} {
		var wg sync.WaitGroup
		for range n {
			wg.Add(1)
			if err := b.PublishAsync(ctx, &Message{Topic: topic, Value: value}, func(_ *Message, err error) {
				if err != nil {
					t.Error(err)
				}
				wg.Done()
			}); err != nil {
				t.Fatal(err)
			}
		}
		wg.Wait()
	}
	now := time.Now()
	var recs []wal.Record
	for range n {
		m := &Message{Topic: v1Topic, Value: value}
		fresh, err := b.prepare(m, now)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, wal.Record{Timestamp: m.Timestamp.UnixNano(), MessageID: m.Headers.MessageID,
			CorrelationID: m.Headers.CorrelationID, Payload: codecv1.AppendMessage(nil, m), FreshID: fresh})
	}
	if err := b.log.Append(ctx, v1Topic, 0, recs); err != nil {
		t.Fatal(err)
	}
	v1, v2, kafka := perMessage(v1Topic), perMessage(v2Topic), perMessage(kafkaTopic)
	t.Logf("stored bytes per 256-byte message: frames version 1 %.1f, version 2 %.1f (%.2fx); kafka %.1f", v1, v2, v2/v1, kafka)
	if v2 > 320 || v1 < 430 {
		t.Errorf("stored bytes per message: version 2 %.1f (want <= 320), version 1 %.1f (want >= 430)", v2, v1)
	}
}
