package kafka

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/onexbus/onexbus/core"
)

// Records built from the log's bytes, with batches of 7 reused from the
// pool many times over, are what the stored messages say, on both
// storage formats: key (the partition key when there is none), value
// (nil and empty kept apart), millisecond timestamp and headers, in
// order. A slab written again too early would show here as another
// record's bytes.
func TestForwardedRecordsFromReusedBatches(t *testing.T) {
	for _, format := range []core.Format{core.FormatFrames, core.FormatKafka} {
		t.Run(fmt.Sprintf("format=%v", format), func(t *testing.T) {
			c, _ := newCluster(t)
			cfg := testConfig(t, c)
			const name = "reuse"
			a := newBus(t, core.WithTopic(name, core.TopicConfig{Partitions: 1, Format: format}))
			ctx := context.Background()
			var batch []*core.Message
			for i := range 200 {
				m := &core.Message{Topic: name, Value: bytes.Repeat([]byte{byte(i)}, i*13%700)}
				switch i % 5 {
				case 0:
					m.Key = fmt.Appendf(nil, "key-%d", i)
				case 1:
					m.Value = nil
				case 2:
					m.Headers.PartitionKey = fmt.Sprintf("pk-%d", i)
				case 3:
					m.Headers.CorrelationID = uuid.New()
					m.Headers.Extra = []core.Header{{Key: "x-n", Value: fmt.Sprint(i)}, {Key: "x-empty", Value: ""}}
				}
				batch = append(batch, m)
			}
			if err := a.PublishBatch(ctx, batch); err != nil {
				t.Fatal(err)
			}
			stored, err := a.Fetch(ctx, name, 0, 0, len(batch))
			if err != nil || len(stored) != len(batch) {
				t.Fatalf("fetch: %d, %v", len(stored), err)
			}
			startForwarder(t, a, cfg, WithBatch(7, 2))
			recs := consumeAll(t, c, name, len(batch))
			if len(recs) != len(batch) {
				t.Fatalf("%d records, want %d", len(recs), len(batch))
			}
			for i, r := range recs {
				m := stored[i]
				wantKey := m.Key
				if len(wantKey) == 0 && m.Headers.PartitionKey != "" {
					wantKey = []byte(m.Headers.PartitionKey)
				}
				if !bytes.Equal(r.Key, wantKey) || !bytes.Equal(r.Value, m.Value) || (r.Value == nil) != (m.Value == nil) {
					t.Fatalf("record %d: key %q value %d bytes (nil %v), want key %q value %d bytes (nil %v)",
						i, r.Key, len(r.Value), r.Value == nil, wantKey, len(m.Value), m.Value == nil)
				}
				if r.Timestamp.UnixMilli() != m.Timestamp.UnixMilli() {
					t.Fatalf("record %d: timestamp %v, want %v", i, r.Timestamp, m.Timestamp)
				}
				if got, want := show(r.Headers), showCore(m.Headers.AppendRecordHeaders(nil)); got != want {
					t.Fatalf("record %d headers:\n got %s\nwant %s", i, got, want)
				}
			}
		})
	}
}

// tracingHook does to a produced record what kotel does: a Context of
// its own and one more header, appended to the record's.
type tracingHook struct{}

type hookKey struct{}

func (tracingHook) OnProduceRecordBuffered(r *kgo.Record) {
	r.Context = context.WithValue(r.Context, hookKey{}, r.Topic)
	r.Headers = append(r.Headers, kgo.RecordHeader{Key: "traceparent-hook", Value: []byte(r.Topic)})
}

// A kgo hook that replaces the record's Context and appends a header (the
// daemon's kotel tracing does both) neither loses an ack nor writes into
// the batch's header slab: every record arrives once, with its own
// headers and the hook's after them.
func TestForwarderUnderRecordHooks(t *testing.T) {
	c, _ := newCluster(t)
	cfg := testConfig(t, c)
	const name = "hooked"
	a := newBus(t, core.WithTopic(name, core.TopicConfig{Partitions: 1}))
	ctx := context.Background()
	var batch []*core.Message
	for i := range 50 {
		batch = append(batch, &core.Message{Topic: name, Value: fmt.Appendf(nil, "%d", i)})
	}
	if err := a.PublishBatch(ctx, batch); err != nil {
		t.Fatal(err)
	}
	stored, err := a.Fetch(ctx, name, 0, 0, len(batch))
	if err != nil || len(stored) != len(batch) {
		t.Fatalf("fetch: %d, %v", len(stored), err)
	}
	f := startForwarder(t, a, cfg, WithBatch(4, 3), WithKgoOptions(kgo.WithHooks(tracingHook{})))
	if err := f.WaitAcked(ctx, name, 0, int64(len(batch)-1)); err != nil {
		t.Fatal(err)
	}
	recs := consumeAll(t, c, name, len(batch))
	for i, r := range recs {
		want := showCore(stored[i].Headers.AppendRecordHeaders(nil)) + fmt.Sprintf("traceparent-hook=%q ", name)
		if string(r.Value) != fmt.Sprint(i) || show(r.Headers) != want {
			t.Fatalf("record %d: %q\n got %s\nwant %s", i, r.Value, show(r.Headers), want)
		}
	}
}
