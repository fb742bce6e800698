package http_test

import (
	"bytes"
	"context"
	"encoding/json"
	stdhttp "net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/onexbus/onexbus/core"
	memstore "github.com/onexbus/onexbus/store/memory"
	httpapi "github.com/onexbus/onexbus/transport/http"
)

// bodyOps are the operations that read a request body (issue 20: HTTP
// request bodies are among the decoders fuzzed). receive and stream are
// left out: they wait for messages.
var bodyOps = []struct{ method, path string }{
	{stdhttp.MethodPost, "/v1/topics/fuzz.t/messages"},
	{stdhttp.MethodPost, "/v1/messages:publish"},
	{stdhttp.MethodPatch, "/v1/topics/fuzz.t"},
	{stdhttp.MethodPut, "/v1/groups/g/pull"},
	{stdhttp.MethodPost, "/v1/groups/g/messages:ack"},
	{stdhttp.MethodPost, "/v1/groups/g/messages:nack"},
	{stdhttp.MethodPost, "/v1/groups/g/messages:extend"},
}

// fuzzAPI is a bus on a memory store with the API, rebuilt now and then
// so that topics and groups the inputs create stay few.
type fuzzAPI struct {
	bus  *core.Bus
	api  *httpapi.Server
	uses int
}

func newFuzzAPI(tb testing.TB) *fuzzAPI {
	tb.Helper()
	b, err := core.New(core.WithStore(memstore.New()), core.WithEnforcement(core.EnforceOff),
		core.WithDefaultTopicConfig(core.TopicConfig{Partitions: 1, Retention: core.Retention{MaxMessages: 100}}))
	if err != nil {
		tb.Fatal(err)
	}
	api, err := httpapi.New(b)
	if err != nil {
		tb.Fatal(err)
	}
	return &fuzzAPI{bus: b, api: api}
}

func (f *fuzzAPI) close(tb testing.TB) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := f.api.Close(ctx); err != nil {
		tb.Errorf("api close: %v", err)
	}
	if err := f.bus.Close(ctx); err != nil {
		tb.Errorf("bus close: %v", err)
	}
}

// FuzzRequestBodies sends arbitrary bodies (JSON or not, any content
// type) to every operation that reads one: the server never panics and
// never answers 5xx to a bad body; every error is problem+json with its
// status in the body.
func FuzzRequestBodies(f *testing.F) {
	seeds := []string{
		`{"value":"aGk=","key":"k"}`,
		`{"value":"hi","encoding":"text","headers":{"a":"b"},"message_id":"0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b"}`,
		`{"messages":[{"topic":"fuzz.t","value":"aGk="},{"topic":"fuzz.u","value":"eA=="}]}`,
		`{"retention":{"max_messages":10},"partitions":2}`,
		`{"pattern":"fuzz.*","ordering":"key","max_in_flight":4,"lease":"5s","start":"earliest"}`,
		`{"lease_ids":["x","y"]}`,
		`{"lease_ids":["x"],"delay":"1s","permanent":true}`,
		`{`, `[]`, `null`, `""`, `{"value":null}`, `{"messages":[]}`, "\x00\xff",
	}
	for i := range bodyOps {
		for _, s := range seeds {
			f.Add(uint8(i), "application/json", []byte(s))
		}
	}
	f.Add(uint8(0), "text/plain", []byte("hi"))
	f.Add(uint8(1), "application/cbor", []byte{0xa1, 0x61, 0x61, 0x01})
	api := newFuzzAPI(f)
	f.Cleanup(func() { api.close(f) })
	f.Fuzz(func(t *testing.T, op uint8, contentType string, body []byte) {
		if api.uses++; api.uses > 500 || len(api.bus.Topics()) > 32 {
			api.close(t)
			api = newFuzzAPI(t)
		}
		o := bodyOps[int(op)%len(bodyOps)]
		req := httptest.NewRequest(o.method, o.path, bytes.NewReader(body))
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		rec := httptest.NewRecorder()
		api.api.Handler().ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %s with %q body %q: status %d: %s", o.method, o.path, contentType, body, rec.Code, rec.Body)
		}
		if rec.Code >= 400 {
			if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
				t.Fatalf("%s %s: status %d with content type %q, want application/problem+json: %s", o.method, o.path, rec.Code, ct, rec.Body)
			}
			var p httpapi.Problem
			if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || p.Status != rec.Code {
				t.Fatalf("%s %s: status %d with problem %s (%v)", o.method, o.path, rec.Code, rec.Body, err)
			}
		}
	})
}
