package http

import (
	"context"
	stdhttp "net/http"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/onexbus/onexbus/core"
)

// PatchTopicBody changes a topic: its retention, or its partition count
// (partitions only grow).
type PatchTopicBody struct {
	Retention  *RetentionJSON `json:"retention,omitempty"`
	Partitions int32          `json:"partitions,omitempty" minimum:"0" doc:"Grow the topic to this many partitions (never fewer)."`
}

type patchTopicInput struct {
	Topic string `path:"topic"`
	Body  PatchTopicBody
}

// OffsetForTime is the first offset of a partition at or after a time.
type OffsetForTime struct {
	Partition int32     `json:"partition"`
	Time      time.Time `json:"time"`
	Offset    int64     `json:"offset" doc:"The first offset whose timestamp is at or after time; the end offset when none is."`
}

type offsetForTimeInput struct {
	Topic     string    `path:"topic"`
	Partition int32     `path:"partition" minimum:"0"`
	Time      time.Time `query:"time" required:"true" doc:"RFC 3339."`
}

type offsetForTimeOutput struct{ Body OffsetForTime }

func (s *Server) registerTopicEdits() {
	huma.Register(s.api, huma.Operation{
		OperationID: "patch-topic", Method: stdhttp.MethodPatch, Path: "/v1/topics/{topic}",
		Summary: "Change a topic's retention or grow its partitions", Tags: []string{"topics"},
	}, func(ctx context.Context, in *patchTopicInput) (*topicOutput, error) {
		if err := s.checkTopicExists(in.Topic); err != nil {
			return nil, err
		}
		k := s.bus.Kafka()
		if in.Body.Retention != nil {
			r, err := in.Body.Retention.retention()
			if err != nil {
				return nil, err
			}
			if err := k.SetRetention(ctx, in.Topic, r); err != nil {
				return nil, s.problem(err)
			}
		}
		if in.Body.Partitions > 0 {
			tc, _ := s.bus.TopicConfig(in.Topic)
			if in.Body.Partitions < tc.Partitions {
				return nil, problemf(stdhttp.StatusBadRequest, "invalid_partitions", "topic %q has %d partitions: partitions only grow", in.Topic, tc.Partitions)
			}
			if in.Body.Partitions > tc.Partitions {
				if err := k.CreatePartitions(ctx, in.Topic, in.Body.Partitions); err != nil {
					return nil, s.problem(err)
				}
			}
		}
		d, err := s.topicDetail(in.Topic)
		if err != nil {
			return nil, err
		}
		return &topicOutput{Status: stdhttp.StatusOK, Body: d}, nil
	})
	huma.Register(s.api, huma.Operation{
		OperationID: "delete-topic", Method: stdhttp.MethodDelete, Path: "/v1/topics/{topic}",
		Summary: "Delete a topic with its messages and its groups' positions",
		Tags:    []string{"topics"}, DefaultStatus: stdhttp.StatusNoContent,
	}, func(ctx context.Context, in *topicInput) (*struct{}, error) {
		if err := s.checkTopicExists(in.Topic); err != nil {
			return nil, err
		}
		if err := s.bus.Kafka().DeleteTopic(ctx, in.Topic); err != nil {
			return nil, s.problem(err)
		}
		return nil, nil
	})
	huma.Register(s.api, huma.Operation{
		OperationID: "offset-for-time", Method: stdhttp.MethodGet, Path: "/v1/topics/{topic}/partitions/{partition}/offsets",
		Summary: "The first offset at or after a time", Tags: []string{"read"},
	}, func(ctx context.Context, in *offsetForTimeInput) (*offsetForTimeOutput, error) {
		if err := s.checkPartition(in.Topic, in.Partition); err != nil {
			return nil, err
		}
		off, err := s.bus.Kafka().OffsetForTime(ctx, in.Topic, in.Partition, in.Time.UnixMilli())
		if err != nil {
			return nil, s.problem(err)
		}
		return &offsetForTimeOutput{Body: OffsetForTime{Partition: in.Partition, Time: in.Time.UTC(), Offset: off}}, nil
	})
}

func (s *Server) checkTopicExists(topic string) error {
	if err := core.ValidateTopic(topic); err != nil {
		return s.problem(err)
	}
	if _, ok := s.bus.TopicConfig(topic); !ok {
		return problemf(stdhttp.StatusNotFound, "topic_not_found", "topic %q does not exist", topic)
	}
	return nil
}
