package broker

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/transport/auth"
)

// handleOffsetDelete serves OffsetDelete (key 47, v0): it deletes a
// group's committed offsets on the partitions asked for, durably before
// the reply. A group with Kafka members keeps the offsets of topics its
// members subscribe to (GROUP_SUBSCRIBED_TO_TOPIC); a group with live
// embedded members keeps all (NON_EMPTY_GROUP); an unknown group gets
// GROUP_ID_NOT_FOUND.
func (c *groupCoordinator) handleOffsetDelete(cc *connInfo, req *kmsg.OffsetDeleteRequest, reply func(kmsg.Response)) {
	resp := req.ResponseKind().(*kmsg.OffsetDeleteResponse)
	if req.Group == "" {
		resp.ErrorCode = kerr.InvalidGroupID.Code
		reply(resp)
		return
	}
	v, ok := c.view(req.Group)
	switch {
	case !ok:
		resp.ErrorCode = kerr.GroupIDNotFound.Code
		reply(resp)
		return
	case v.embedded != nil && len(v.embedded.Members) > 0:
		resp.ErrorCode = kerr.NonEmptyGroup.Code
		reply(resp)
		return
	}
	var subscribed map[string]bool
	if v.classic != nil && len(v.classic.members) > 0 {
		if v.classic.protocolType != "consumer" {
			// Without the consumer protocol the subscriptions cannot be
			// read, so nothing can be known safe to delete.
			resp.ErrorCode = kerr.NonEmptyGroup.Code
			reply(resp)
			return
		}
		subscribed = v.classic.subscribedTopics()
	}
	for _, t := range req.Topics {
		rt := kmsg.NewOffsetDeleteResponseTopic()
		rt.Topic = t.Topic
		readable := c.may(cc, auth.ResourceTopic, t.Topic, auth.OpRead)
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetDeleteResponseTopicPartition()
			rp.Partition = p.Partition
			if !readable {
				rp.ErrorCode = kerr.TopicAuthorizationFailed.Code
			} else if subscribed[t.Topic] {
				rp.ErrorCode = kerr.GroupSubscribedToTopic.Code
			} else if err := c.bus.DeleteGroupOffset(c.ctx, req.Group, t.Topic, p.Partition); err != nil {
				if errors.Is(err, core.ErrGroupInUse) {
					rp.ErrorCode = kerr.GroupSubscribedToTopic.Code
				} else {
					c.log.Warn("delete of a group offset failed", "group", req.Group, "topic", t.Topic, "partition", p.Partition, "error", err)
					rp.ErrorCode = storeErrorCode(err)
				}
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	if g := c.groups[req.Group]; g != nil {
		g.maybeForget()
	}
	reply(resp)
}

// subscribedTopics reads the topics the members subscribe to from their
// consumer-protocol metadata for the group's protocol.
func (g *classicGroup) subscribedTopics() map[string]bool {
	out := make(map[string]bool)
	for _, m := range g.members {
		for _, p := range m.join.Protocols {
			if g.protocol != "" && p.Name != g.protocol {
				continue
			}
			var meta kmsg.ConsumerMemberMetadata
			if err := meta.ReadFrom(p.Metadata); err != nil {
				continue
			}
			for _, t := range meta.Topics {
				out[t] = true
			}
			break
		}
	}
	return out
}
