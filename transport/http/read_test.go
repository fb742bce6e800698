package http_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	stdhttp "net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/onexbus/onexbus/core"
	httpapi "github.com/onexbus/onexbus/transport/http"
)

func TestHistoryQueries(t *testing.T) {
	e := newEnv(t, nil)
	cid := uuid.New()
	for i := range 10 {
		m := &core.Message{Topic: "h", Value: []byte(fmt.Sprint(i))}
		if i%3 == 0 {
			m.Headers.CorrelationID = cid
		}
		if _, err := e.bus.Publish(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	get := func(q string) []string {
		var out httpapi.Messages
		e.do("history", "GET", "/v1/topics/h/messages?"+q, nil).want(t, stdhttp.StatusOK).decode(t, &out)
		var vs []string
		for _, m := range out.Messages {
			vs = append(vs, string(m.Value))
		}
		return vs
	}
	for _, c := range []struct{ q, want string }{
		{"limit=3", "7 8 9"},
		{"limit=0", ""},
		{"limit=100&partition=0&from_offset=2&to_offset=5", "2 3 4"},
		{"limit=100&correlation_id=" + cid.String(), "0 3 6 9"},
		{"limit=100&until=2000-01-01T00:00:00Z", ""},
	} {
		if got := strings.Join(get(c.q), " "); got != c.want {
			t.Errorf("%s: %q, want %q", c.q, got, c.want)
		}
	}
	for _, c := range []struct {
		q    string
		code int
	}{{"limit=-1", 422}, {"correlation_id=nope", 400}, {"limit=5000", 422}} {
		e.do("history", "GET", "/v1/topics/h/messages?"+c.q, nil).want(t, c.code).problem(t)
	}
	e.do("history", "GET", "/v1/topics/bad%20name/messages", nil).want(t, 400).problem(t)
}

func TestOneMessageAndFetch(t *testing.T) {
	e := newEnv(t, nil)
	e.publish("f", "", "a")
	e.publish("f", "", "b")
	e.do("get-message", "GET", "/v1/topics/f/partitions/0/messages/5", nil).want(t, 404).problem(t)
	e.do("get-message", "GET", "/v1/topics/nope/partitions/0/messages/0", nil).want(t, 404).problem(t)
	e.do("get-message", "GET", "/v1/topics/f/partitions/3/messages/0", nil).want(t, 400).problem(t)
	var res httpapi.FetchResult
	e.do("fetch", "GET", "/v1/topics/f/partitions/0/messages?offset=1", nil).want(t, 200).decode(t, &res)
	if len(res.Messages) != 1 || res.NextOffset != 2 || res.EndOffset != 2 {
		t.Fatalf("fetch %+v", res)
	}
	// A long poll returns as soon as a message arrives.
	go func() {
		time.Sleep(100 * time.Millisecond) // publish while the poll waits
		m := &core.Message{Topic: "f", Value: []byte("c")}
		_, _ = e.bus.Publish(context.Background(), m)
	}()
	start := time.Now()
	e.do("fetch", "GET", "/v1/topics/f/partitions/0/messages?offset=2&wait=20s", nil).want(t, 200).decode(t, &res)
	if len(res.Messages) != 1 || *res.Messages[0].ValueText != "c" || res.NextOffset != 3 || time.Since(start) > 15*time.Second {
		t.Fatalf("long poll %+v after %v", res, time.Since(start))
	}
	// An empty long poll ends with an empty answer, not an error.
	e.do("fetch", "GET", "/v1/topics/f/partitions/0/messages?offset=3&wait=50ms", nil).want(t, 200).decode(t, &res)
	if len(res.Messages) != 0 || res.NextOffset != 3 {
		t.Fatalf("empty poll %+v", res)
	}
	e.do("fetch", "GET", "/v1/topics/f/partitions/0/messages?wait=soon", nil).want(t, 400).problem(t)
}

// sseEvent is one parsed event.
type sseEvent struct{ id, typ, data string }

// readEvents reads events from an SSE response until n arrived.
func readEvents(t *testing.T, sc *bufio.Scanner, n int) []sseEvent {
	t.Helper()
	var out []sseEvent
	var cur sseEvent
	for len(out) < n && sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if cur.typ != "" {
				out = append(out, cur)
			}
			cur = sseEvent{}
		case strings.HasPrefix(line, "id: "):
			cur.id = line[4:]
		case strings.HasPrefix(line, "event: "):
			cur.typ = line[7:]
		case strings.HasPrefix(line, "data: "):
			cur.data = line[6:]
		}
	}
	if len(out) < n {
		t.Fatalf("stream ended after %d events (%v)", len(out), sc.Err())
	}
	return out
}

func (e *env) openStream(path string, hdr ...string) (*bufio.Scanner, func()) {
	e.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := stdhttp.NewRequestWithContext(ctx, "GET", e.srv.URL+path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		e.t.Fatalf("stream %s: %d %s", path, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	return bufio.NewScanner(resp.Body), func() { cancel(); resp.Body.Close() }
}

// The live tail delivers messages as they are published, and a client
// reconnecting with Last-Event-ID resumes right after its last event.
func TestTailResumesWithLastEventID(t *testing.T) {
	e := newEnv(t, nil)
	if _, err := e.bus.CreateTopic(context.Background(), "live", core.TopicConfig{Partitions: 2}); err != nil {
		t.Fatal(err)
	}
	sc, stop := e.openStream("/v1/topics/live/stream?value_encoding=text")
	for i := range 4 {
		m := &core.Message{Topic: "live", Value: []byte(fmt.Sprint(i)), Partition: int32(i % 2), ExplicitPartition: true}
		if _, err := e.bus.Publish(context.Background(), m); err != nil {
			t.Fatal(err)
		}
	}
	evs := readEvents(t, sc, 2)
	stop()
	for _, ev := range evs {
		e.doc.validateValue(t, "MessageOut", []byte(ev.data))
	}
	seen := map[string]bool{}
	for _, ev := range evs {
		var m httpapi.MessageOut
		if err := json.Unmarshal([]byte(ev.data), &m); err != nil || ev.typ != "message" {
			t.Fatalf("event %+v: %v", ev, err)
		}
		seen[*m.ValueText] = true
	}
	sc, stop = e.openStream("/v1/topics/live/stream?value_encoding=text", "Last-Event-ID", evs[1].id)
	defer stop()
	rest := readEvents(t, sc, 2)
	for _, ev := range rest {
		var m httpapi.MessageOut
		_ = json.Unmarshal([]byte(ev.data), &m)
		if seen[*m.ValueText] {
			t.Fatalf("resumed stream repeated %q", *m.ValueText)
		}
		seen[*m.ValueText] = true
	}
	if len(seen) != 4 {
		t.Fatalf("saw %v, want all 4", seen)
	}
	e.do("tail", "GET", "/v1/topics/none/stream", nil).want(t, 404).problem(t)
	e.do("tail", "GET", "/v1/topics/live/stream?from=9:1", nil).want(t, 400).problem(t)
}
