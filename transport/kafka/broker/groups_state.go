package broker

import (
	"bytes"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// groupState is a classic group's state, named as Kafka names it.
type groupState int8

const (
	groupEmpty groupState = iota
	groupPreparingRebalance
	groupCompletingRebalance
	groupStable
	groupDead
)

func (s groupState) String() string {
	switch s {
	case groupEmpty:
		return "Empty"
	case groupPreparingRebalance:
		return "PreparingRebalance"
	case groupCompletingRebalance:
		return "CompletingRebalance"
	case groupStable:
		return "Stable"
	}
	return "Dead"
}

// classicGroup is one classic consumer group. It is owned by the
// coordinator's loop.
//
// The rebalance: a join (or a leave, or a session timeout) moves the group
// to PreparingRebalance; once every member has rejoined, or the largest
// rebalance timeout of the members passes (members that did not rejoin are
// removed), the generation is bumped, a protocol is voted, every parked
// JoinGroup is answered (the leader gets the members' metadata) and the
// group is CompletingRebalance. The leader's SyncGroup carries the
// assignments; it answers the parked SyncGroups and the group is Stable.
// Members that never send SyncGroup within the rebalance timeout are
// removed (the sync barrier) and the group rebalances again.
type classicGroup struct {
	c    *groupCoordinator
	name string

	state        groupState
	generation   int32
	protocolType string         // fixed by the first member
	protocol     string         // voted at each rebalance
	protocols    map[string]int // protocol name -> members supporting it
	leader       string

	members  map[string]*groupMember // by member id
	pending  map[string]*groupMember // v4+ dynamic members told MEMBER_ID_REQUIRED
	static   map[string]string       // instance id -> member id
	nJoining int                     // members parked in JoinGroup

	tRebalance   *time.Timer
	pendingSync  map[string]struct{} // members yet to send SyncGroup this generation
	tPendingSync *time.Timer

	release func() // the bus claim, held while members or pending exist
}

// groupMember is one member of a classic group.
type groupMember struct {
	id         string
	instanceID *string
	clientID   string
	clientHost string

	join       *kmsg.JoinGroupRequest // the latest join
	waiting    *parkedCall            // a JoinGroup or SyncGroup awaiting the rebalance
	assignment []byte

	t *time.Timer // session timeout; stopped while a call is parked
	// session counts restarts of t: an expiry that was already queued
	// when a later heartbeat restarted the timer sees a newer count and
	// does nothing.
	session uint64
}

// parkedCall is a JoinGroup or SyncGroup answered when the rebalance gets
// there.
type parkedCall struct {
	req   kmsg.Request
	reply func(kmsg.Response)
}

func (c *groupCoordinator) newGroup(name string) *classicGroup {
	return &classicGroup{
		c: c, name: name,
		protocols: make(map[string]int),
		members:   make(map[string]*groupMember),
		pending:   make(map[string]*groupMember),
		static:    make(map[string]string),
	}
}

func newMemberID(clientID string, instanceID *string) string {
	prefix := clientID
	if instanceID != nil {
		prefix = *instanceID
	}
	return prefix + "-" + uuid.NewString()
}

// claim takes the bus's claim on the group name before its first member
// (or pending member) is added. It fails while the group has live
// embedded members.
func (g *classicGroup) claim() error {
	if g.release != nil {
		return nil
	}
	release, err := g.c.bus.ClaimGroup(g.name)
	if err != nil {
		return err
	}
	g.release = release
	return nil
}

// releaseClaim gives the name back once no member or pending member is
// left.
func (g *classicGroup) releaseClaim() {
	if g.release != nil && len(g.members) == 0 && len(g.pending) == 0 {
		g.release()
		g.release = nil
	}
}

// maybeForget drops an empty group that holds nothing worth listing: no
// members and no committed offsets.
func (g *classicGroup) maybeForget() {
	g.releaseClaim()
	if g.state != groupEmpty || len(g.members) > 0 || len(g.pending) > 0 {
		return
	}
	if len(g.c.bus.GroupOffsets(g.name)) > 0 {
		return
	}
	g.stopTimers()
	g.state = groupDead
	if g.c.groups[g.name] == g {
		delete(g.c.groups, g.name)
	}
}

func (g *classicGroup) stopTimers() {
	for _, m := range g.members {
		stopTimer(m.t)
	}
	for _, m := range g.pending {
		stopTimer(m.t)
	}
	stopTimer(g.tRebalance)
	stopTimer(g.tPendingSync)
}

func stopTimer(t *time.Timer) {
	if t != nil {
		t.Stop()
	}
}

// current reports whether g is still the group of its name: timer work
// for a deleted or replaced group does nothing.
func (g *classicGroup) current() bool { return g.c.groups[g.name] == g }

// protocolsMatch reports whether a join's protocols fit the group: the
// same protocol type, and at least one protocol every member supports.
func (g *classicGroup) protocolsMatch(protocolType string, protocols []kmsg.JoinGroupRequestProtocol) bool {
	if protocolType == "" || len(protocols) == 0 {
		return false
	}
	if len(g.members) == 0 {
		return true
	}
	if protocolType != g.protocolType {
		return false
	}
	for _, p := range protocols {
		if g.protocols[p.Name] == len(g.members) {
			return true
		}
	}
	return false
}

// sameJoin reports whether a rejoin carries the same protocols and
// metadata as the member's last join.
func (m *groupMember) sameJoin(req *kmsg.JoinGroupRequest) bool {
	if len(m.join.Protocols) != len(req.Protocols) {
		return false
	}
	for i, p := range m.join.Protocols {
		if p.Name != req.Protocols[i].Name || !bytes.Equal(p.Metadata, req.Protocols[i].Metadata) {
			return false
		}
	}
	return true
}

func (g *classicGroup) addProtocols(m *groupMember) {
	for _, p := range m.join.Protocols {
		g.protocols[p.Name]++
	}
}

func (g *classicGroup) dropProtocols(m *groupMember) {
	for _, p := range m.join.Protocols {
		if g.protocols[p.Name]--; g.protocols[p.Name] <= 0 {
			delete(g.protocols, p.Name)
		}
	}
}

// park holds a member's JoinGroup or SyncGroup until the rebalance answers
// it. A member with a parked call is alive: its session timer stops until
// the answer.
func (g *classicGroup) park(m *groupMember, req kmsg.Request, reply func(kmsg.Response)) {
	if m.waiting != nil {
		// A client sent a second call before the first was answered
		// (only a misbehaving one does): the first is superseded.
		g.answerParked(m, kerr.RebalanceInProgress.Code)
	}
	if _, isJoin := req.(*kmsg.JoinGroupRequest); isJoin {
		g.nJoining++
	}
	m.waiting = &parkedCall{req: req, reply: reply}
	stopTimer(m.t)
	m.session++
}

// answer replies to m's parked call with resp and restarts its session.
func (g *classicGroup) answer(m *groupMember, resp kmsg.Response) {
	w := m.waiting
	if w == nil {
		return
	}
	m.waiting = nil
	if _, isJoin := w.req.(*kmsg.JoinGroupRequest); isJoin {
		g.nJoining--
	}
	w.reply(resp)
	if g.members[m.id] == m {
		g.touch(m)
	}
}

// answerParked replies to m's parked call with an error code.
func (g *classicGroup) answerParked(m *groupMember, code int16) {
	if m.waiting == nil {
		return
	}
	resp := errorResponse(m.waiting.req, code)
	if jr, ok := resp.(*kmsg.JoinGroupResponse); ok {
		jr.MemberID = m.id
	}
	g.answer(m, resp)
}

// touch restarts m's session timer.
func (g *classicGroup) touch(m *groupMember) {
	stopTimer(m.t)
	m.session++
	session := m.session
	m.t = g.c.afterFunc(time.Duration(m.join.SessionTimeoutMillis)*time.Millisecond, func() {
		if !g.current() || g.members[m.id] != m || m.waiting != nil || m.session != session {
			return
		}
		g.c.log.Debug("member session expired", "group", g.name, "member", m.id)
		g.removeMember(m, kerr.UnknownMemberID.Code)
		g.rebalance()
	})
}

// addPending records a v4+ dynamic member told MEMBER_ID_REQUIRED; it
// expires after its session timeout unless it rejoins.
func (g *classicGroup) addPending(m *groupMember) {
	g.pending[m.id] = m
	m.t = g.c.afterFunc(time.Duration(m.join.SessionTimeoutMillis)*time.Millisecond, func() {
		if !g.current() || g.pending[m.id] != m {
			return
		}
		delete(g.pending, m.id)
		g.maybeForget()
	})
}

func (g *classicGroup) dropPending(m *groupMember) {
	delete(g.pending, m.id)
	stopTimer(m.t)
}

// removeMember takes m out of the group without rebalancing; a parked
// call gets code.
func (g *classicGroup) removeMember(m *groupMember, code int16) {
	if g.members[m.id] != m {
		return
	}
	g.answerParked(m, code)
	g.dropProtocols(m)
	delete(g.members, m.id)
	delete(g.pendingSync, m.id)
	if m.instanceID != nil && g.static[*m.instanceID] == m.id {
		delete(g.static, *m.instanceID)
	}
	stopTimer(m.t)
}

// addMember adds m with its join parked and rebalances.
func (g *classicGroup) addMember(m *groupMember, req *kmsg.JoinGroupRequest, reply func(kmsg.Response)) {
	g.dropPending(m)
	m.join = req
	if len(g.members) == 0 {
		g.protocolType = req.ProtocolType
	}
	g.members[m.id] = m
	g.addProtocols(m)
	g.park(m, req, reply)
	g.rebalance()
}

// updateMember replaces m's join with a new one, parks it and rebalances.
func (g *classicGroup) updateMember(m *groupMember, req *kmsg.JoinGroupRequest, reply func(kmsg.Response)) {
	g.dropProtocols(m)
	m.join = req
	g.addProtocols(m)
	g.park(m, req, reply)
	g.rebalance()
}

// maxRebalanceTimeout is the largest rebalance timeout of the members.
func (g *classicGroup) maxRebalanceTimeout() time.Duration {
	var max int32
	for _, m := range g.members {
		max = maxInt32(max, m.join.RebalanceTimeoutMillis)
	}
	return time.Duration(max) * time.Millisecond
}

func maxInt32(a, b int32) int32 {
	if a > b {
		return a
	}
	return b
}

// rebalance moves the group to PreparingRebalance: parked SyncGroups are
// told to rejoin, and the rebalance completes as soon as every member has
// rejoined, or when the largest rebalance timeout passes.
func (g *classicGroup) rebalance() {
	if g.state == groupCompletingRebalance {
		for _, m := range g.members {
			m.assignment = nil
			if m.waiting != nil {
				if _, isSync := m.waiting.req.(*kmsg.SyncGroupRequest); isSync {
					g.answerParked(m, kerr.RebalanceInProgress.Code)
				}
			}
		}
	}
	g.clearPendingSync()
	if len(g.members) == 0 {
		g.becomeEmpty()
		return
	}
	g.state = groupPreparingRebalance
	if g.nJoining >= len(g.members) {
		g.completeRebalance()
		return
	}
	stopTimer(g.tRebalance)
	gen := g.generation
	g.tRebalance = g.c.afterFunc(g.maxRebalanceTimeout(), func() {
		if !g.current() || g.generation != gen || g.state != groupPreparingRebalance {
			return
		}
		g.completeRebalance()
	})
}

// becomeEmpty ends the last generation once no member is left.
func (g *classicGroup) becomeEmpty() {
	stopTimer(g.tRebalance)
	g.clearPendingSync()
	if g.state != groupEmpty {
		g.generation++
	}
	g.state = groupEmpty
	g.leader = ""
	g.protocol = ""
	g.persist()
	g.maybeForget()
}

// completeRebalance removes the members that did not rejoin, starts the
// next generation and answers the parked joins.
func (g *classicGroup) completeRebalance() {
	if g.state != groupPreparingRebalance {
		return
	}
	stopTimer(g.tRebalance)
	g.tRebalance = nil
	for _, m := range g.members {
		if m.waiting == nil {
			g.removeMember(m, kerr.UnknownMemberID.Code)
		}
	}
	if len(g.members) == 0 {
		g.becomeEmpty()
		return
	}
	g.generation++
	if g.generation <= 0 {
		g.generation = 1
	}

	// Protocol voting: among the protocols every member supports, each
	// member votes for the first it lists; the most votes wins, ties to
	// the name first in order.
	votes := make(map[string]int)
	for _, m := range g.members {
		for _, p := range m.join.Protocols {
			if g.protocols[p.Name] == len(g.members) {
				votes[p.Name]++
				break
			}
		}
	}
	best, bestVotes := "", 0
	for name, v := range votes {
		if v > bestVotes || (v == bestVotes && name < best) {
			best, bestVotes = name, v
		}
	}
	if best == "" {
		// protocolsMatch admits only joins that share a protocol with
		// every member, so this cannot happen; if it does, nobody can be
		// assigned: every member is told and removed.
		g.c.log.Error("no protocol common to every member", "group", g.name)
		for _, m := range g.members {
			g.removeMember(m, kerr.InconsistentGroupProtocol.Code)
		}
		g.becomeEmpty()
		return
	}
	g.protocol = best
	if _, ok := g.members[g.leader]; !ok {
		g.leader = ""
		for id := range g.members {
			if g.leader == "" || id < g.leader {
				g.leader = id
			}
		}
	}
	g.state = groupCompletingRebalance
	g.pendingSync = make(map[string]struct{}, len(g.members))
	for _, m := range g.members {
		g.pendingSync[m.id] = struct{}{}
	}
	for _, m := range g.members {
		jreq, ok := m.waiting.req.(*kmsg.JoinGroupRequest)
		if !ok {
			// Only joins are parked while a rebalance prepares; a sync
			// cannot be, but if it were it must not wait forever.
			g.answerParked(m, kerr.RebalanceInProgress.Code)
			continue
		}
		resp := jreq.ResponseKind().(*kmsg.JoinGroupResponse)
		g.fillJoin(m.id, resp)
		g.answer(m, resp)
	}

	// The sync barrier: members that do not send SyncGroup within the
	// rebalance timeout are removed and the group rebalances again, also
	// when the leader's SyncGroup already made the group Stable.
	gen := g.generation
	g.tPendingSync = g.c.afterFunc(g.maxRebalanceTimeout(), func() {
		if !g.current() || g.generation != gen || (g.state != groupCompletingRebalance && g.state != groupStable) || len(g.pendingSync) == 0 {
			return
		}
		for id := range g.pendingSync {
			if m := g.members[id]; m != nil {
				g.c.log.Debug("member never synced; removed", "group", g.name, "member", id)
				g.removeMember(m, kerr.UnknownMemberID.Code)
			}
		}
		g.rebalance()
	})
}

func (g *classicGroup) clearPendingSync() {
	g.pendingSync = nil
	stopTimer(g.tPendingSync)
	g.tPendingSync = nil
}

// fillJoin fills a JoinGroup answer for member id; the leader also gets
// every member's metadata for the chosen protocol.
func (g *classicGroup) fillJoin(id string, resp *kmsg.JoinGroupResponse) {
	resp.Generation = g.generation
	resp.ProtocolType = kmsg.StringPtr(g.protocolType)
	resp.Protocol = kmsg.StringPtr(g.protocol)
	resp.LeaderID = g.leader
	resp.MemberID = id
	if id != g.leader {
		return
	}
	for _, m := range g.members {
		for _, p := range m.join.Protocols {
			if p.Name == g.protocol {
				jm := kmsg.NewJoinGroupResponseMember()
				jm.MemberID, jm.InstanceID, jm.ProtocolMetadata = m.id, m.instanceID, p.Metadata
				resp.Members = append(resp.Members, jm)
				break
			}
		}
	}
}

// completeSync stores the leader's assignments, answers every parked
// SyncGroup and makes the group Stable.
func (g *classicGroup) completeSync(req *kmsg.SyncGroupRequest) {
	for _, m := range g.members {
		m.assignment = nil
	}
	for _, a := range req.GroupAssignment {
		if m := g.members[a.MemberID]; m != nil {
			m.assignment = a.MemberAssignment
		}
	}
	g.state = groupStable
	g.persist()
	for _, m := range g.members {
		if m.waiting == nil {
			continue
		}
		if sr, ok := m.waiting.req.(*kmsg.SyncGroupRequest); ok {
			g.answer(m, g.syncResponse(sr, m))
		}
	}
}

// syncResponse is a successful SyncGroup answer for m.
func (g *classicGroup) syncResponse(req *kmsg.SyncGroupRequest, m *groupMember) *kmsg.SyncGroupResponse {
	resp := req.ResponseKind().(*kmsg.SyncGroupResponse)
	resp.ProtocolType = kmsg.StringPtr(g.protocolType)
	resp.Protocol = kmsg.StringPtr(g.protocol)
	resp.MemberAssignment = m.assignment
	if len(resp.MemberAssignment) == 0 && g.protocolType == "consumer" {
		// Some clients cannot decode an empty assignment; an encoded
		// empty consumer assignment means the same.
		resp.MemberAssignment = emptyConsumerAssignment
	}
	return resp
}

var emptyConsumerAssignment = func() []byte {
	a := kmsg.NewConsumerMemberAssignment()
	return a.AppendTo(nil)
}()

// checkInstance checks a static member's instance id against the member
// id the group knows for it.
func (g *classicGroup) checkInstance(instanceID *string, memberID string) int16 {
	if instanceID == nil {
		return 0
	}
	known, ok := g.static[*instanceID]
	switch {
	case !ok:
		return kerr.UnknownMemberID.Code
	case known != memberID:
		return kerr.FencedInstanceID.Code
	}
	return 0
}
