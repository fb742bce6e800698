package http_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	stdhttp "net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/store/bolt"
	httpapi "github.com/onexbus/onexbus/transport/http"
)

// env is a bus on a real bbolt file with the API on a loopback server.
type env struct {
	t   *testing.T
	bus *core.Bus
	api *httpapi.Server
	srv *httptest.Server
	doc *openAPIDoc
}

func newEnv(t *testing.T, busOpts []core.Option, opts ...httpapi.Option) *env {
	t.Helper()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "bus.db"))
	if err != nil {
		t.Fatal(err)
	}
	busOpts = append([]core.Option{core.WithStore(st), core.WithEnforcement(core.EnforceOff)}, busOpts...)
	b, err := core.New(busOpts...)
	if err != nil {
		t.Fatal(err)
	}
	api, err := httpapi.New(b, opts...)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api.Handler())
	t.Cleanup(func() {
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := api.Close(ctx); err != nil {
			t.Errorf("api close: %v", err)
		}
		if err := b.Close(ctx); err != nil {
			t.Errorf("bus close: %v", err)
		}
	})
	doc, err := api.OpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, bus: b, api: api, srv: srv, doc: loadDoc(t, doc)}
}

// response is an HTTP answer whose body was read.
type response struct {
	status int
	header stdhttp.Header
	body   []byte
}

// decode unmarshals the body into v, failing the test on bad JSON.
func (r *response) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %q: %v", r.body, err)
	}
}

// problem returns the body as a problem, checking its content type.
func (r *response) problem(t *testing.T) httpapi.Problem {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("error content type %q, want application/problem+json (body %s)", ct, r.body)
	}
	var p httpapi.Problem
	r.decode(t, &p)
	if p.Code == "" || p.Status != r.status {
		t.Fatalf("problem %+v for status %d", p, r.status)
	}
	return p
}

// do sends a request and validates the response against the API's
// OpenAPI document for operation op (by its operationId).
func (e *env) do(op, method, path string, body any, hdr ...string) *response {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
		hdr = append([]string{"Content-Type", "application/json"}, hdr...)
	}
	req, err := stdhttp.NewRequest(method, e.srv.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	r := &response{status: resp.StatusCode, header: resp.Header, body: b}
	e.doc.validate(e.t, op, r)
	return r
}

// want fails the test unless r has status.
func (r *response) want(t *testing.T, status int) *response {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	return r
}

// openAPIDoc validates responses against the generated document.
type openAPIDoc struct {
	raw      map[string]any
	compiler *jsonschema.Compiler
	mu       sync.Mutex
	cache    map[string]*jsonschema.Schema
}

func loadDoc(t *testing.T, b []byte) *openAPIDoc {
	t.Helper()
	raw, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("openapi.json", raw); err != nil {
		t.Fatal(err)
	}
	return &openAPIDoc{raw: raw.(map[string]any), compiler: c, cache: map[string]*jsonschema.Schema{}}
}

// validate checks r's status, content type and body against operation op.
// Event streams are checked event by event.
func (d *openAPIDoc) validate(t *testing.T, op string, r *response) {
	t.Helper()
	path, method, found := d.find(op)
	if !found {
		t.Fatalf("operation %q is not in the OpenAPI document", op)
	}
	operation := d.raw["paths"].(map[string]any)[path].(map[string]any)[method].(map[string]any)
	responses := operation["responses"].(map[string]any)
	status := fmt.Sprint(r.status)
	resp, ok := responses[status].(map[string]any)
	if !ok {
		resp, ok = responses["default"].(map[string]any)
		status = "default"
	}
	if !ok {
		t.Fatalf("%s answered %d, which its OpenAPI document does not list (%s)", op, r.status, r.body)
	}
	content, _ := resp["content"].(map[string]any)
	if len(r.body) == 0 && len(content) == 0 {
		return
	}
	ct := strings.TrimSpace(strings.Split(r.header.Get("Content-Type"), ";")[0])
	if _, ok := content[ct]; !ok {
		t.Fatalf("%s answered %d with content type %q, not in the document (%v)", op, r.status, ct, keys(content))
	}
	ptr := "#/paths/" + escape(path) + "/" + method + "/responses/" + status + "/content/" + escape(ct) + "/schema"
	schema := d.schema(t, ptr)
	switch ct {
	case "text/event-stream", "application/x-ndjson":
		return // streams are checked by the tests that read them
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(r.body))
	if err != nil {
		t.Fatalf("%s body is not JSON: %v: %s", op, err, r.body)
	}
	if err := schema.Validate(v); err != nil {
		t.Fatalf("%s %d body does not match the OpenAPI document: %v\n%s", op, r.status, err, r.body)
	}
}

// validateValue checks one value (an NDJSON line, an SSE event's data)
// against a named component schema.
func (d *openAPIDoc) validateValue(t *testing.T, component string, b []byte) {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("not JSON: %v: %s", err, b)
	}
	if err := d.schema(t, "#/components/schemas/"+component).Validate(v); err != nil {
		t.Fatalf("%s does not match the OpenAPI document: %v\n%s", component, err, b)
	}
}

func (d *openAPIDoc) schema(t *testing.T, ptr string) *jsonschema.Schema {
	t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	if s := d.cache[ptr]; s != nil {
		return s
	}
	s, err := d.compiler.Compile("openapi.json" + ptr)
	if err != nil {
		t.Fatalf("compile %s: %v", ptr, err)
	}
	d.cache[ptr] = s
	return s
}

func (d *openAPIDoc) find(op string) (path, method string, ok bool) {
	for p, item := range d.raw["paths"].(map[string]any) {
		for m, o := range item.(map[string]any) {
			if om, isOp := o.(map[string]any); isOp && om["operationId"] == op {
				return p, m, true
			}
		}
	}
	return "", "", false
}

func escape(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
