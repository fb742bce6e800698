package http

import (
	"context"
	"encoding/base64"
	stdhttp "net/http"
	"strconv"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/onexbus/onexbus/core"
)

// Paging of lists.
const (
	defaultPageSize = 100
	maxPageSize     = 1000
)

// RetentionJSON bounds each partition of a topic; zero is no bound.
type RetentionJSON struct {
	MaxMessages int64  `json:"max_messages,omitempty" minimum:"0" doc:"Keep at most this many messages per partition (exact)."`
	MaxBytes    int64  `json:"max_bytes,omitempty" minimum:"0" doc:"Keep about this many bytes per partition (whole chunks)."`
	MaxAge      string `json:"max_age,omitempty" doc:"Drop chunks older than this Go duration (e.g. 168h)."`
}

func retentionJSON(r core.Retention) RetentionJSON {
	out := RetentionJSON{MaxMessages: r.MaxMessages, MaxBytes: r.MaxBytes}
	if r.MaxAge > 0 {
		out.MaxAge = r.MaxAge.String()
	}
	return out
}

func (r RetentionJSON) retention() (core.Retention, error) {
	out := core.Retention{MaxMessages: r.MaxMessages, MaxBytes: r.MaxBytes}
	if r.MaxAge != "" {
		d, err := time.ParseDuration(r.MaxAge)
		if err != nil || d < 0 {
			return out, problemf(stdhttp.StatusBadRequest, "invalid_retention", "max_age %q is not a duration such as 168h", r.MaxAge)
		}
		out.MaxAge = d
	}
	return out, nil
}

// TopicSummary is a topic in a list.
type TopicSummary struct {
	Name       string `json:"name"`
	Category   string `json:"category" doc:"EVENT, COMMAND, INTENT, DLQ or NONE, from the name."`
	Partitions int32  `json:"partitions"`
	Messages   int64  `json:"messages" doc:"Retained messages, all partitions."`
}

// TopicList is a page of topics.
type TopicList struct {
	Topics        []TopicSummary `json:"topics"`
	NextPageToken string         `json:"next_page_token,omitempty"`
}

// PartitionInfo describes one partition.
type PartitionInfo struct {
	Partition   int32      `json:"partition"`
	StartOffset int64      `json:"start_offset"`
	EndOffset   int64      `json:"end_offset"`
	Messages    int64      `json:"messages"`
	Bytes       int64      `json:"bytes" doc:"About how many bytes the partition stores."`
	LastAppend  *time.Time `json:"last_append,omitempty" doc:"The timestamp of the newest message."`
}

// TopicDetail describes a topic with its partitions.
type TopicDetail struct {
	TopicSummary
	Retention    RetentionJSON   `json:"retention"`
	PartitionSet []PartitionInfo `json:"partition_info"`
}

type listTopicsInput struct {
	Pattern   string `query:"pattern" doc:"Only topics matching this pattern (* one segment, ** any)."`
	PageSize  int    `query:"page_size" default:"100" minimum:"1" maximum:"1000"`
	PageToken string `query:"page_token"`
}

type listTopicsOutput struct {
	Link string `header:"Link"`
	Body TopicList
}

// CreateTopicBody creates a topic.
type CreateTopicBody struct {
	Name       string         `json:"name" minLength:"1" maxLength:"255"`
	Partitions int32          `json:"partitions,omitempty" minimum:"0" doc:"Default: the bus's default topic configuration."`
	Retention  *RetentionJSON `json:"retention,omitempty"`
}

type createTopicInput struct{ Body CreateTopicBody }

type topicOutput struct {
	Status int
	Body   TopicDetail
}

type topicInput struct {
	Topic string `path:"topic"`
}

func (s *Server) registerTopics() {
	huma.Register(s.api, huma.Operation{
		OperationID: "list-topics", Method: stdhttp.MethodGet, Path: "/v1/topics",
		Summary: "List topics", Tags: []string{"topics"},
	}, s.listTopics)
	huma.Register(s.api, huma.Operation{
		OperationID: "create-topic", Method: stdhttp.MethodPost, Path: "/v1/topics",
		Summary: "Create a topic", Description: "201 when created, 200 when it exists (its configuration is unchanged).",
		Tags: []string{"topics"}, DefaultStatus: stdhttp.StatusCreated,
		Responses: alsoStatus[TopicDetail](s, stdhttp.StatusOK, "It exists: its configuration is unchanged."),
	}, s.createTopic)
	huma.Register(s.api, huma.Operation{
		OperationID: "get-topic", Method: stdhttp.MethodGet, Path: "/v1/topics/{topic}",
		Summary: "Describe a topic with its partitions", Tags: []string{"topics"},
	}, func(ctx context.Context, in *topicInput) (*topicOutput, error) {
		d, err := s.topicDetail(in.Topic)
		if err != nil {
			return nil, err
		}
		return &topicOutput{Status: stdhttp.StatusOK, Body: d}, nil
	})
}

func (s *Server) listTopics(ctx context.Context, in *listTopicsInput) (*listTopicsOutput, error) {
	var pat core.Pattern
	if in.Pattern != "" {
		p, err := core.CompilePattern(in.Pattern)
		if err != nil {
			return nil, s.problem(err)
		}
		pat = p
	}
	after, err := decodePageToken(in.PageToken)
	if err != nil {
		return nil, err
	}
	out := &listTopicsOutput{Body: TopicList{Topics: []TopicSummary{}}}
	for _, name := range s.bus.Topics() { // sorted
		if name <= after || (in.Pattern != "" && !pat.Match(name)) {
			continue
		}
		if len(out.Body.Topics) == in.PageSize {
			last := out.Body.Topics[len(out.Body.Topics)-1].Name
			out.Body.NextPageToken = encodePageToken(last)
			out.Link = `</v1/topics?page_size=` + strconv.Itoa(in.PageSize) + `&page_token=` + out.Body.NextPageToken + `>; rel="next"`
			break
		}
		sum, err := s.topicSummary(name)
		if err != nil {
			continue // deleted meanwhile
		}
		out.Body.Topics = append(out.Body.Topics, sum)
	}
	return out, nil
}

func encodePageToken(after string) string { return base64.RawURLEncoding.EncodeToString([]byte(after)) }

func decodePageToken(tok string) (string, error) {
	if tok == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return "", problemf(stdhttp.StatusBadRequest, "invalid_page_token", "page_token is not one this API gave")
	}
	return string(b), nil
}

func (s *Server) topicSummary(name string) (TopicSummary, error) {
	tc, ok := s.bus.TopicConfig(name)
	if !ok {
		return TopicSummary{}, problemf(stdhttp.StatusNotFound, "topic_not_found", "topic %q does not exist", name)
	}
	cat := "NONE"
	if t, err := core.ParseTopic(name); err == nil && t.Conforms() {
		cat = t.Category.String()
	}
	sum := TopicSummary{Name: name, Category: cat, Partitions: tc.Partitions}
	for p := range tc.Partitions {
		start, err1 := s.bus.StartOffset(name, p)
		end, err2 := s.bus.EndOffset(name, p)
		if err1 == nil && err2 == nil {
			sum.Messages += end - start
		}
	}
	return sum, nil
}

func (s *Server) topicDetail(name string) (TopicDetail, error) {
	if err := core.ValidateTopic(name); err != nil {
		return TopicDetail{}, s.problem(err)
	}
	sum, err := s.topicSummary(name)
	if err != nil {
		return TopicDetail{}, err
	}
	tc, _ := s.bus.TopicConfig(name)
	d := TopicDetail{TopicSummary: sum, Retention: retentionJSON(tc.Retention), PartitionSet: make([]PartitionInfo, 0, tc.Partitions)}
	for p := range tc.Partitions {
		start, err := s.bus.StartOffset(name, p)
		if err != nil {
			return TopicDetail{}, s.problem(err)
		}
		end, err := s.bus.EndOffset(name, p)
		if err != nil {
			return TopicDetail{}, s.problem(err)
		}
		bytes, err := s.bus.TopicBytes(name, p, start)
		if err != nil {
			return TopicDetail{}, s.problem(err)
		}
		pi := PartitionInfo{Partition: p, StartOffset: start, EndOffset: end, Messages: end - start, Bytes: bytes}
		if end > start {
			if last, err := s.bus.Fetch(context.Background(), name, p, end-1, 1); err == nil && len(last) == 1 {
				ts := last[0].Timestamp.UTC()
				pi.LastAppend = &ts
			}
		}
		d.PartitionSet = append(d.PartitionSet, pi)
	}
	return d, nil
}

func (s *Server) createTopic(ctx context.Context, in *createTopicInput) (*topicOutput, error) {
	if err := core.ValidateTopic(in.Body.Name); err != nil {
		return nil, s.problem(err)
	}
	if _, ok := s.bus.TopicConfig(in.Body.Name); ok {
		d, err := s.topicDetail(in.Body.Name)
		if err != nil {
			return nil, err
		}
		return &topicOutput{Status: stdhttp.StatusOK, Body: d}, nil
	}
	tc := s.defaultTopicConfig()
	if in.Body.Partitions > 0 {
		tc.Partitions = in.Body.Partitions
	}
	if in.Body.Retention != nil {
		r, err := in.Body.Retention.retention()
		if err != nil {
			return nil, err
		}
		tc.Retention = r
	}
	created, err := s.bus.CreateTopic(ctx, in.Body.Name, tc)
	if err != nil {
		return nil, s.problem(err)
	}
	d, err := s.topicDetail(in.Body.Name)
	if err != nil {
		return nil, err
	}
	status := stdhttp.StatusOK
	if created {
		status = stdhttp.StatusCreated
	}
	return &topicOutput{Status: status, Body: d}, nil
}

// defaultTopicConfig is what a topic gets when a request leaves it out:
// the bus's default, as on first publish.
func (s *Server) defaultTopicConfig() core.TopicConfig {
	return s.bus.DefaultTopicConfig()
}
