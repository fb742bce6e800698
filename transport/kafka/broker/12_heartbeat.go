package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// handleHeartbeat serves Heartbeat (key 12, v0-4): it restarts the
// member's session timer, and tells it to rejoin while the group prepares
// a rebalance.
func (c *groupCoordinator) handleHeartbeat(req *kmsg.HeartbeatRequest) *kmsg.HeartbeatResponse {
	resp := req.ResponseKind().(*kmsg.HeartbeatResponse)
	if req.Group == "" {
		resp.ErrorCode = kerr.InvalidGroupID.Code
		return resp
	}
	g := c.groups[req.Group]
	if g == nil {
		resp.ErrorCode = kerr.UnknownMemberID.Code
		return resp
	}
	if code := g.checkInstance(req.InstanceID, req.MemberID); code != 0 {
		resp.ErrorCode = code
		return resp
	}
	m := g.members[req.MemberID]
	switch {
	case m == nil:
		resp.ErrorCode = kerr.UnknownMemberID.Code
		return resp
	case req.Generation != g.generation:
		resp.ErrorCode = kerr.IllegalGeneration.Code
		return resp
	}
	switch g.state {
	case groupPreparingRebalance:
		g.touch(m)
		resp.ErrorCode = kerr.RebalanceInProgress.Code
	case groupCompletingRebalance, groupStable:
		g.touch(m)
	default:
		resp.ErrorCode = kerr.UnknownMemberID.Code
	}
	return resp
}
