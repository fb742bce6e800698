package http

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"mime"
	stdhttp "net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"

	"github.com/danielgtaylor/huma/v2"
	"github.com/google/uuid"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/transport/auth"
)

// Content types of publish requests.
const (
	contentJSON   = "application/json"
	contentNDJSON = "application/x-ndjson"
)

// headerPrefix marks request headers that carry message headers in a raw
// publish: Onex-Header-Event-Type: x sets event_type.
const headerPrefix = "Onex-Header-"

// maxInFlightPublishes bounds the messages of one request being stored at
// once, so an NDJSON stream cannot queue without limit.
const maxInFlightPublishes = 1024

// idempotencyNamespace derives message ids from Idempotency-Key values
// that are not UUIDs themselves.
var idempotencyNamespace = uuid.MustParse("7c1b3f4e-5d2a-4f60-9a8b-0e1d2c3b4a59")

// PublishBody is a JSON publish: one message, or a batch in Messages.
type PublishBody struct {
	MessageIn
	Messages []MessageIn `json:"messages,omitempty" doc:"A batch: one result per message, in order. Not atomic."`
}

// BatchResults lists one result per message of a batch, in order.
type BatchResults struct {
	Results []PublishResult `json:"results"`
}

type publishInput struct {
	Topic          string `path:"topic" doc:"The topic to publish to."`
	ContentType    string `header:"Content-Type"`
	IdempotencyKey string `header:"Idempotency-Key" doc:"Makes retries safe: becomes the message_id (derived per message in a batch)."`
	OnexKey        string `header:"Onex-Key" doc:"The key of a raw publish."`
	TraceParent    string `header:"traceparent" doc:"W3C trace context: messages without their own traceparent carry this one."`
	TraceState     string `header:"tracestate"`
	RawBody        []byte
	extra          map[string]string // Onex-Header-* request headers
}

// Resolve collects the Onex-Header-* request headers.
func (in *publishInput) Resolve(ctx huma.Context) []error {
	ctx.EachHeader(func(name, value string) {
		if len(name) > len(headerPrefix) && strings.EqualFold(name[:len(headerPrefix)], headerPrefix) {
			if in.extra == nil {
				in.extra = map[string]string{}
			}
			in.extra[strings.ReplaceAll(strings.ToLower(name[len(headerPrefix):]), "-", "_")] = value
		}
	})
	return nil
}

type multiPublishInput struct {
	IdempotencyKey string `header:"Idempotency-Key"`
	TraceParent    string `header:"traceparent"`
	TraceState     string `header:"tracestate"`
	Body           struct {
		Messages []MessageIn `json:"messages" minItems:"1" doc:"Messages with their topic each."`
	}
}

type batchOutput struct {
	Body BatchResults
}

func (s *Server) registerPublish() {
	registry := s.api.OpenAPI().Components.Schemas
	resultSchema := registry.Schema(reflect.TypeFor[PublishResult](), true, "")
	batchSchema := registry.Schema(reflect.TypeFor[BatchResults](), true, "")
	problemSchema := registry.Schema(reflect.TypeFor[Problem](), true, "")
	problems := func() map[string]*huma.MediaType {
		return map[string]*huma.MediaType{"application/problem+json": {Schema: problemSchema}}
	}
	op := huma.Operation{
		OperationID: "publish",
		Method:      stdhttp.MethodPost,
		Path:        "/v1/topics/{topic}/messages",
		Summary:     "Publish a message, a batch, or an NDJSON stream",
		Description: "A JSON body is one message, or a batch in `messages` (200 with one result per message in order). " +
			"An application/x-ndjson body is a stream of messages answered by a stream of results. " +
			"Any other content type is a raw publish: the body is the value, the key is Onex-Key, headers are Onex-Header-<name>, " +
			"and Content-Type is kept as the content_type header.",
		Tags:         []string{"publish"},
		MaxBodyBytes: s.cfg.maxBodyBytes,
		// The body is parsed here by its content type: JSON, NDJSON or raw.
		SkipValidateBody: true,
		RequestBody: &huma.RequestBody{
			Required: true,
			Content: map[string]*huma.MediaType{
				contentJSON:   {Schema: registry.Schema(reflect.TypeFor[PublishBody](), true, "")},
				contentNDJSON: {Schema: registry.Schema(reflect.TypeFor[MessageIn](), true, "")},
			},
		},
		Responses: map[string]*huma.Response{
			"201": {Description: "Published (or dropped as a duplicate: see `duplicate`).",
				Content: map[string]*huma.MediaType{contentJSON: {Schema: resultSchema}}},
			"200": {Description: "A batch's results, or an NDJSON stream of results.",
				Content: map[string]*huma.MediaType{contentJSON: {Schema: batchSchema}, contentNDJSON: {Schema: resultSchema}}},
			"400":     {Description: "Bad request.", Content: problems()},
			"413":     {Description: "Too large.", Content: problems()},
			"422":     {Description: "Not an ONEX topic (reject mode).", Content: problems()},
			"503":     {Description: "Closed or backlog full.", Content: problems()},
			"default": problemResponse(registry),
		},
	}
	huma.Register(s.api, op, s.publish)

	huma.Register(s.api, huma.Operation{
		OperationID:  "publish-multi",
		Method:       stdhttp.MethodPost,
		Path:         "/v1/messages:publish",
		Summary:      "Publish messages to several topics",
		Description:  "Each message names its topic. One result per message, in order; not atomic.",
		Tags:         []string{"publish"},
		MaxBodyBytes: s.cfg.maxBodyBytes,
	}, func(ctx context.Context, in *multiPublishInput) (*batchOutput, error) {
		msgs := make([]*core.Message, len(in.Body.Messages))
		errs := make([]error, len(in.Body.Messages))
		for i := range in.Body.Messages {
			m := &in.Body.Messages[i]
			if m.Topic == "" {
				errs[i] = problemf(stdhttp.StatusBadRequest, "invalid_message", "message %d has no topic", i)
				continue
			}
			if errs[i] = s.authorizeTopic(ctx, m.Topic, auth.OpWrite); errs[i] != nil {
				continue
			}
			msgs[i], errs[i] = s.buildMessage(m, m.Topic, in.IdempotencyKey, i, true)
			withTrace(msgs[i], in.TraceParent, in.TraceState)
		}
		return &batchOutput{Body: BatchResults{Results: s.publishAll(ctx, msgs, errs)}}, nil
	})
}

// publish serves POST /v1/topics/{topic}/messages in its three forms.
func (s *Server) publish(ctx context.Context, in *publishInput) (*huma.StreamResponse, error) {
	mediaType, _, err := mime.ParseMediaType(in.ContentType)
	if in.ContentType == "" || err != nil {
		mediaType = "application/octet-stream"
	}
	switch mediaType {
	case contentJSON:
		return s.publishJSON(ctx, in)
	case contentNDJSON:
		return s.publishNDJSON(in), nil
	}
	m := &core.Message{Topic: in.Topic, Value: in.RawBody}
	if in.OnexKey != "" {
		m.Key = []byte(in.OnexKey)
	}
	hdrs := map[string]string{"content_type": in.ContentType}
	for k, v := range in.extra {
		hdrs[k] = v
	}
	m.Headers = headersFromMap(hdrs, s.cfg.logger)
	if err := s.idempotent(m, in.IdempotencyKey, 0, false); err != nil {
		return nil, err
	}
	withTrace(m, in.TraceParent, in.TraceState)
	return s.publishOne(ctx, m)
}

func (s *Server) publishJSON(ctx context.Context, in *publishInput) (*huma.StreamResponse, error) {
	var body PublishBody
	dec := json.NewDecoder(bytes.NewReader(in.RawBody))
	if err := dec.Decode(&body); err != nil {
		return nil, problemf(stdhttp.StatusBadRequest, "invalid_json", "the body is not a publish request: %v", err)
	}
	if body.Messages == nil {
		m, err := s.buildMessage(&body.MessageIn, in.Topic, in.IdempotencyKey, 0, false)
		if err != nil {
			return nil, err
		}
		withTrace(m, in.TraceParent, in.TraceState)
		return s.publishOne(ctx, m)
	}
	if body.MessageIn.Value != nil || body.ValueText != nil || body.ValueB64 != nil || body.Key != nil || body.Headers != nil {
		return nil, problemf(stdhttp.StatusBadRequest, "invalid_message", "a batch has only `messages`")
	}
	msgs := make([]*core.Message, len(body.Messages))
	errs := make([]error, len(body.Messages))
	for i := range body.Messages {
		msgs[i], errs[i] = s.buildMessage(&body.Messages[i], in.Topic, in.IdempotencyKey, i, true)
		withTrace(msgs[i], in.TraceParent, in.TraceState)
	}
	results := s.publishAll(ctx, msgs, errs)
	return jsonResponse(stdhttp.StatusOK, BatchResults{Results: results}), nil
}

// buildMessage turns m into a message for topic, with its message_id
// from the Idempotency-Key when one is given.
func (s *Server) buildMessage(m *MessageIn, topic, idemKey string, i int, batch bool) (*core.Message, error) {
	if m.Topic != "" && m.Topic != topic {
		return nil, problemf(stdhttp.StatusBadRequest, "invalid_message", "message topic %q differs from the path's %q", m.Topic, topic)
	}
	msg, err := m.toMessage(topic, s.cfg.logger)
	if err != nil {
		return nil, err
	}
	if err := s.idempotent(msg, idemKey, i, batch); err != nil {
		return nil, err
	}
	return msg, nil
}

// withTrace gives m the request's W3C trace context unless it has its
// own traceparent; tracestate travels as an extra header.
func withTrace(m *core.Message, parent, state string) {
	if m == nil || parent == "" || m.Headers.TraceParent != "" {
		return
	}
	m.Headers.TraceParent = parent
	if state != "" {
		m.Headers.Extra = append(m.Headers.Extra, core.Header{Key: "tracestate", Value: state})
	}
}

// idempotent sets m's message_id from an Idempotency-Key: the key itself
// when it is a UUID (for a single message), else a UUID derived from the
// key and the message's place in the request.
func (s *Server) idempotent(m *core.Message, key string, i int, batch bool) error {
	if key == "" {
		return nil
	}
	if m.Headers.MessageID != uuid.Nil {
		return problemf(stdhttp.StatusBadRequest, "invalid_message", "give message_id or Idempotency-Key, not both")
	}
	if id, err := uuid.Parse(key); err == nil && !batch {
		m.Headers.MessageID = id
		return nil
	}
	name := key
	if batch {
		name = key + "/" + strconv.Itoa(i)
	}
	m.Headers.MessageID = uuid.NewSHA1(idempotencyNamespace, []byte(name))
	return nil
}

func (s *Server) publishOne(ctx context.Context, m *core.Message) (*huma.StreamResponse, error) {
	if _, err := s.bus.Publish(ctx, m); err != nil {
		return nil, s.problem(err)
	}
	return jsonResponse(stdhttp.StatusCreated, publishResult(m)), nil
}

// publishAll publishes msgs (those without an error in errs) with many in
// flight, so they share group commits, and returns one result per
// message in order. Messages of one partition are stored in order.
func (s *Server) publishAll(ctx context.Context, msgs []*core.Message, errs []error) []PublishResult {
	results := make([]PublishResult, len(msgs))
	var wg sync.WaitGroup
	sem := make(chan struct{}, maxInFlightPublishes)
	for i, m := range msgs {
		if errs[i] != nil {
			results[i] = errResult(topicOf(m), errs[i])
			continue
		}
		sem <- struct{}{}
		wg.Add(1)
		err := s.bus.PublishAsync(ctx, m, func(m *core.Message, err error) {
			if err != nil {
				results[i] = errResult(m.Topic, s.problem(err))
			} else {
				results[i] = publishResult(m)
			}
			<-sem
			wg.Done()
		})
		if err != nil {
			results[i] = errResult(m.Topic, s.problem(err))
			<-sem
			wg.Done()
		}
	}
	wg.Wait()
	return results
}

func topicOf(m *core.Message) string {
	if m == nil {
		return ""
	}
	return m.Topic
}

// publishNDJSON streams results of an NDJSON body: one line in, one line
// out, in order, with up to maxInFlightPublishes stored at once.
func (s *Server) publishNDJSON(in *publishInput) *huma.StreamResponse {
	return &huma.StreamResponse{Body: func(hctx huma.Context) {
		hctx.SetHeader("Content-Type", contentNDJSON)
		hctx.SetStatus(stdhttp.StatusOK)
		ctx := hctx.Context()
		w := hctx.BodyWriter()
		type pending struct {
			done   chan struct{}
			result PublishResult
		}
		queue := make(chan *pending, maxInFlightPublishes)
		writerDone := make(chan struct{})
		go func() {
			defer close(writerDone)
			var werr error // the first write error: the client is gone, stop writing
			for p := range queue {
				<-p.done
				if werr != nil {
					continue // drain: every publish still finishes
				}
				var line []byte
				if line, werr = jsonLine(p.result); werr == nil {
					_, werr = w.Write(line)
				}
				if f, ok := w.(stdhttp.Flusher); ok && werr == nil {
					f.Flush()
				}
			}
		}()
		sc := bufio.NewScanner(bytes.NewReader(in.RawBody))
		sc.Buffer(make([]byte, 0, 64<<10), int(s.cfg.maxBodyBytes))
		for i := 0; sc.Scan(); i++ {
			line := bytes.TrimSpace(sc.Bytes())
			if len(line) == 0 {
				i--
				continue
			}
			p := &pending{done: make(chan struct{})}
			queue <- p
			var mi MessageIn
			if err := json.Unmarshal(line, &mi); err != nil {
				p.result = errResult(in.Topic, problemf(stdhttp.StatusBadRequest, "invalid_json", "line %d: %v", i+1, err))
				close(p.done)
				continue
			}
			m, err := s.buildMessage(&mi, in.Topic, in.IdempotencyKey, i, true)
			withTrace(m, in.TraceParent, in.TraceState)
			if err != nil {
				p.result = errResult(in.Topic, err)
				close(p.done)
				continue
			}
			if err := s.bus.PublishAsync(ctx, m, func(m *core.Message, err error) {
				if err != nil {
					p.result = errResult(m.Topic, s.problem(err))
				} else {
					p.result = publishResult(m)
				}
				close(p.done)
			}); err != nil {
				p.result = errResult(in.Topic, s.problem(err))
				close(p.done)
			}
		}
		if err := sc.Err(); err != nil {
			p := &pending{done: make(chan struct{}), result: errResult(in.Topic,
				problemf(stdhttp.StatusRequestEntityTooLarge, "line_too_large", "reading the stream: %v", err))}
			close(p.done)
			queue <- p
		}
		close(queue)
		<-writerDone
	}}
}

// jsonResponse writes v as a JSON body with status.
func jsonResponse(status int, v any) *huma.StreamResponse {
	return &huma.StreamResponse{Body: func(ctx huma.Context) {
		b, err := json.Marshal(v)
		if err != nil {
			ctx.SetStatus(stdhttp.StatusInternalServerError)
			return
		}
		ctx.SetHeader("Content-Type", contentJSON)
		ctx.SetStatus(status)
		_, _ = ctx.BodyWriter().Write(b)
	}}
}
