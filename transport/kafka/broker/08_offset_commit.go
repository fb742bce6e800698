package broker

import (
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/transport/auth"
)

// handleOffsetCommit serves OffsetCommit (key 8, v0-8). A member's commit
// needs its member id and the current generation; a simple commit
// (generation -1, as kcat and manual committers send) is accepted only
// while the group has no members of either kind. Offsets may move
// backwards (a seek). The reply goes only once the offsets are durable;
// their metadata round-trips through OffsetFetch.
func (c *groupCoordinator) handleOffsetCommit(cc *connInfo, req *kmsg.OffsetCommitRequest, reply func(kmsg.Response)) {
	resp := req.ResponseKind().(*kmsg.OffsetCommitResponse)
	if req.Version == 0 {
		// v0 has neither a generation nor a member: a simple commit.
		req.Generation, req.MemberID = -1, ""
	}
	if code := c.checkCommitter(req); code != 0 {
		fillOffsetCommit(req, resp, code)
		reply(resp)
		return
	}

	now := time.Now()
	var commits []core.GroupOffset
	var at []*kmsg.OffsetCommitResponseTopicPartition // response slot of each commit
	for _, t := range req.Topics {
		rt := kmsg.NewOffsetCommitResponseTopic()
		rt.Topic = t.Topic
		tc, topicOK := c.bus.TopicConfig(t.Topic)
		readable := c.may(cc, auth.ResourceTopic, t.Topic, auth.OpRead)
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetCommitResponseTopicPartition()
			rp.Partition = p.Partition
			var metadata string
			if p.Metadata != nil {
				metadata = *p.Metadata
			}
			switch {
			case !readable:
				rp.ErrorCode = kerr.TopicAuthorizationFailed.Code
			case !topicOK || p.Partition < 0 || p.Partition >= tc.Partitions:
				rp.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case len(metadata) > maxCommitMetadata:
				rp.ErrorCode = kerr.OffsetMetadataTooLarge.Code
			case !c.offsetInRange(t.Topic, p.Partition, p.Offset):
				rp.ErrorCode = kerr.OffsetOutOfRange.Code
			default:
				epoch := p.LeaderEpoch
				if req.Version < 6 {
					epoch = -1
				}
				commits = append(commits, core.GroupOffset{Topic: t.Topic, Partition: p.Partition, Offset: p.Offset,
					LeaderEpoch: epoch, Metadata: metadata, CommitTime: now})
			}
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
	// Slots are taken once the response's slices stop growing.
	for ti := range resp.Topics {
		for pi := range resp.Topics[ti].Partitions {
			if rp := &resp.Topics[ti].Partitions[pi]; rp.ErrorCode == 0 {
				at = append(at, rp)
			}
		}
	}
	if len(commits) == 0 {
		reply(resp)
		return
	}
	setCode := func(code int16) {
		for _, rp := range at {
			rp.ErrorCode = code
		}
	}
	durable, err := c.bus.CommitGroupOffsets(req.Group, commits)
	if err != nil {
		c.log.Debug("offset commit refused", "group", req.Group, "error", err)
		setCode(storeErrorCode(err))
		reply(resp)
		return
	}
	// The offsets are in effect (in request order, on the loop); the
	// reply waits for them to be durable without holding up the loop.
	c.waits.Add(1)
	go func() {
		defer c.waits.Done()
		if err := durable(c.ctx); err != nil {
			c.log.Warn("offset commit not made durable", "group", req.Group, "error", err)
			setCode(kerr.CoordinatorNotAvailable.Code)
		}
		reply(resp)
	}()
}

// checkCommitter checks who commits: a member of the current generation,
// or anyone while the group has no Kafka members (the bus refuses a
// simple commit while embedded members are live).
func (c *groupCoordinator) checkCommitter(req *kmsg.OffsetCommitRequest) int16 {
	if req.Group == "" {
		return kerr.InvalidGroupID.Code
	}
	g := c.groups[req.Group]
	if g == nil || len(g.members) == 0 {
		if req.Generation >= 0 {
			// A member of a generation that no longer exists (the
			// group emptied, or the broker restarted): rejoin.
			return kerr.UnknownMemberID.Code
		}
		return 0
	}
	if code := g.checkInstance(req.InstanceID, req.MemberID); code != 0 {
		return code
	}
	m := g.members[req.MemberID]
	switch {
	case m == nil:
		return kerr.UnknownMemberID.Code
	case req.Generation != g.generation:
		return kerr.IllegalGeneration.Code
	}
	g.touch(m)
	if g.state == groupCompletingRebalance {
		return kerr.RebalanceInProgress.Code
	}
	return 0
}

// offsetInRange reports whether off is a position in the partition: from
// 0 to its end (the offset after the last visible record).
func (c *groupCoordinator) offsetInRange(topic string, part int32, off int64) bool {
	if off < 0 {
		return false
	}
	end, err := c.bus.EndOffset(topic, part)
	return err == nil && off <= end
}

// fillOffsetCommit answers every partition of req with code.
func fillOffsetCommit(req *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, code int16) {
	for _, t := range req.Topics {
		rt := kmsg.NewOffsetCommitResponseTopic()
		rt.Topic = t.Topic
		for _, p := range t.Partitions {
			rp := kmsg.NewOffsetCommitResponseTopicPartition()
			rp.Partition, rp.ErrorCode = p.Partition, code
			rt.Partitions = append(rt.Partitions, rp)
		}
		resp.Topics = append(resp.Topics, rt)
	}
}
