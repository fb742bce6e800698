package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/onexbus/onexbus/transport/auth"
)

// handleOffsetFetch serves OffsetFetch (key 9, v1-7, and the v8+ form with
// many groups): the committed offset, leader epoch and metadata of each
// partition asked for, or of every partition the group committed when
// topics are null; -1 where the group has none. Embedded groups answer
// with their cursors: one offset space. Offsets are never unstable (no
// transactions), so RequireStable changes nothing.
func (c *groupCoordinator) handleOffsetFetch(cc *connInfo, req *kmsg.OffsetFetchRequest) *kmsg.OffsetFetchResponse {
	resp := req.ResponseKind().(*kmsg.OffsetFetchResponse)
	if req.Version >= 8 {
		for _, rg := range req.Groups {
			sg := kmsg.NewOffsetFetchResponseGroup()
			sg.Group = rg.Group
			if !c.may(cc, auth.ResourceGroup, rg.Group, auth.OpDescribe) {
				sg.ErrorCode = kerr.GroupAuthorizationFailed.Code
				resp.Groups = append(resp.Groups, sg)
				continue
			}
			var topics []fetchTopic
			if rg.Topics != nil {
				topics = make([]fetchTopic, 0, len(rg.Topics))
				for _, t := range rg.Topics {
					topics = append(topics, fetchTopic{t.Topic, t.Partitions})
				}
			}
			for _, t := range c.fetchOffsets(cc, rg.Group, topics, rg.Topics == nil) {
				st := kmsg.NewOffsetFetchResponseGroupTopic()
				st.Topic = t.topic
				for _, p := range t.parts {
					sp := kmsg.NewOffsetFetchResponseGroupTopicPartition()
					sp.Partition, sp.Offset, sp.LeaderEpoch, sp.Metadata, sp.ErrorCode = p.part, p.offset, p.epoch, p.metadata, p.code
					st.Partitions = append(st.Partitions, sp)
				}
				sg.Topics = append(sg.Topics, st)
			}
			resp.Groups = append(resp.Groups, sg)
		}
		return resp
	}
	var topics []fetchTopic
	if req.Topics != nil {
		topics = make([]fetchTopic, 0, len(req.Topics))
		for _, t := range req.Topics {
			topics = append(topics, fetchTopic{t.Topic, t.Partitions})
		}
	}
	// Null topics (all partitions) is v2+; below, nil means none asked.
	all := req.Topics == nil && req.Version >= 2
	for _, t := range c.fetchOffsets(cc, req.Group, topics, all) {
		st := kmsg.NewOffsetFetchResponseTopic()
		st.Topic = t.topic
		for _, p := range t.parts {
			sp := kmsg.NewOffsetFetchResponseTopicPartition()
			sp.Partition, sp.Offset, sp.LeaderEpoch, sp.Metadata, sp.ErrorCode = p.part, p.offset, p.epoch, p.metadata, p.code
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	if req.Group == "" && req.Version >= 2 {
		resp.ErrorCode = kerr.InvalidGroupID.Code
	}
	return resp
}

type fetchTopic struct {
	topic string
	parts []int32
}

type fetchedTopic struct {
	topic string
	parts []fetchedPart
}

type fetchedPart struct {
	part     int32
	offset   int64
	epoch    int32
	metadata *string
	code     int16 // TOPIC_AUTHORIZATION_FAILED for a topic the principal may not describe
}

// fetchOffsets looks up group's offsets: of the partitions asked for, or
// of every partition it committed when all is set. Under ACLs a topic
// the principal may not describe is left out of all, and answered
// TOPIC_AUTHORIZATION_FAILED when asked for.
func (c *groupCoordinator) fetchOffsets(cc *connInfo, group string, topics []fetchTopic, all bool) []fetchedTopic {
	if group == "" {
		return nil
	}
	var out []fetchedTopic
	if all {
		for _, o := range c.bus.GroupOffsets(group) {
			if !c.may(cc, auth.ResourceTopic, o.Topic, auth.OpDescribe) {
				continue
			}
			md := o.Metadata
			p := fetchedPart{part: o.Partition, offset: o.Offset, epoch: o.LeaderEpoch, metadata: &md}
			if n := len(out); n > 0 && out[n-1].topic == o.Topic {
				out[n-1].parts = append(out[n-1].parts, p)
			} else {
				out = append(out, fetchedTopic{topic: o.Topic, parts: []fetchedPart{p}})
			}
		}
		return out
	}
	for _, t := range topics {
		ft := fetchedTopic{topic: t.topic}
		visible := c.may(cc, auth.ResourceTopic, t.topic, auth.OpDescribe)
		for _, part := range t.parts {
			p := fetchedPart{part: part, offset: -1, epoch: -1}
			if !visible {
				p.code = kerr.TopicAuthorizationFailed.Code
			} else if o, ok, err := c.bus.GroupOffset(group, t.topic, part); err == nil && ok {
				md := o.Metadata
				p.offset, p.epoch, p.metadata = o.Offset, o.LeaderEpoch, &md
			}
			ft.parts = append(ft.parts, p)
		}
		out = append(out, ft)
	}
	return out
}
