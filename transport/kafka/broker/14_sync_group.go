package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// handleSyncGroup serves SyncGroup (key 14, v0-5). In CompletingRebalance
// the call is parked; the leader's carries the assignments and answers
// every parked one. In Stable a member gets its assignment at once.
func (c *groupCoordinator) handleSyncGroup(req *kmsg.SyncGroupRequest, reply func(kmsg.Response)) {
	resp := req.ResponseKind().(*kmsg.SyncGroupResponse)
	fail := func(code int16) {
		resp.ErrorCode = code
		reply(resp)
	}
	if req.Group == "" {
		fail(kerr.InvalidGroupID.Code)
		return
	}
	g := c.groups[req.Group]
	if g == nil {
		fail(kerr.UnknownMemberID.Code)
		return
	}
	if code := g.checkInstance(req.InstanceID, req.MemberID); code != 0 {
		fail(code)
		return
	}
	m := g.members[req.MemberID]
	switch {
	case m == nil:
		fail(kerr.UnknownMemberID.Code)
		return
	case req.Generation != g.generation:
		fail(kerr.IllegalGeneration.Code)
		return
	case req.ProtocolType != nil && *req.ProtocolType != g.protocolType,
		req.Protocol != nil && *req.Protocol != g.protocol:
		fail(kerr.InconsistentGroupProtocol.Code)
		return
	}
	switch g.state {
	case groupPreparingRebalance:
		fail(kerr.RebalanceInProgress.Code)
	case groupCompletingRebalance:
		delete(g.pendingSync, m.id)
		g.park(m, req, reply)
		if m.id == g.leader {
			g.completeSync(req)
		}
	case groupStable:
		delete(g.pendingSync, m.id)
		reply(g.syncResponse(req, m))
		g.touch(m)
	default:
		fail(kerr.UnknownMemberID.Code)
	}
}
