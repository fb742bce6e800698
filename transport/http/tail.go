package http

import (
	"context"
	"fmt"
	stdhttp "net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/onexbus/onexbus/core"
)

// tailBatch is how many messages of a partition a tail reads at once.
const tailBatch = 100

type tailInput struct {
	Topic         string `path:"topic"`
	From          string `query:"from" default:"latest" doc:"latest, earliest, an RFC 3339 time, or positions p:o,p:o (the next offset per partition, as an event id)."`
	LastEventID   string `header:"Last-Event-ID" doc:"Resume after this event (takes precedence over from)."`
	ValueEncoding string `query:"value_encoding" default:"auto" enum:"auto,json,text,base64"`
}

func (s *Server) registerTail() {
	huma.Register(s.api, huma.Operation{
		OperationID: "tail",
		Method:      stdhttp.MethodGet,
		Path:        "/v1/topics/{topic}/stream",
		Summary:     "Tail a topic live (SSE)",
		Description: "Each `message` event's id lists the next offset of every partition (p:o,p:o...), so a client " +
			"reconnecting with Last-Event-ID resumes exactly after the last event it saw. A tail is a reader, not a group: it commits nothing.",
		Tags:      []string{"read"},
		Responses: sseResponses(s.api, map[string]reflect.Type{"message": reflect.TypeFor[MessageOut](), "error": reflect.TypeFor[Problem]()}),
	}, s.tail)
}

// parsePositions parses "p:o,p:o" into next offsets per partition.
func parsePositions(v string, parts int32) (map[int32]int64, error) {
	pos := map[int32]int64{}
	for _, f := range strings.Split(v, ",") {
		p, o, ok := strings.Cut(strings.TrimSpace(f), ":")
		pn, err1 := strconv.ParseInt(p, 10, 32)
		on, err2 := strconv.ParseInt(o, 10, 64)
		if !ok || err1 != nil || err2 != nil || pn < 0 || int32(pn) >= parts || on < 0 {
			return nil, problemf(stdhttp.StatusBadRequest, "invalid_position", "%q is not partition:offset within the topic's %d partitions", f, parts)
		}
		pos[int32(pn)] = on
	}
	return pos, nil
}

func formatPositions(next []int64) string {
	var b strings.Builder
	for p, o := range next {
		if p > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%d:%d", p, o)
	}
	return b.String()
}

func (s *Server) tail(ctx context.Context, in *tailInput) (*huma.StreamResponse, error) {
	enc, err := parseEncoding(in.ValueEncoding)
	if err != nil {
		return nil, err
	}
	if err := core.ValidateTopic(in.Topic); err != nil {
		return nil, s.problem(err)
	}
	tc, ok := s.bus.TopicConfig(in.Topic)
	if !ok {
		return nil, problemf(stdhttp.StatusNotFound, "topic_not_found", "topic %q does not exist", in.Topic)
	}
	next := make([]int64, tc.Partitions)
	from := in.From
	if in.LastEventID != "" {
		from = in.LastEventID
	}
	for p := range next {
		switch from {
		case "earliest":
			next[p], err = s.bus.StartOffset(in.Topic, int32(p))
		case "latest", "":
			next[p], err = s.bus.EndOffset(in.Topic, int32(p))
		}
		if err != nil {
			return nil, s.problem(err)
		}
	}
	if t, terr := time.Parse(time.RFC3339Nano, from); terr == nil {
		for p := range next {
			if next[p], err = s.bus.Kafka().OffsetForTime(ctx, in.Topic, int32(p), t.UnixMilli()); err != nil {
				return nil, s.problem(err)
			}
		}
	} else if from != "earliest" && from != "latest" && from != "" {
		pos, err := parsePositions(from, tc.Partitions)
		if err != nil {
			return nil, err
		}
		for p := range next {
			// A partition the position leaves out (created since) starts
			// at its oldest message.
			if next[p], err = s.bus.StartOffset(in.Topic, int32(p)); err != nil {
				return nil, s.problem(err)
			}
		}
		for p, o := range pos {
			next[p] = o
		}
	}
	return &huma.StreamResponse{Body: func(hctx huma.Context) {
		s.runTail(hctx, in.Topic, next, enc)
	}}, nil
}

// runTail streams the topic from next until the client leaves or the
// server closes. One goroutine per partition waits for new messages and
// kicks the stream; they end with the stream.
func (s *Server) runTail(hctx huma.Context, topic string, next []int64, enc string) {
	ctx, cancel := context.WithCancel(hctx.Context())
	defer cancel()
	stop := context.AfterFunc(s.ctx, cancel)
	defer stop()
	w := startSSE(hctx)
	kick := make(chan struct{}, 1)
	watchers := make([]*partitionWatcher, len(next))
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel() // before Wait: the watchers end with ctx
	for p := range next {
		pw := &partitionWatcher{moved: make(chan struct{}, 1)}
		pw.from.Store(next[p])
		watchers[p] = pw
		wg.Go(func() { pw.run(ctx, s.bus, topic, int32(p), kick) })
	}
	keep, stopKeep := ticker(s.cfg.keepAlive)
	defer stopKeep()
	for {
		sent := false
		for p := range next {
			msgs, err := s.bus.Fetch(ctx, topic, int32(p), next[p], tailBatch)
			if err != nil {
				if ctx.Err() == nil {
					_ = w.event("", "error", s.problem(err)) // say why the stream ends
				}
				return
			}
			for _, m := range msgs {
				next[p] = m.Offset + 1
				if err := w.event(formatPositions(next), "message", messageOut(m, enc)); err != nil {
					return
				}
				sent = true
			}
			if len(msgs) > 0 {
				watchers[p].advance(next[p])
			}
		}
		if sent {
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-kick:
		case <-keep:
			if err := w.keepAlive(); err != nil {
				return
			}
		}
	}
}

// partitionWatcher waits for messages of one partition past what a
// stream has read and kicks the stream when there are some.
type partitionWatcher struct {
	from  atomic.Int64  // the next offset the stream reads
	moved chan struct{} // the stream read further
}

func (w *partitionWatcher) advance(next int64) {
	w.from.Store(next)
	select {
	case w.moved <- struct{}{}:
	default:
	}
}

func (w *partitionWatcher) run(ctx context.Context, bus *core.Bus, topic string, part int32, kick chan<- struct{}) {
	for {
		if err := bus.WaitForMessages(ctx, topic, part, w.from.Load()); err != nil {
			return
		}
		select {
		case kick <- struct{}{}:
		default:
		}
		select {
		case <-ctx.Done():
			return
		case <-w.moved:
		}
	}
}
