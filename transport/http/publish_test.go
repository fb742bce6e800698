package http_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	stdhttp "net/http"
	"strings"
	"testing"

	"github.com/onexbus/onexbus/core"
	httpapi "github.com/onexbus/onexbus/transport/http"
)

func TestPublishOneAndReadHistory(t *testing.T) {
	e := newEnv(t, nil)
	r := e.do("publish", "POST", "/v1/topics/orders/messages", map[string]any{
		"key": "k1", "value": map[string]any{"amount": 10}, "headers": map[string]string{"event_type": "order.placed"},
	}).want(t, stdhttp.StatusCreated)
	var res httpapi.PublishResult
	r.decode(t, &res)
	if res.Offset != 0 || res.Duplicate || res.MessageID == "" {
		t.Fatalf("result %+v", res)
	}
	h := e.do("history", "GET", "/v1/topics/orders/messages?limit=10", nil).want(t, stdhttp.StatusOK)
	var msgs httpapi.Messages
	h.decode(t, &msgs)
	if len(msgs.Messages) != 1 || string(msgs.Messages[0].Value) != `{"amount":10}` || *msgs.Messages[0].Key != "k1" ||
		msgs.Messages[0].Headers["event_type"] != "order.placed" || msgs.Messages[0].Headers["message_id"] != res.MessageID {
		t.Fatalf("history %s", h.body)
	}
}

// A raw body is the value; Onex-Key and Onex-Header-* carry the key and
// headers, Content-Type becomes content_type; embedded subscribers see
// the same.
func TestPublishRaw(t *testing.T) {
	e := newEnv(t, nil)
	r := e.do("publish", "POST", "/v1/topics/raw/messages", "plain text body",
		"Content-Type", "text/plain", "Onex-Key", "customer-7", "Onex-Header-Event-Type", "note.added", "Onex-Header-Tenant", "acme").
		want(t, stdhttp.StatusCreated)
	var res httpapi.PublishResult
	r.decode(t, &res)
	msgs, err := e.bus.Fetch(context.Background(), "raw", res.Partition, res.Offset, 1)
	if err != nil || len(msgs) != 1 {
		t.Fatalf("fetch: %v, %v", msgs, err)
	}
	m := msgs[0]
	if string(m.Value) != "plain text body" || string(m.Key) != "customer-7" || m.Headers.EventType != "note.added" ||
		m.Headers.ContentType != "text/plain" {
		t.Fatalf("stored %+v", m)
	}
	tenant := ""
	for _, x := range m.Headers.Extra {
		if x.Key == "tenant" {
			tenant = x.Value
		}
	}
	if tenant != "acme" {
		t.Fatalf("extra headers %v", m.Headers.Extra)
	}
	one := e.do("get-message", "GET", "/v1/topics/raw/partitions/0/messages/0", nil).want(t, stdhttp.StatusOK)
	var out httpapi.MessageOut
	one.decode(t, &out)
	if out.ValueEncoding != "text" || *out.ValueText != "plain text body" {
		t.Fatalf("one message %s", one.body)
	}
	bin := e.do("get-message", "GET", "/v1/topics/raw/partitions/0/messages/0?value_encoding=base64", nil).want(t, stdhttp.StatusOK)
	bin.decode(t, &out)
	if out.ValueEncoding != "base64" || string(out.ValueB64) != "plain text body" {
		t.Fatalf("base64 %s", bin.body)
	}
}

// A batch answers one result per message in order; a bad message fails
// alone, the others are stored.
func TestPublishBatchPerMessageResults(t *testing.T) {
	e := newEnv(t, []core.Option{core.WithMaxMessageBytes(1 << 10)})
	big := strings.Repeat("x", 2<<10)
	r := e.do("publish", "POST", "/v1/topics/batch/messages", map[string]any{"messages": []map[string]any{
		{"value_text": "a"},
		{"value_text": big},
		{"value_text": "b", "value_b64": "Yg=="},
		{"value_text": "c"},
	}}).want(t, stdhttp.StatusOK)
	var res httpapi.BatchResults
	r.decode(t, &res)
	if len(res.Results) != 4 {
		t.Fatalf("results %s", r.body)
	}
	if res.Results[0].Error != nil || res.Results[3].Error != nil || res.Results[0].Offset != 0 || res.Results[3].Offset != 1 {
		t.Fatalf("good messages: %s", r.body)
	}
	if p := res.Results[1].Error; p == nil || p.Code != "message_too_large" || p.Status != 413 {
		t.Fatalf("too large: %s", r.body)
	}
	if p := res.Results[2].Error; p == nil || p.Code != "invalid_message" {
		t.Fatalf("two values: %s", r.body)
	}
	if end, _ := e.bus.EndOffset("batch", 0); end != 2 {
		t.Fatalf("end offset %d, want 2", end)
	}
}

// The same Idempotency-Key twice stores one message; the second answer
// says it was a duplicate, with the first copy's offset.
func TestPublishIdempotencyKey(t *testing.T) {
	e := newEnv(t, nil)
	var first, second httpapi.PublishResult
	e.do("publish", "POST", "/v1/topics/idem/messages", map[string]any{"value_text": "x"}, "Idempotency-Key", "order-42").
		want(t, stdhttp.StatusCreated).decode(t, &first)
	e.do("publish", "POST", "/v1/topics/idem/messages", map[string]any{"value_text": "x"}, "Idempotency-Key", "order-42").
		want(t, stdhttp.StatusCreated).decode(t, &second)
	if first.Duplicate || !second.Duplicate || second.Offset != first.Offset || second.MessageID != first.MessageID {
		t.Fatalf("first %+v second %+v", first, second)
	}
	if end, _ := e.bus.EndOffset("idem", 0); end != 1 {
		t.Fatalf("stored %d copies", end)
	}
}

// NDJSON in, NDJSON out: one result line per message line, in order.
func TestPublishNDJSONStream(t *testing.T) {
	e := newEnv(t, nil)
	var in bytes.Buffer
	for i := range 50 {
		line, _ := json.Marshal(map[string]any{"key": "k", "value": i})
		in.Write(line)
		in.WriteByte('\n')
	}
	in.WriteString("not json\n")
	r := e.do("publish", "POST", "/v1/topics/nd/messages", in.Bytes(), "Content-Type", "application/x-ndjson").want(t, stdhttp.StatusOK)
	if ct := r.header.Get("Content-Type"); ct != "application/x-ndjson" {
		t.Fatalf("content type %q", ct)
	}
	sc := bufio.NewScanner(bytes.NewReader(r.body))
	n := 0
	for sc.Scan() {
		e.doc.validateValue(t, "PublishResult", sc.Bytes())
		var res httpapi.PublishResult
		if err := json.Unmarshal(sc.Bytes(), &res); err != nil {
			t.Fatal(err)
		}
		switch {
		case n < 50 && (res.Error != nil || res.Offset != int64(n)):
			t.Fatalf("line %d: %s", n, sc.Bytes())
		case n == 50 && (res.Error == nil || res.Error.Code != "invalid_json"):
			t.Fatalf("bad line answered %s", sc.Bytes())
		}
		n++
	}
	if n != 51 {
		t.Fatalf("%d result lines, want 51", n)
	}
}

// Publishing to several topics answers per message, and errors map to
// problems with stable codes.
func TestPublishMultiTopicAndErrors(t *testing.T) {
	e := newEnv(t, nil)
	r := e.do("publish-multi", "POST", "/v1/messages:publish", map[string]any{"messages": []map[string]any{
		{"topic": "a", "value_text": "1"}, {"topic": "b", "value_text": "2"}, {"topic": "bad topic", "value_text": "3"}, {"value_text": "4"},
	}}).want(t, stdhttp.StatusOK)
	var res httpapi.BatchResults
	r.decode(t, &res)
	if res.Results[0].Topic != "a" || res.Results[1].Topic != "b" || res.Results[0].Error != nil || res.Results[1].Error != nil {
		t.Fatalf("results %s", r.body)
	}
	if res.Results[2].Error == nil || res.Results[2].Error.Code != "invalid_topic" || res.Results[3].Error == nil {
		t.Fatalf("bad ones %s", r.body)
	}

	for _, c := range []struct {
		name, path, body, ct string
		status               int
		code                 string
	}{
		{"invalid topic", "/v1/topics/bad%20topic/messages", `{"value_text":"x"}`, "application/json", 400, "invalid_topic"},
		{"bad json", "/v1/topics/t/messages", `{"value_text":`, "application/json", 400, "invalid_json"},
		{"key twice", "/v1/topics/t/messages", `{"key":"a","key_b64":"YQ=="}`, "application/json", 400, "invalid_message"},
		{"negative partition", "/v1/topics/t/messages", `{"partition":-1}`, "application/json", 400, "invalid_partition"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := e.do("publish", "POST", c.path, c.body, "Content-Type", c.ct).want(t, c.status).problem(t)
			if p.Code != c.code || p.Retryable {
				t.Fatalf("problem %+v, want code %s", p, c.code)
			}
		})
	}
}

// A closed bus answers 503, retryable, with Retry-After.
func TestPublishClosedIs503(t *testing.T) {
	e := newEnv(t, nil)
	if err := e.bus.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	r := e.do("publish", "POST", "/v1/topics/t/messages", map[string]any{"value_text": "x"}).want(t, stdhttp.StatusServiceUnavailable)
	if p := r.problem(t); p.Code != "closed" || !p.Retryable || r.header.Get("Retry-After") == "" {
		t.Fatalf("problem %+v, Retry-After %q", p, r.header.Get("Retry-After"))
	}
}
