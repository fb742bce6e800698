package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// handleLeaveGroup serves LeaveGroup (key 13, v0-5): one member below v3,
// a batch of members (by member id or instance id) from v3. The group
// rebalances once for the whole batch.
func (c *groupCoordinator) handleLeaveGroup(req *kmsg.LeaveGroupRequest) *kmsg.LeaveGroupResponse {
	resp := req.ResponseKind().(*kmsg.LeaveGroupResponse)
	leavers := req.Members
	if req.Version < 3 {
		leavers = []kmsg.LeaveGroupRequestMember{{MemberID: req.MemberID}}
	}
	if req.Group == "" {
		resp.ErrorCode = kerr.InvalidGroupID.Code
		return resp
	}
	g := c.groups[req.Group]
	changed := false
	for _, lm := range leavers {
		rm := kmsg.NewLeaveGroupResponseMember()
		rm.MemberID, rm.InstanceID = lm.MemberID, lm.InstanceID
		rm.ErrorCode = c.leave(g, lm, &changed)
		resp.Members = append(resp.Members, rm)
	}
	if g != nil {
		if changed {
			g.rebalance()
		}
		g.maybeForget()
	}
	if req.Version < 3 {
		resp.ErrorCode = resp.Members[0].ErrorCode
		resp.Members = nil
	}
	return resp
}

// leave removes one leaver and returns its code.
func (c *groupCoordinator) leave(g *classicGroup, lm kmsg.LeaveGroupRequestMember, changed *bool) int16 {
	if g == nil {
		return kerr.UnknownMemberID.Code
	}
	id := lm.MemberID
	if lm.InstanceID != nil {
		known, ok := g.static[*lm.InstanceID]
		switch {
		case !ok:
			return kerr.UnknownMemberID.Code
		case id != "" && id != known:
			return kerr.FencedInstanceID.Code
		}
		id = known
	}
	if m := g.members[id]; m != nil {
		g.removeMember(m, kerr.UnknownMemberID.Code)
		*changed = true
		return 0
	}
	if p := g.pending[id]; p != nil {
		g.dropPending(p)
		return 0
	}
	return kerr.UnknownMemberID.Code
}
