package http

import (
	"context"
	"errors"
	stdhttp "net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/google/uuid"

	"github.com/onexbus/onexbus/core"
)

// Limits of reads.
const (
	defaultHistoryLimit = 50
	maxReadLimit        = 1000
)

// Messages is a list of messages, oldest first.
type Messages struct {
	Messages []MessageOut `json:"messages"`
}

// FetchResult is a stateless fetch's messages and where to continue.
type FetchResult struct {
	Messages    []MessageOut `json:"messages"`
	NextOffset  int64        `json:"next_offset" doc:"The offset to fetch next."`
	StartOffset int64        `json:"start_offset" doc:"The oldest retained offset of the partition."`
	EndOffset   int64        `json:"end_offset" doc:"The offset after the newest message of the partition."`
}

type historyInput struct {
	Topic         string    `path:"topic"`
	Limit         int       `query:"limit" default:"50" minimum:"0" maximum:"1000" doc:"The newest this many; 0 returns none."`
	Partition     int32     `query:"partition" default:"-1" minimum:"-1" doc:"One partition; -1 (the default) means all."`
	FromOffset    int64     `query:"from_offset" default:"0" minimum:"0" doc:"Offsets from this one (with partition)."`
	ToOffset      int64     `query:"to_offset" default:"-1" minimum:"-1" doc:"Offsets before this one; -1 means no bound."`
	Since         time.Time `query:"since" doc:"Messages at or after this time (RFC 3339)."`
	Until         time.Time `query:"until" doc:"Messages before this time (RFC 3339)."`
	CorrelationID string    `query:"correlation_id" doc:"Only messages with this correlation_id."`
	ValueEncoding string    `query:"value_encoding" default:"auto" enum:"auto,json,text,base64"`
}

type messagesOutput struct{ Body Messages }

type oneMessageInput struct {
	Topic         string `path:"topic"`
	Partition     int32  `path:"partition" minimum:"0"`
	Offset        int64  `path:"offset" minimum:"0"`
	ValueEncoding string `query:"value_encoding" default:"auto" enum:"auto,json,text,base64"`
}

type oneMessageOutput struct{ Body MessageOut }

type fetchInput struct {
	Topic         string `path:"topic"`
	Partition     int32  `path:"partition" minimum:"0"`
	Offset        int64  `query:"offset" default:"0" minimum:"0" doc:"The first offset to return; below the retained start reads from the start."`
	Max           int    `query:"max" default:"100" minimum:"1" maximum:"1000"`
	Wait          string `query:"wait" default:"0s" doc:"Long poll: wait up to this long (a Go duration, e.g. 5s) for a message when there is none."`
	ValueEncoding string `query:"value_encoding" default:"auto" enum:"auto,json,text,base64"`
}

type fetchOutput struct{ Body FetchResult }

func (s *Server) registerRead() {
	huma.Register(s.api, huma.Operation{
		OperationID: "history",
		Method:      stdhttp.MethodGet,
		Path:        "/v1/topics/{topic}/messages",
		Summary:     "Read a topic's history",
		Description: "The newest `limit` messages that match, oldest first; by offset range, time range or correlation_id.",
		Tags:        []string{"read"},
	}, s.history)
	huma.Register(s.api, huma.Operation{
		OperationID: "get-message",
		Method:      stdhttp.MethodGet,
		Path:        "/v1/topics/{topic}/partitions/{partition}/messages/{offset}",
		Summary:     "Read one message",
		Tags:        []string{"read"},
	}, s.oneMessage)
	huma.Register(s.api, huma.Operation{
		OperationID: "fetch",
		Method:      stdhttp.MethodGet,
		Path:        "/v1/topics/{topic}/partitions/{partition}/messages",
		Summary:     "Fetch a partition from an offset (stateless, long poll)",
		Tags:        []string{"read"},
	}, s.fetch)
}

func (s *Server) history(ctx context.Context, in *historyInput) (*messagesOutput, error) {
	enc, err := parseEncoding(in.ValueEncoding)
	if err != nil {
		return nil, err
	}
	if err := core.ValidateTopic(in.Topic); err != nil {
		return nil, s.problem(err)
	}
	var opts []core.HistoryOption
	if in.Partition >= 0 {
		opts = append(opts, core.InPartition(in.Partition))
	}
	if in.FromOffset > 0 || in.ToOffset >= 0 {
		opts = append(opts, core.OffsetRange(in.FromOffset, in.ToOffset))
	}
	if !in.Since.IsZero() || !in.Until.IsZero() {
		opts = append(opts, core.TimeRange(in.Since, in.Until))
	}
	if in.CorrelationID != "" {
		id, err := uuid.Parse(in.CorrelationID)
		if err != nil {
			return nil, problemf(stdhttp.StatusBadRequest, "invalid_correlation_id", "correlation_id %q is not a UUID", in.CorrelationID)
		}
		opts = append(opts, core.WithCorrelationID(id))
	}
	msgs, err := s.bus.History(ctx, in.Topic, in.Limit, opts...)
	if err != nil {
		return nil, s.problem(err)
	}
	return &messagesOutput{Body: Messages{Messages: render(msgs, enc)}}, nil
}

func render(msgs []*core.Message, enc string) []MessageOut {
	out := make([]MessageOut, len(msgs))
	for i, m := range msgs {
		out[i] = messageOut(m, enc)
	}
	return out
}

func (s *Server) oneMessage(ctx context.Context, in *oneMessageInput) (*oneMessageOutput, error) {
	enc, err := parseEncoding(in.ValueEncoding)
	if err != nil {
		return nil, err
	}
	if err := s.checkPartition(in.Topic, in.Partition); err != nil {
		return nil, err
	}
	msgs, err := s.bus.Fetch(ctx, in.Topic, in.Partition, in.Offset, 1)
	if err != nil {
		return nil, s.problem(err)
	}
	if len(msgs) == 0 || msgs[0].Offset != in.Offset {
		return nil, problemf(stdhttp.StatusNotFound, "message_not_found",
			"no message at %s/%d offset %d (removed by retention, or not written yet)", in.Topic, in.Partition, in.Offset)
	}
	return &oneMessageOutput{Body: messageOut(msgs[0], enc)}, nil
}

// checkPartition answers 404 for an unknown topic and 400 for a partition
// it does not have.
func (s *Server) checkPartition(topic string, part int32) error {
	if err := core.ValidateTopic(topic); err != nil {
		return s.problem(err)
	}
	tc, ok := s.bus.TopicConfig(topic)
	if !ok {
		return problemf(stdhttp.StatusNotFound, "topic_not_found", "topic %q does not exist", topic)
	}
	if part < 0 || part >= tc.Partitions {
		return problemf(stdhttp.StatusBadRequest, "invalid_partition", "topic %q has partitions 0..%d, not %d", topic, tc.Partitions-1, part)
	}
	return nil
}

func (s *Server) fetch(ctx context.Context, in *fetchInput) (*fetchOutput, error) {
	enc, err := parseEncoding(in.ValueEncoding)
	if err != nil {
		return nil, err
	}
	if err := s.checkPartition(in.Topic, in.Partition); err != nil {
		return nil, err
	}
	wait, err := s.parseWait(in.Wait)
	if err != nil {
		return nil, err
	}
	msgs, err := s.bus.Fetch(ctx, in.Topic, in.Partition, in.Offset, in.Max)
	if err != nil {
		return nil, s.problem(err)
	}
	if len(msgs) == 0 && wait > 0 {
		start, err := s.bus.StartOffset(in.Topic, in.Partition)
		if err != nil {
			return nil, s.problem(err)
		}
		wctx, cancel := context.WithTimeout(ctx, wait)
		err = s.bus.WaitForMessages(wctx, in.Topic, in.Partition, max(in.Offset, start))
		cancel()
		switch {
		case err == nil:
			if msgs, err = s.bus.Fetch(ctx, in.Topic, in.Partition, in.Offset, in.Max); err != nil {
				return nil, s.problem(err)
			}
		case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
			// The wait ended empty-handed: an empty answer, not an error.
		default:
			return nil, s.problem(err)
		}
	}
	start, err := s.bus.StartOffset(in.Topic, in.Partition)
	if err != nil {
		return nil, s.problem(err)
	}
	end, err := s.bus.EndOffset(in.Topic, in.Partition)
	if err != nil {
		return nil, s.problem(err)
	}
	next := max(in.Offset, start)
	if len(msgs) > 0 {
		next = msgs[len(msgs)-1].Offset + 1
	}
	return &fetchOutput{Body: FetchResult{Messages: render(msgs, enc), NextOffset: next, StartOffset: start, EndOffset: end}}, nil
}
