package broker

import (
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/onexbus/onexbus/core"
)

// handleJoinGroup serves JoinGroup (key 11, v0-9). A dynamic member's
// first join at v4+ is answered MEMBER_ID_REQUIRED with its new id (it is
// pending until it joins again with it); a static member (instance id,
// KIP-345) joins at once and replaces the member of its instance id. Other
// joins are parked until the rebalance answers them.
func (c *groupCoordinator) handleJoinGroup(cc *connInfo, req *kmsg.JoinGroupRequest, reply func(kmsg.Response)) {
	resp := req.ResponseKind().(*kmsg.JoinGroupResponse)
	fail := func(code int16) {
		resp.ErrorCode = code
		reply(resp)
	}
	if req.Group == "" {
		fail(kerr.InvalidGroupID.Code)
		return
	}
	if req.Version == 0 || req.RebalanceTimeoutMillis <= 0 {
		// v0 has no rebalance timeout: Kafka uses the session timeout.
		req.RebalanceTimeoutMillis = req.SessionTimeoutMillis
	}
	if st := time.Duration(req.SessionTimeoutMillis) * time.Millisecond; st < c.cfg.minSession || st > c.cfg.maxSession {
		fail(kerr.InvalidSessionTimeout.Code)
		return
	}
	g := c.groups[req.Group]
	isNew := g == nil
	if isNew {
		g = c.newGroup(req.Group)
	}
	if !g.protocolsMatch(req.ProtocolType, req.Protocols) {
		fail(kerr.InconsistentGroupProtocol.Code)
		return
	}
	// Membership is one kind at a time: live embedded members of the
	// same name keep Kafka members out.
	if err := g.claim(); err != nil {
		switch {
		case errors.Is(err, core.ErrGroupInUse):
			fail(kerr.InconsistentGroupProtocol.Code)
		case errors.Is(err, core.ErrInvalidGroup):
			fail(kerr.InvalidGroupID.Code)
		default:
			fail(kerr.CoordinatorNotAvailable.Code)
		}
		return
	}
	if isNew {
		c.groups[req.Group] = g
	}
	code := g.join(cc, req, resp, reply)
	if code != 0 {
		g.maybeForget()
		fail(code)
	}
}

// join runs a join on the group; a non-zero code is the answer, otherwise
// the join was answered or parked.
func (g *classicGroup) join(cc *connInfo, req *kmsg.JoinGroupRequest, resp *kmsg.JoinGroupResponse, reply func(kmsg.Response)) int16 {
	var clientID, host string
	if cc != nil {
		clientID, host = cc.ClientID, cc.Remote
	}
	if req.MemberID == "" {
		if req.InstanceID != nil {
			if old, ok := g.static[*req.InstanceID]; ok {
				g.replaceStatic(old, clientID, host, req, resp, reply)
				return 0
			}
		}
		if len(g.members)+len(g.pending) >= g.c.cfg.maxSize {
			return kerr.GroupMaxSizeReached.Code
		}
		m := &groupMember{id: newMemberID(clientID, req.InstanceID), instanceID: req.InstanceID, clientID: clientID, clientHost: host, join: req}
		if req.InstanceID != nil {
			g.static[*req.InstanceID] = m.id
		}
		if req.Version >= 4 && req.InstanceID == nil {
			// KIP-394: the client must come back with this id, so a
			// client that times out mid-join does not leave a ghost.
			g.addPending(m)
			resp.MemberID = m.id
			return kerr.MemberIDRequired.Code
		}
		g.addMember(m, req, reply)
		return 0
	}

	if code := g.checkInstance(req.InstanceID, req.MemberID); code != 0 {
		return code
	}
	if p := g.pending[req.MemberID]; p != nil {
		g.addMember(p, req, reply)
		return 0
	}
	m := g.members[req.MemberID]
	if m == nil {
		return kerr.UnknownMemberID.Code
	}
	switch g.state {
	case groupPreparingRebalance:
		g.updateMember(m, req, reply)
	case groupCompletingRebalance:
		if m.sameJoin(req) {
			// The answer was lost on the way: send it again.
			g.fillJoin(m.id, resp)
			reply(resp)
			return 0
		}
		g.updateMember(m, req, reply)
	case groupStable:
		if m.id != g.leader && m.sameJoin(req) {
			g.fillJoin(m.id, resp)
			reply(resp)
			g.touch(m)
			return 0
		}
		// The leader rejoining, or changed metadata: a new generation.
		g.updateMember(m, req, reply)
	default:
		return kerr.UnknownMemberID.Code
	}
	return 0
}

// replaceStatic serves a static member joining with an empty member id
// while its instance id is known (KIP-345): it gets a new member id, the
// old one is fenced (a parked call of it gets FENCED_INSTANCE_ID) and
// keeps its assignment. If nothing changed in a Stable group no rebalance
// happens; a leader is told to skip the assignment (v9, KIP-814) or, below
// v9, rebalances so it can assign.
func (g *classicGroup) replaceStatic(oldID, clientID, host string, req *kmsg.JoinGroupRequest, resp *kmsg.JoinGroupResponse, reply func(kmsg.Response)) {
	m := &groupMember{id: newMemberID(clientID, req.InstanceID), instanceID: req.InstanceID, clientID: clientID, clientHost: host, join: req}
	old := g.members[oldID]
	if old == nil {
		// The old id was pending or is gone: a fresh static join.
		if p := g.pending[oldID]; p != nil {
			g.dropPending(p)
		}
		g.static[*req.InstanceID] = m.id
		g.addMember(m, req, reply)
		return
	}
	m.assignment = old.assignment
	wasLeader := g.leader == oldID
	_, wasPendingSync := g.pendingSync[oldID]
	unchanged := old.sameJoin(req)
	g.removeMember(old, kerr.FencedInstanceID.Code)
	g.static[*req.InstanceID] = m.id
	g.members[m.id] = m
	g.addProtocols(m)
	if wasLeader {
		g.leader = m.id
	}
	if wasPendingSync {
		g.pendingSync[m.id] = struct{}{}
	}
	if g.state == groupStable && unchanged && (!wasLeader || req.Version >= 9) {
		g.fillJoin(m.id, resp)
		resp.SkipAssignment = wasLeader
		reply(resp)
		g.touch(m)
		g.persist() // the instance's new member id
		return
	}
	g.park(m, req, reply)
	g.rebalance()
}
