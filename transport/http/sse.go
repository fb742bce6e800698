package http

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	stdhttp "net/http"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
)

// sseWriter writes Server-Sent Events to one response and flushes each.
type sseWriter struct {
	w io.Writer
	f stdhttp.Flusher
}

// startSSE sets the headers of an event stream (no caching, no proxy
// buffering: Watermill-HTTP's lesson) and returns its writer.
func startSSE(ctx huma.Context) *sseWriter {
	ctx.SetHeader("Content-Type", "text/event-stream")
	ctx.SetHeader("Cache-Control", "no-cache")
	ctx.SetHeader("X-Accel-Buffering", "no")
	ctx.SetStatus(stdhttp.StatusOK)
	w := ctx.BodyWriter()
	s := &sseWriter{w: w}
	if f, ok := w.(stdhttp.Flusher); ok {
		s.f = f
	} else if u, ok := w.(interface{ Unwrap() stdhttp.ResponseWriter }); ok {
		s.f, _ = u.Unwrap().(stdhttp.Flusher)
	}
	s.flush()
	return s
}

func (s *sseWriter) flush() {
	if s.f != nil {
		s.f.Flush()
	}
}

// event writes one event: its id (may be empty), its type and v as JSON.
func (s *sseWriter) event(id, typ string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("http: encode event: %w", err)
	}
	var b strings.Builder
	if id != "" {
		fmt.Fprintf(&b, "id: %s\n", id)
	}
	fmt.Fprintf(&b, "event: %s\ndata: %s\n\n", typ, data)
	if _, err := io.WriteString(s.w, b.String()); err != nil {
		return fmt.Errorf("http: write event: %w", err)
	}
	s.flush()
	return nil
}

// keepAlive writes a comment so that proxies and clients see the stream
// is alive.
func (s *sseWriter) keepAlive() error {
	if _, err := io.WriteString(s.w, ": keepalive\n\n"); err != nil {
		return fmt.Errorf("http: write keep-alive: %w", err)
	}
	s.flush()
	return nil
}

// sseResponses documents an event stream whose events carry the given
// types, for the OpenAPI document.
func sseResponses(api huma.API, events map[string]reflect.Type) map[string]*huma.Response {
	registry := api.OpenAPI().Components.Schemas
	var oneOf []*huma.Schema
	for _, name := range slices.Sorted(maps.Keys(events)) {
		t := events[name]
		oneOf = append(oneOf, &huma.Schema{
			Type:        "object",
			Title:       "Event " + name,
			Description: "event: " + name,
			Properties: map[string]*huma.Schema{
				"id":    {Type: "string"},
				"event": {Type: "string", Enum: []any{name}},
				"data":  registry.Schema(t, true, ""),
			},
			Required: []string{"event", "data"},
		})
	}
	return map[string]*huma.Response{
		"default": problemResponse(registry),
		"200": {
			Description: "An event stream (text/event-stream), with keep-alive comments.",
			Content:     map[string]*huma.MediaType{"text/event-stream": {Schema: &huma.Schema{Type: "array", Items: &huma.Schema{OneOf: oneOf}}}},
		},
	}
}

// ticker returns a keep-alive ticker's channel and its stop.
func ticker(d time.Duration) (<-chan time.Time, func()) {
	t := time.NewTicker(d)
	return t.C, t.Stop
}
