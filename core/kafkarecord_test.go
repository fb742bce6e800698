package core

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/onexbus/onexbus/internal/kbatch"
)

// benchMessage is a publish as the bus sees it after defaults: every
// default header set, a 256-byte value.
func benchMessage(topic string) *Message {
	m := &Message{Topic: topic, Value: bytes.Repeat([]byte("v"), 256), Timestamp: time.Unix(1_700_000_000, 123_456_789)}
	m.Headers.ApplyDefaults(topic, "bench-source", m.Timestamp)
	return m
}

// randomHeaders returns Headers with a random subset of fields set, as a
// caller could publish them (valid values only).
func randomHeaders(r *rand.Rand) Headers {
	var h Headers
	pick := func() bool { return r.IntN(2) == 0 }
	str := func() string { return fmt.Sprintf("s%d", r.IntN(1000)) }
	if pick() {
		h.CorrelationID = uuid.New()
	}
	if pick() {
		h.MessageID = uuid.New()
	}
	if pick() {
		h.Timestamp = time.Unix(r.Int64N(4e9), r.Int64N(1e9)).UTC()
	}
	for _, f := range []*string{&h.Source, &h.EventType, &h.ContentType, &h.SchemaVersion, &h.Destination, &h.TraceID,
		&h.SpanID, &h.ParentSpanID, &h.OperationName, &h.RoutingKey, &h.PartitionKey, &h.TraceParent} {
		if pick() {
			*f = str()
		}
	}
	if pick() {
		h.Priority = Priority(1 + r.IntN(4))
	}
	if pick() {
		h.RetryCount = r.IntN(10)
	}
	if pick() {
		h.MaxRetries = r.IntN(10) - 1
	}
	if pick() {
		h.TTLSeconds = r.IntN(1000)
	}
	for range r.IntN(3) {
		h.Extra = append(h.Extra, Header{Key: "x-" + str(), Value: str()})
	}
	return h
}

// oneRecord builds a one-record batch from m and walks it back.
func oneRecord(t testing.TB, m *Message) (kbatch.Header, []kbatch.RecordHeader, *kbatch.Record) {
	t.Helper()
	b := kbatch.NewBuilder(kbatch.CodecNone)
	appendKafkaRecord(b, m)
	if err := b.EndRecord(); err != nil {
		t.Fatal(err)
	}
	batch, err := b.Finish(nil)
	if err != nil {
		t.Fatal(err)
	}
	h, err := kbatch.Validate(batch, kbatch.ValidateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var rec, raw kbatch.Record
	if _, err := kbatch.ReadRecord(batch[kbatch.HeaderSize:], &rec); err != nil {
		t.Fatal(err)
	}
	if _, err := kbatch.ReadRecordRaw(batch[kbatch.HeaderSize:], &raw); err != nil {
		t.Fatal(err)
	}
	return h, rec.Headers, &raw
}

// The record headers a Bus.Publish writes are exactly what
// AppendRecordHeaders (the Kafka transport's mapping) gives.
func TestKafkaRecordHeadersMatchAppendRecordHeaders(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 500 {
		m := &Message{Topic: "t", Headers: randomHeaders(r), Timestamp: time.UnixMilli(1_700_000_000_000)}
		_, got, _ := oneRecord(t, m)
		want := m.Headers.AppendRecordHeaders(nil)
		if len(got) != len(want) {
			t.Fatalf("case %d: %d headers, AppendRecordHeaders %d", i, len(got), len(want))
		}
		for j := range got {
			if string(got[j].Key) != want[j].Key || !bytes.Equal(got[j].Value, want[j].Value) {
				t.Fatalf("case %d header %d: %s=%q, want %s=%q", i, j, got[j].Key, got[j].Value, want[j].Key, want[j].Value)
			}
		}
	}
}

// Decoding a record the bus wrote gives back the published message, and
// the fast header path agrees with HeadersFromRecord on it.
func TestKafkaRecordRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for i := range 500 {
		m := &Message{Topic: "topic", Key: []byte("k"), Value: []byte("v"), Headers: randomHeaders(r), Timestamp: time.UnixMilli(1_700_000_000_000 + int64(i))}
		if i%3 == 0 {
			m.Headers.ApplyDefaults("topic", "src", m.Timestamp)
		}
		bh, _, rec := oneRecord(t, m)
		var got Message
		decodeKafkaRecord("topic", [16]byte{1}, 2, 7, &bh, rec, &got, nil, false)
		want := HeadersFromRecord(m.Headers.AppendRecordHeaders(nil), nil)
		if want.MessageID == uuid.Nil {
			want.MessageID = derivedMessageID([16]byte{1}, 2, 7)
		}
		if fmt.Sprint(got.Headers) != fmt.Sprint(want) || !got.Headers.Timestamp.Equal(want.Timestamp) {
			t.Fatalf("case %d headers\n got %+v\nwant %+v", i, got.Headers, want)
		}
		if string(got.Key) != "k" || string(got.Value) != "v" || !got.Timestamp.Equal(m.Timestamp) || got.Offset != 7 || got.Partition != 2 {
			t.Fatalf("case %d message %+v", i, got)
		}
	}
}

func BenchmarkMessageCodec(b *testing.B) {
	m := benchMessage("bench")
	b.Run("format=frames", func(b *testing.B) {
		b.ReportAllocs()
		var buf []byte
		for b.Loop() {
			buf = AppendMessage(buf[:0], m)
			var out Message
			if err := DecodeMessageTopic(buf, "bench", &out); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(len(buf)), "bytes/msg")
	})
	b.Run("format=kafka", func(b *testing.B) {
		b.ReportAllocs()
		bl := kbatch.NewBuilder(kbatch.CodecNone)
		var buf []byte
		var rec kbatch.Record
		for b.Loop() {
			bl.Reset(kbatch.CodecNone)
			appendKafkaRecord(bl, m)
			if err := bl.EndRecord(); err != nil {
				b.Fatal(err)
			}
			var err error
			if buf, err = bl.Finish(buf[:0]); err != nil {
				b.Fatal(err)
			}
			if _, err := kbatch.ReadRecordRaw(buf[kbatch.HeaderSize:], &rec); err != nil {
				b.Fatal(err)
			}
			bh, _ := kbatch.ParseHeader(buf)
			var out Message
			decodeKafkaRecord("bench", [16]byte{}, 0, 0, &bh, &rec, &out, nil, false)
		}
		b.ReportMetric(float64(len(buf)-kbatch.HeaderSize), "bytes/msg")
	})
}

func TestAppendRFC3339NanoUTCMatchesAppendFormat(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	cases := []time.Time{time.Unix(0, 0), time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 12, 1, 9, 0, 0, 100, time.FixedZone("x", 3600)), time.Date(2026, 1, 2, 3, 4, 5, 120000000, time.UTC)}
	for range 2000 {
		cases = append(cases, time.Unix(r.Int64N(1<<36)-1<<35, r.Int64N(1e9)))
	}
	for _, c := range cases {
		want := c.UTC().AppendFormat(nil, time.RFC3339Nano)
		if got := appendRFC3339NanoUTC(nil, c); string(got) != string(want) {
			t.Fatalf("%v: %s, want %s", c, got, want)
		}
		if back, ok := parseUTCTimestamp(want); ok != (c.UTC().Year() >= 0 && c.UTC().Year() <= 9999) || (ok && !back.Equal(c)) {
			t.Fatalf("parseUTCTimestamp(%s) = %v, %v", want, back, ok)
		}
	}
}

// FuzzParseUTCTimestamp: the fast timestamp path accepts only what
// time.Parse(RFC3339Nano) accepts, with the same instant, so the fast and
// slow header paths agree.
func FuzzParseUTCTimestamp(f *testing.F) {
	f.Add([]byte("2026-12-01T09:00:00.123456789Z"))
	f.Add([]byte("2026-02-30T09:00:00Z"))
	f.Add([]byte("2026-12-01T24:00:00Z"))
	f.Add([]byte("0000-01-01T00:00:00.1Z"))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, ok := parseUTCTimestamp(b)
		if !ok {
			return
		}
		want, err := time.Parse(time.RFC3339Nano, string(b))
		if err != nil || !got.Equal(want) {
			t.Fatalf("%q: fast %v, time.Parse %v, %v", b, got, want, err)
		}
	})
}
