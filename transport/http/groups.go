package http

import (
	"context"
	"errors"
	stdhttp "net/http"
	"slices"
	"strconv"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/onexbus/onexbus/core"
)

// GroupSummary is a consumer group in a list.
type GroupSummary struct {
	Name    string `json:"name"`
	State   string `json:"state" enum:"Stable,Empty" doc:"Stable with live embedded members (handlers, pull or push groups), Empty otherwise."`
	Members int    `json:"members"`
	Kind    string `json:"kind,omitempty" enum:"pull,push," doc:"pull or push when declared on this API."`
}

// GroupList lists consumer groups.
type GroupList struct {
	Groups []GroupSummary `json:"groups"`
}

// MemberInfo is one live embedded member of a group.
type MemberInfo struct {
	ID       string             `json:"id"`
	Pattern  string             `json:"pattern"`
	Assigned map[string][]int32 `json:"assigned" doc:"Partitions per topic."`
}

// PartitionLag is a group's position in one partition.
type PartitionLag struct {
	Topic      string     `json:"topic"`
	Partition  int32      `json:"partition"`
	Committed  int64      `json:"committed" doc:"The next offset the group reads."`
	EndOffset  int64      `json:"end_offset"`
	Lag        int64      `json:"lag" doc:"Messages not yet consumed."`
	LagSeconds float64    `json:"lag_seconds" doc:"Age of the oldest message not yet consumed; 0 without lag."`
	CommitTime *time.Time `json:"commit_time,omitempty"`
	Metadata   string     `json:"metadata,omitempty"`
}

// TopicLag sums a group's lag on one topic.
type TopicLag struct {
	Topic         string  `json:"topic"`
	Lag           int64   `json:"lag"`
	MaxLagSeconds float64 `json:"max_lag_seconds"`
}

// LagSummary is a group's lag in messages and in seconds.
type LagSummary struct {
	Group         string         `json:"group"`
	TotalLag      int64          `json:"total_lag"`
	MaxLag        int64          `json:"max_lag"`
	MaxLagSeconds float64        `json:"max_lag_seconds"`
	Topics        []TopicLag     `json:"topics"`
	Partitions    []PartitionLag `json:"partitions"`
}

// GroupDetail describes one consumer group.
type GroupDetail struct {
	GroupSummary
	MemberList []MemberInfo `json:"member_list"`
	Pull       *PullConfig  `json:"pull,omitempty"`
	Push       *PushConfig  `json:"push,omitempty"`
	Lag        LagSummary   `json:"lag"`
}

type groupInput struct {
	Group string `path:"group"`
}

type groupListOutput struct{ Body GroupList }
type groupOutput struct{ Body GroupDetail }
type lagOutput struct{ Body LagSummary }

// SeekBody moves a group forward in a topic.
type SeekBody struct {
	Topic   string           `json:"topic" minLength:"1"`
	To      string           `json:"to" enum:"latest,timestamp,offsets" doc:"latest: past every message; timestamp: to the first message at or after timestamp; offsets: the given next offset per partition."`
	Time    time.Time        `json:"timestamp,omitzero" doc:"With to=timestamp (RFC 3339)."`
	Offsets map[string]int64 `json:"offsets,omitempty" doc:"Partition (as a string) to the next offset to read."`
	DryRun  bool             `json:"dry_run,omitempty" doc:"Say what would change without changing it."`
}

// SeekResult says how a seek moves each partition.
type SeekResult struct {
	DryRun     bool         `json:"dry_run"`
	Partitions []SeekChange `json:"partitions"`
}

// SeekChange is one partition's move.
type SeekChange struct {
	Partition int32 `json:"partition"`
	From      int64 `json:"from"`
	To        int64 `json:"to"`
	Skipped   int64 `json:"skipped" doc:"Messages the group will not receive."`
}

type seekInput struct {
	Group string `path:"group"`
	Body  SeekBody
}

type seekOutput struct{ Body SeekResult }

func (s *Server) registerGroups() {
	huma.Register(s.api, huma.Operation{
		OperationID: "list-groups", Method: stdhttp.MethodGet, Path: "/v1/groups",
		Summary: "List consumer groups", Tags: []string{"groups"},
	}, func(ctx context.Context, _ *struct{}) (*groupListOutput, error) {
		return &groupListOutput{Body: GroupList{Groups: s.groupSummaries()}}, nil
	})
	huma.Register(s.api, huma.Operation{
		OperationID: "get-group", Method: stdhttp.MethodGet, Path: "/v1/groups/{group}",
		Summary: "Describe a consumer group", Tags: []string{"groups"},
	}, s.getGroup)
	huma.Register(s.api, huma.Operation{
		OperationID: "group-lag", Method: stdhttp.MethodGet, Path: "/v1/groups/{group}/lag",
		Summary: "A group's lag in messages and in seconds", Tags: []string{"groups"},
	}, func(ctx context.Context, in *groupInput) (*lagOutput, error) {
		if !s.groupExists(in.Group) {
			return nil, problemf(stdhttp.StatusNotFound, "group_not_found", "group %q has no members and no committed offsets", in.Group)
		}
		return &lagOutput{Body: s.lag(ctx, in.Group)}, nil
	})
	huma.Register(s.api, huma.Operation{
		OperationID: "seek-group", Method: stdhttp.MethodPost, Path: "/v1/groups/{group}/offsets:seek",
		Summary: "Move a group forward in a topic",
		Description: "Only forward, and only while the group has no live members (as Kafka's reset-offsets). " +
			"A backward seek is refused with 409: read the past with history, or replay dead letters.",
		Tags: []string{"groups"},
	}, s.seek)
}

func (s *Server) groupExists(name string) bool {
	if _, ok := s.bus.EmbeddedGroupOf(name); ok {
		return true
	}
	_, found := slices.BinarySearch(s.bus.OffsetGroups(), name)
	return found
}

func (s *Server) groupSummaries() []GroupSummary {
	names := map[string]*GroupSummary{}
	for _, n := range s.bus.OffsetGroups() {
		names[n] = &GroupSummary{Name: n, State: "Empty"}
	}
	for _, g := range s.bus.EmbeddedGroups() {
		sum := &GroupSummary{Name: g.Name, State: "Empty", Members: len(g.Members)}
		if len(g.Members) > 0 {
			sum.State = "Stable"
		}
		names[g.Name] = sum
	}
	s.mu.Lock()
	for n := range s.pulls {
		if g := names[n]; g != nil {
			g.Kind = "pull"
		}
	}
	for n := range s.pushes {
		if g := names[n]; g != nil {
			g.Kind = "push"
		}
	}
	s.mu.Unlock()
	out := make([]GroupSummary, 0, len(names))
	for _, g := range names {
		out = append(out, *g)
	}
	slices.SortFunc(out, func(a, b GroupSummary) int {
		switch {
		case a.Name < b.Name:
			return -1
		case a.Name > b.Name:
			return 1
		}
		return 0
	})
	return out
}

func (s *Server) getGroup(ctx context.Context, in *groupInput) (*groupOutput, error) {
	if !s.groupExists(in.Group) {
		return nil, problemf(stdhttp.StatusNotFound, "group_not_found", "group %q has no members and no committed offsets", in.Group)
	}
	d := GroupDetail{GroupSummary: GroupSummary{Name: in.Group, State: "Empty"}, MemberList: []MemberInfo{}}
	if g, ok := s.bus.EmbeddedGroupOf(in.Group); ok {
		for _, m := range g.Members {
			d.MemberList = append(d.MemberList, MemberInfo{ID: m.ID, Pattern: m.Pattern, Assigned: m.Assigned})
		}
		d.Members = len(g.Members)
		if d.Members > 0 {
			d.State = "Stable"
		}
	}
	s.mu.Lock()
	if p := s.pulls[in.Group]; p != nil {
		c := p.cfg
		d.Pull, d.Kind = &c, "pull"
	}
	if p := s.pushes[in.Group]; p != nil {
		c := p.cfg
		d.Push, d.Kind = &c, "push"
	}
	s.mu.Unlock()
	d.Lag = s.lag(ctx, in.Group)
	return &groupOutput{Body: d}, nil
}

// lag computes a group's lag from its committed offsets: in messages from
// the end offsets, in seconds from the timestamp of the oldest message
// not consumed.
func (s *Server) lag(ctx context.Context, group string) LagSummary {
	sum := LagSummary{Group: group, Topics: []TopicLag{}, Partitions: []PartitionLag{}}
	now := time.Now()
	byTopic := map[string]*TopicLag{}
	for _, o := range s.bus.GroupOffsets(group) {
		end, err := s.bus.EndOffset(o.Topic, o.Partition)
		if err != nil {
			continue // topic deleted meanwhile
		}
		pl := PartitionLag{Topic: o.Topic, Partition: o.Partition, Committed: o.Offset, EndOffset: end, Metadata: o.Metadata}
		if !o.CommitTime.IsZero() {
			ct := o.CommitTime.UTC()
			pl.CommitTime = &ct
		}
		if start, err := s.bus.StartOffset(o.Topic, o.Partition); err == nil {
			pl.Lag = max(0, end-max(o.Offset, start))
		}
		if pl.Lag > 0 {
			if oldest, err := s.bus.Fetch(ctx, o.Topic, o.Partition, o.Offset, 1); err == nil && len(oldest) == 1 {
				pl.LagSeconds = max(0, now.Sub(oldest[0].Timestamp).Seconds())
			}
		}
		sum.Partitions = append(sum.Partitions, pl)
		sum.TotalLag += pl.Lag
		sum.MaxLag = max(sum.MaxLag, pl.Lag)
		sum.MaxLagSeconds = max(sum.MaxLagSeconds, pl.LagSeconds)
		tl := byTopic[o.Topic]
		if tl == nil {
			tl = &TopicLag{Topic: o.Topic}
			byTopic[o.Topic] = tl
		}
		tl.Lag += pl.Lag
		tl.MaxLagSeconds = max(tl.MaxLagSeconds, pl.LagSeconds)
	}
	for _, t := range byTopic {
		sum.Topics = append(sum.Topics, *t)
	}
	slices.SortFunc(sum.Topics, func(a, b TopicLag) int {
		if a.Topic < b.Topic {
			return -1
		}
		if a.Topic > b.Topic {
			return 1
		}
		return 0
	})
	return sum
}

func (s *Server) seek(ctx context.Context, in *seekInput) (*seekOutput, error) {
	tc, ok := s.bus.TopicConfig(in.Body.Topic)
	if !ok {
		return nil, problemf(stdhttp.StatusNotFound, "topic_not_found", "topic %q does not exist", in.Body.Topic)
	}
	target := map[int32]int64{}
	switch in.Body.To {
	case "latest":
		for p := range tc.Partitions {
			end, err := s.bus.EndOffset(in.Body.Topic, p)
			if err != nil {
				return nil, s.problem(err)
			}
			target[p] = end
		}
	case "timestamp":
		if in.Body.Time.IsZero() {
			return nil, problemf(stdhttp.StatusBadRequest, "invalid_seek", "to=timestamp needs timestamp")
		}
		for p := range tc.Partitions {
			off, err := s.bus.Kafka().OffsetForTime(ctx, in.Body.Topic, p, in.Body.Time.UnixMilli())
			if err != nil {
				return nil, s.problem(err)
			}
			target[p] = off
		}
	case "offsets":
		if len(in.Body.Offsets) == 0 {
			return nil, problemf(stdhttp.StatusBadRequest, "invalid_seek", "to=offsets needs offsets")
		}
		for ps, o := range in.Body.Offsets {
			p, err := strconv.ParseInt(ps, 10, 32)
			if err != nil || p < 0 || int32(p) >= tc.Partitions {
				return nil, problemf(stdhttp.StatusBadRequest, "invalid_partition", "%q is not a partition of %q", ps, in.Body.Topic)
			}
			end, err := s.bus.EndOffset(in.Body.Topic, int32(p))
			if err != nil {
				return nil, s.problem(err)
			}
			if o < 0 || o > end {
				return nil, problemf(stdhttp.StatusBadRequest, "invalid_offset", "offset %d of partition %d is outside [0, %d]", o, p, end)
			}
			target[int32(p)] = o
		}
	}
	res := SeekResult{DryRun: in.Body.DryRun, Partitions: []SeekChange{}}
	var commits []core.GroupOffset
	for p := range tc.Partitions {
		to, ok := target[p]
		if !ok {
			continue
		}
		from := int64(0)
		if cur, ok, err := s.bus.GroupOffset(in.Group, in.Body.Topic, p); err != nil {
			return nil, s.problem(err)
		} else if ok {
			from = cur.Offset
		} else if start, err := s.bus.StartOffset(in.Body.Topic, p); err == nil {
			from = start
		}
		if to < from {
			return nil, problemf(stdhttp.StatusConflict, "backward_seek",
				"partition %d is at %d; a seek only moves forward (read the past with history, or replay dead letters)", p, from)
		}
		res.Partitions = append(res.Partitions, SeekChange{Partition: p, From: from, To: to, Skipped: to - from})
		commits = append(commits, core.GroupOffset{Topic: in.Body.Topic, Partition: p, Offset: to, LeaderEpoch: -1, Metadata: "onexbusd seek"})
	}
	if in.Body.DryRun || len(commits) == 0 {
		return &seekOutput{Body: res}, nil
	}
	durable, err := s.bus.CommitGroupOffsets(in.Group, commits)
	if errors.Is(err, core.ErrGroupInUse) {
		return nil, problemf(stdhttp.StatusConflict, "group_active", "group %q has live members: stop them before seeking", in.Group)
	}
	if err != nil {
		return nil, s.problem(err)
	}
	if err := durable(ctx); err != nil {
		return nil, s.problem(err)
	}
	return &seekOutput{Body: res}, nil
}
