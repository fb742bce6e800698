package kafka

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/onexbus/onexbus/core"
)

// headerCases are headers a forwarder meets: the bus's defaults (the
// nine headers of nearly every record), every field set, none, extras,
// negative and out-of-range values, and timestamps whose fractions have
// trailing zeros or none, in zones other than UTC, and far from now.
func headerCases() []core.Headers {
	var out []core.Headers
	defaults := core.Headers{}
	defaults.ApplyDefaults(topic, "svc", time.Date(2026, 12, 1, 12, 0, 0, 123456789, time.UTC))
	out = append(out, defaults, core.Headers{}, fullHeaders(3))
	zone := time.FixedZone("x", -7*3600)
	for _, ts := range []time.Time{
		time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC),
		time.Date(2026, 12, 1, 12, 0, 0, 100_000_000, zone),
		time.Date(2026, 12, 1, 12, 0, 0, 120, time.UTC),
		time.Date(2026, 12, 1, 12, 0, 1, 999_999_999, time.Local),
		time.Date(1969, 12, 31, 23, 59, 59, 5, time.UTC),
		time.Date(12000, 1, 1, 0, 0, 0, 1, time.UTC),
		time.Date(-5, 1, 1, 0, 0, 0, 1, time.UTC),
	} {
		h := defaults
		h.Timestamp = ts
		out = append(out, h)
	}
	// Every count of trailing zeros in the fraction, and digits in
	// every pair position: 0.1, 0.12, ... 0.123456789, 0.000000009, ...
	for k, ns := 0, 123_456_789; k < 9; k, ns = k+1, ns/10 {
		for _, v := range []int{ns * pow10(k), 9 * pow10(k)} {
			h := defaults
			h.Timestamp = time.Date(2026, 12, 1, 12, 0, 0, v, time.UTC)
			out = append(out, h)
		}
	}
	odd := fullHeaders(4)
	odd.Priority = core.PriorityCritical + 7 // written as its String form
	odd.MaxRetries, odd.RetryCount, odd.TTLSeconds = -1, 1<<40, 7
	odd.Extra = []core.Header{{Key: "empty", Value: ""}, {Key: "tenant", Value: "acme"}}
	out = append(out, odd)
	rng := rand.New(rand.NewPCG(1, 2))
	pick := func(vs ...string) string { return vs[rng.IntN(len(vs))] }
	for range 200 {
		h := defaults
		h.MessageID, h.CorrelationID = uuid.New(), uuid.New()
		if rng.IntN(5) == 0 {
			h.CorrelationID = uuid.Nil
		}
		h.Timestamp = time.Unix(1_780_000_000+int64(rng.IntN(3)), int64(rng.IntN(4))*int64(rng.IntN(1e9)))
		h.Source = pick("svc", "svc", "other")
		h.EventType = pick(topic, topic, "x")
		h.ContentType = pick("application/json", "text/plain", "")
		h.SchemaVersion = pick("1.0.0", "2.0.0")
		h.Priority = core.Priority(rng.IntN(6))
		h.MaxRetries = rng.IntN(3) - 1
		h.RetryCount = rng.IntN(2)
		h.TTLSeconds = rng.IntN(2) * 30
		h.Destination = pick("", "", "billing")
		h.TraceID = pick("", "t1", "t2")
		h.OperationName = pick("", "op")
		h.RoutingKey = pick("", "rk")
		h.PartitionKey = pick("", "p1", "p2")
		if rng.IntN(3) == 0 {
			h.Extra = []core.Header{{Key: "n", Value: fmt.Sprint(rng.IntN(3))}}
		}
		out = append(out, h)
	}
	return out
}

// The forwarder's headers are, byte for byte and in order, what
// core.Headers.AppendRecordHeaders writes (the contract with a Kafka
// consumer of the original system), record after record of one batch:
// shared values never leak from one record into the next.
func TestHeaderEncoderMatchesAppendRecordHeaders(t *testing.T) {
	cases := headerCases()
	msgs := make([]*core.Message, len(cases))
	for i := range cases {
		msgs[i] = &core.Message{Headers: cases[i]}
	}
	enc := newHeaderEncoder(HeadersText, topic)
	got := make([][]kgo.RecordHeader, len(msgs))
	for i, m := range msgs {
		got[i] = enc.encode(&m.Headers)
	}
	// Compared after the whole batch: a later record must not have
	// changed an earlier one's bytes.
	for i, m := range msgs {
		want := m.Headers.AppendRecordHeaders(nil)
		if len(got[i]) != len(want) {
			t.Fatalf("record %d: %d headers, want %d\n got %s\nwant %s", i, len(got[i]), len(want), show(got[i]), showCore(want))
		}
		for j := range want {
			if got[i][j].Key != want[j].Key || !bytes.Equal(got[i][j].Value, want[j].Value) {
				t.Fatalf("record %d header %d: %s=%q, want %s=%q", i, j, got[i][j].Key, got[i][j].Value, want[j].Key, want[j].Value)
			}
		}
	}
}

// A UUID's text is uuid.UUID.String's (lower-case hex, 8-4-4-4-12) for
// every byte value at every position.
func TestHeaderEncoderUUIDText(t *testing.T) {
	e := newHeaderEncoder(HeadersText, topic)
	for pos := range 16 {
		for v := range 256 {
			var u uuid.UUID
			for i := range u {
				u[i] = byte(i*37 + 11) // a different byte everywhere else
			}
			u[pos] = byte(v)
			e.hdrs = e.hdrs[:0]
			e.uuid(core.HeaderMessageID, u)
			if got, want := string(e.hdrs[0].Value), u.String(); got != want {
				t.Fatalf("byte %d = %#x: %q, want %q", pos, v, got, want)
			}
		}
	}
}

// The headers after the timestamp are copied from the previous record's
// run when they would be the same bytes: a record that differs from its
// predecessor in any one of the fields they come from (or carries a
// per-record text among them) is written anew, and the records after it
// again match AppendRecordHeaders, with either encoding.
func TestHeaderEncoderRepeatedRunFollowsEveryField(t *testing.T) {
	var base core.Headers
	base.ApplyDefaults(topic, "svc", time.Date(2026, 12, 1, 12, 0, 0, 5, time.UTC))
	change := []func(h *core.Headers){
		func(h *core.Headers) { h.Source = "other" },
		func(h *core.Headers) { h.EventType = "x" },
		func(h *core.Headers) { h.ContentType = "text/plain" },
		func(h *core.Headers) { h.SchemaVersion = "2.0.0" },
		func(h *core.Headers) { h.Destination = "billing" },
		func(h *core.Headers) { h.OperationName = "op" },
		func(h *core.Headers) { h.Priority = core.PriorityHigh },
		func(h *core.Headers) { h.RoutingKey = "rk" },
		func(h *core.Headers) { h.RetryCount = 2 },
		func(h *core.Headers) { h.MaxRetries = 7 },
		func(h *core.Headers) { h.TTLSeconds = 30 },
		func(h *core.Headers) { h.TraceID = "t" },
		func(h *core.Headers) { h.SpanID = "s" },
		func(h *core.Headers) { h.ParentSpanID = "p" },
		func(h *core.Headers) { h.PartitionKey = "k" },
		func(h *core.Headers) { h.TraceParent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" },
		func(h *core.Headers) { h.Extra = []core.Header{{Key: "tenant", Value: "acme"}} },
		func(h *core.Headers) { h.Extra = []core.Header{{Key: "tenant", Value: "other"}} },
	}
	var msgs []*core.Message
	next := func(h core.Headers) {
		h.MessageID, h.CorrelationID = uuid.New(), uuid.New()
		msgs = append(msgs, &core.Message{Headers: h})
	}
	next(base)
	for _, c := range change {
		changed := base
		c(&changed)
		next(base)
		next(changed)
		next(changed) // the same changed shape twice in a row
		next(base)
	}
	for _, enc := range []HeaderEncoding{HeadersText, HeadersCompact} {
		e := newHeaderEncoder(enc, topic)
		got := make([][]kgo.RecordHeader, len(msgs))
		for i, m := range msgs {
			got[i] = e.encode(&m.Headers)
		}
		for i, m := range msgs {
			var want []core.RecordHeader
			if enc == HeadersText {
				want = m.Headers.AppendRecordHeaders(nil)
			} else {
				c := compactReference(m.Headers)
				want = c.AppendRecordHeaders(nil)
			}
			if show(got[i]) != showCore(want) {
				t.Fatalf("encoding %d, record %d:\n got %s\nwant %s", enc, i, show(got[i]), showCore(want))
			}
		}
	}
}

// compactReference is h with the fields HeadersCompact leaves out
// cleared: AppendRecordHeaders of it is what HeadersCompact writes.
func compactReference(h core.Headers) core.Headers {
	if h.EventType == topic {
		h.EventType = ""
	}
	if h.ContentType == core.DefaultContentType {
		h.ContentType = ""
	}
	if h.SchemaVersion == core.DefaultSchemaVersion {
		h.SchemaVersion = ""
	}
	if h.Priority == core.PriorityNormal {
		h.Priority = core.PriorityUnset
	}
	if h.MaxRetries == core.DefaultMaxRetries {
		h.MaxRetries = 0
	}
	return h
}

// Absent optional headers are left out: a message with the bus's
// defaults carries exactly the nine ONEX headers.
func TestHeaderEncoderDefaultsAreNineHeaders(t *testing.T) {
	var h core.Headers
	h.ApplyDefaults(topic, "svc", time.Now())
	enc := newHeaderEncoder(HeadersText, topic)
	var keys []string
	for _, x := range enc.encode(&h) {
		keys = append(keys, x.Key)
	}
	want := []string{core.HeaderCorrelationID, core.HeaderMessageID, core.HeaderTimestamp, core.HeaderSource, core.HeaderEventType,
		core.HeaderContentType, core.HeaderSchemaVersion, core.HeaderPriority, core.HeaderMaxRetries}
	if fmt.Sprint(keys) != fmt.Sprint(want) {
		t.Fatalf("headers %v, want %v", keys, want)
	}
}

// A Kafka consumer reads from the forwarder's records exactly the bytes
// AppendRecordHeaders gives for each message: kfake as the broker, kgo
// as the consumer, a batch of varied headers through the real path.
func TestForwardedHeaderBytes(t *testing.T) {
	c, _ := newCluster(t)
	cfg := testConfig(t, c)
	a := newBus(t, core.WithTopic(topic, core.TopicConfig{Partitions: 1}))
	ctx := context.Background()
	var batch []*core.Message
	for i, h := range headerCases() {
		// A fresh id each: the bus stores a repeated id once.
		h.MessageID = uuid.New()
		if h.Validate() != nil {
			continue // the bus refuses it (a year past 9999): never forwarded
		}
		batch = append(batch, &core.Message{Topic: topic, Value: fmt.Appendf(nil, "%d", i), Headers: h})
	}
	if err := a.PublishBatch(ctx, batch); err != nil {
		t.Fatal(err)
	}
	want := map[string][]core.RecordHeader{}
	for _, m := range batch {
		stored, err := a.Fetch(ctx, topic, 0, m.Offset, 1)
		if err != nil || len(stored) != 1 {
			t.Fatalf("fetch %d: %v", m.Offset, err)
		}
		want[string(m.Value)] = stored[0].Headers.AppendRecordHeaders(nil)
	}
	startForwarder(t, a, cfg)
	recs := consumeAll(t, c, topic, len(batch))
	seen := map[string]bool{}
	for _, r := range recs {
		w, ok := want[string(r.Value)]
		if !ok {
			t.Fatalf("unknown record %q", r.Value)
		}
		seen[string(r.Value)] = true
		if len(r.Headers) != len(w) {
			t.Fatalf("record %q: %s, want %s", r.Value, show(r.Headers), showCore(w))
		}
		for j := range w {
			if r.Headers[j].Key != w[j].Key || !bytes.Equal(r.Headers[j].Value, w[j].Value) {
				t.Fatalf("record %q header %d: %s=%q, want %s=%q", r.Value, j, r.Headers[j].Key, r.Headers[j].Value, w[j].Key, w[j].Value)
			}
		}
	}
	if len(seen) != len(batch) {
		t.Fatalf("%d distinct records, want %d", len(seen), len(batch))
	}
}

func show(hs []kgo.RecordHeader) string {
	var b bytes.Buffer
	for _, h := range hs {
		fmt.Fprintf(&b, "%s=%q ", h.Key, h.Value)
	}
	return b.String()
}

func showCore(hs []core.RecordHeader) string {
	var b bytes.Buffer
	for _, h := range hs {
		fmt.Fprintf(&b, "%s=%q ", h.Key, h.Value)
	}
	return b.String()
}

// BenchmarkRecordHeaders is the forwarder's cost per record of the ONEX
// headers of a message with the bus's defaults (nine headers, about
// 256 B): text is AppendRecordHeaders plus a kgo header slice per record
// (the forwarder before), encoder the batch encoder, per record of a
// 1,000-record batch.
func BenchmarkRecordHeaders(b *testing.B) {
	msgs := make([]*core.Message, 1000)
	for i := range msgs {
		var h core.Headers
		h.ApplyDefaults(topic, "onexbus", time.Now().Add(time.Duration(i)*time.Microsecond))
		msgs[i] = &core.Message{Headers: h}
	}
	b.Run("impl=text", func(b *testing.B) {
		b.ReportAllocs()
		cpu := cpuTime()
		defer func() { b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op") }()
		var hdrs []core.RecordHeader
		for i := 0; b.Loop(); i++ {
			m := msgs[i%len(msgs)]
			hdrs = m.Headers.AppendRecordHeaders(hdrs[:0])
			kh := make([]kgo.RecordHeader, len(hdrs))
			for j, h := range hdrs {
				kh[j] = kgo.RecordHeader{Key: h.Key, Value: h.Value}
			}
			sinkHeaders = kh
		}
	})
	for _, impl := range []struct {
		name string
		enc  HeaderEncoding
	}{{"encoder", HeadersText}, {"encoder-compact", HeadersCompact}} {
		b.Run("impl="+impl.name, func(b *testing.B) {
			b.ReportAllocs()
			cpu := cpuTime()
			defer func() { b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op") }()
			enc := newHeaderEncoder(impl.enc, topic)
			for i := 0; b.Loop(); i++ {
				if i%len(msgs) == 0 {
					enc.reset(impl.enc, topic)
				}
				sinkHeaders = enc.encode(&msgs[i%len(msgs)].Headers)
			}
		})
	}
}

var sinkHeaders []kgo.RecordHeader

// newHeaderEncoder is an encoder reset for a run with enc to topic.
func newHeaderEncoder(enc HeaderEncoding, topic string) *headerEncoder {
	e := new(headerEncoder)
	e.reset(enc, topic)
	return e
}

// cpuTime is the process's user and system CPU time in nanoseconds: per
// op it stays meaningful on a loaded machine, where ns/op does not.
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// HeadersCompact leaves out exactly the headers whose values the reading
// side's defaults restore, and writes every other value as HeadersText.
func TestHeaderEncoderCompact(t *testing.T) {
	var h core.Headers
	h.ApplyDefaults(topic, "svc", time.Now())
	full := fullHeaders(1) // no field at its default
	msgs := []*core.Message{{Headers: h}, {Headers: full}}
	enc := newHeaderEncoder(HeadersCompact, topic)
	var keys []string
	for _, x := range enc.encode(&msgs[0].Headers) {
		keys = append(keys, x.Key)
	}
	if want := []string{core.HeaderCorrelationID, core.HeaderMessageID, core.HeaderTimestamp, core.HeaderSource}; fmt.Sprint(keys) != fmt.Sprint(want) {
		t.Fatalf("compact headers of the defaults %v, want %v", keys, want)
	}
	got, want := enc.encode(&msgs[1].Headers), full.AppendRecordHeaders(nil)
	if show(got) != showCore(want) {
		t.Fatalf("compact headers without defaults:\n got %s\nwant %s", show(got), showCore(want))
	}
}

// With HeadersCompact, messages go bus A -> forwarder -> Kafka -> Ingest
// -> bus B with the same headers as they had on bus A: the reader's
// defaults restore what was left out.
func TestCompactHeadersRoundTrip(t *testing.T) {
	c, _ := newCluster(t)
	cfg := testConfig(t, c)
	a := newBus(t, core.WithTopic(topic, core.TopicConfig{Partitions: 1}), core.WithSource("svc-a"))
	b := newBus(t, core.WithStartPosition(core.StartEarliest), core.WithSource("svc-b"))
	startForwarder(t, a, cfg, WithHeaderEncoding(HeadersCompact))
	startIngest(t, b, cfg, []string{topic})
	ctx := context.Background()
	recv := make(chan *core.Message, 64)
	if _, err := b.Subscribe(ctx, topic, "g", func(_ context.Context, m *core.Message) error {
		recv <- m
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	odd := core.Headers{MaxRetries: -1, Priority: core.PriorityLow, ContentType: "text/plain"}
	sent := map[uuid.UUID]core.Headers{}
	for i, h := range []core.Headers{{}, fullHeaders(2), odd} {
		m := &core.Message{Topic: topic, Value: fmt.Appendf(nil, "%d", i), Headers: h}
		if _, err := a.Publish(ctx, m); err != nil {
			t.Fatal(err)
		}
		sent[m.Headers.MessageID] = m.Headers
	}
	for range sent {
		var m *core.Message
		select {
		case m = <-recv:
		case <-time.After(30 * time.Second):
			t.Fatal("timed out waiting for ingested messages")
		}
		want, ok := sent[m.Headers.MessageID]
		if !ok {
			t.Fatalf("unknown message %v", m.Headers.MessageID)
		}
		want.Timestamp = want.Timestamp.UTC()
		if !reflect.DeepEqual(m.Headers, want) {
			t.Fatalf("headers differ:\n got %+v\nwant %+v", m.Headers, want)
		}
	}
}

func TestWithHeaderEncodingRefusesUnknown(t *testing.T) {
	c, _ := newCluster(t)
	_, err := NewForwarder(newBus(t), testConfig(t, c), WithHeaderEncoding(HeadersCompact+1))
	if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "header encoding") {
		t.Fatalf("err = %v, want ErrInvalidConfig naming the header encoding", err)
	}
}

func pow10(k int) int {
	n := 1
	for range k {
		n *= 10
	}
	return n
}
