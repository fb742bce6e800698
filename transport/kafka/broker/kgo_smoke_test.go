package broker

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestKgoProduceFetchRoundTrip: records produced by kgo (idempotent,
// acks=all, snappy) are fetched back byte for byte, keys, values, headers
// and timestamps, from the beginning.
func TestKgoProduceFetchRoundTrip(t *testing.T) {
	tb := startBroker(t)
	ctx := testCtx(t)
	prod := tb.client(t, kgo.DefaultProduceTopic("rt"), kgo.AllowAutoTopicCreation())
	const n = 500
	var want []*kgo.Record
	for i := range n {
		r := &kgo.Record{
			Key:     fmt.Appendf(nil, "k%d", i%7),
			Value:   fmt.Appendf(nil, "value-%d", i),
			Headers: []kgo.RecordHeader{{Key: "h", Value: fmt.Appendf(nil, "%d", i)}},
		}
		want = append(want, r)
	}
	if err := prod.ProduceSync(ctx, want...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
	cons := tb.client(t, kgo.ConsumeTopics("rt"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	got := map[string]*kgo.Record{}
	for len(got) < n {
		fs := cons.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("poll: %v", err)
		}
		fs.EachRecord(func(r *kgo.Record) { got[string(r.Value)] = r })
	}
	for _, w := range want {
		g := got[string(w.Value)]
		if g == nil || !bytes.Equal(g.Key, w.Key) || len(g.Headers) != 1 || !bytes.Equal(g.Headers[0].Value, w.Headers[0].Value) ||
			g.Offset != w.Offset || g.Partition != w.Partition || !g.Timestamp.Equal(w.Timestamp.Truncate(1e6)) {
			t.Fatalf("record %s: got %+v want %+v", w.Value, g, w)
		}
	}
}
