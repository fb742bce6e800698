package broker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/onexbus/onexbus/core"
)

// The full classic protocol for two dynamic members at the lowest and
// highest version of each key: MEMBER_ID_REQUIRED (v4+), a rebalance on a
// new member learnt through Heartbeat, the leader's assignments answered
// to a parked follower's SyncGroup, a leave, and the survivor's rejoin.
func TestGroupTwoMembersRebalanceAtMinAndMaxVersions(t *testing.T) {
	for _, v := range []struct{ join, sync, hb, leave int16 }{{0, 0, 0, 0}, {3, 2, 2, 2}, {4, 3, 3, 3}, {9, 5, 4, 5}} {
		t.Run(fmt.Sprintf("join_v%d", v.join), func(t *testing.T) {
			withCoordinator(t, func(t *testing.T, h *coordHarness) {
				id1, ch1, req1 := h.joinNew(v.join, "g")
				jr1 := h.done(req1, ch1).(*kmsg.JoinGroupResponse)
				wantCode(t, "join 1", jr1.ErrorCode, nil)
				if v.join < 4 {
					id1 = jr1.MemberID
				}
				if jr1.LeaderID != id1 || jr1.Generation != 1 || len(jr1.Members) != 1 {
					t.Fatalf("first join: %+v, want leader %s at generation 1 with 1 member", jr1, id1)
				}
				if jr1.MemberID != id1 {
					t.Fatalf("member id %q, want %q", jr1.MemberID, id1)
				}
				sr := h.call(syncReq(v.sync, "g", id1, 1, map[string][]byte{id1: []byte("all")})).(*kmsg.SyncGroupResponse)
				wantCode(t, "sync 1", sr.ErrorCode, nil)
				if string(sr.MemberAssignment) != "all" {
					t.Fatalf("assignment %q, want all", sr.MemberAssignment)
				}

				// A second member: parked until the first rejoins.
				id2, ch2, req2 := h.joinNew(v.join, "g")
				if r := h.done(req2, ch2); r != nil {
					t.Fatalf("second join answered before the first rejoined: %+v", r)
				}
				hb := h.call(heartbeat(v.hb, "g", id1, 1)).(*kmsg.HeartbeatResponse)
				wantCode(t, "heartbeat during the rebalance", hb.ErrorCode, kerr.RebalanceInProgress)
				ch1 = h.start(nil, joinReq(v.join, "g", id1, nil))
				jr1 = h.done(req1, ch1).(*kmsg.JoinGroupResponse)
				jr2 := h.done(req2, ch2).(*kmsg.JoinGroupResponse)
				wantCode(t, "rejoin 1", jr1.ErrorCode, nil)
				wantCode(t, "join 2", jr2.ErrorCode, nil)
				if v.join < 4 {
					id2 = jr2.MemberID
				}
				if jr1.Generation != 2 || jr2.Generation != 2 || jr1.LeaderID != id1 || jr2.LeaderID != id1 {
					t.Fatalf("generation %d/%d leader %s/%s, want 2 and %s", jr1.Generation, jr2.Generation, jr1.LeaderID, jr2.LeaderID, id1)
				}
				if len(jr1.Members) != 2 || len(jr2.Members) != 0 {
					t.Fatalf("leader got %d members, follower %d; want 2 and 0", len(jr1.Members), len(jr2.Members))
				}

				// The follower syncs first and waits for the leader.
				sreq2 := syncReq(v.sync, "g", id2, 2, nil)
				sch2 := h.start(nil, sreq2)
				if r := h.done(sreq2, sch2); r != nil {
					t.Fatalf("follower's sync answered before the leader's: %+v", r)
				}
				sr = h.call(syncReq(v.sync, "g", id1, 2, map[string][]byte{id1: []byte("p0"), id2: []byte("p1")})).(*kmsg.SyncGroupResponse)
				wantCode(t, "leader sync", sr.ErrorCode, nil)
				sr2 := h.done(sreq2, sch2).(*kmsg.SyncGroupResponse)
				wantCode(t, "follower sync", sr2.ErrorCode, nil)
				if string(sr.MemberAssignment) != "p0" || string(sr2.MemberAssignment) != "p1" {
					t.Fatalf("assignments %q and %q, want p0 and p1", sr.MemberAssignment, sr2.MemberAssignment)
				}
				wantCode(t, "heartbeat 2", h.call(heartbeat(v.hb, "g", id2, 2)).(*kmsg.HeartbeatResponse).ErrorCode, nil)

				// The follower leaves; the leader hears of it and rejoins alone.
				leave := kmsg.NewPtrLeaveGroupRequest()
				leave.Version, leave.Group = v.leave, "g"
				if v.leave >= 3 {
					leave.Members = []kmsg.LeaveGroupRequestMember{{MemberID: id2}}
				} else {
					leave.MemberID = id2
				}
				lr := h.call(leave).(*kmsg.LeaveGroupResponse)
				wantCode(t, "leave", lr.ErrorCode, nil)
				wantCode(t, "heartbeat after the leave", h.call(heartbeat(v.hb, "g", id1, 2)).(*kmsg.HeartbeatResponse).ErrorCode, kerr.RebalanceInProgress)
				jr1 = h.call(joinReq(v.join, "g", id1, nil)).(*kmsg.JoinGroupResponse)
				wantCode(t, "rejoin alone", jr1.ErrorCode, nil)
				if jr1.Generation != 3 || len(jr1.Members) != 1 {
					t.Fatalf("rejoin alone: generation %d with %d members, want 3 and 1", jr1.Generation, len(jr1.Members))
				}
			})
		})
	}
}

// A member that stops heartbeating is removed after its session timeout
// and the group rebalances without it.
func TestGroupSessionTimeoutRemovesMember(t *testing.T) {
	withCoordinator(t, func(t *testing.T, h *coordHarness) {
		id1, gen := h.stableGroup(9, "g")
		id2, ch2, req2 := h.joinNew(9, "g")
		ch1 := h.start(nil, joinReq(9, "g", id1, nil))
		h.done(req2, ch2)
		jr1 := h.done(joinReq(9, "g", id1, nil), ch1).(*kmsg.JoinGroupResponse)
		gen = jr1.Generation
		wantCode(t, "leader sync", h.call(syncReq(5, "g", id1, gen, nil)).(*kmsg.SyncGroupResponse).ErrorCode, nil)
		wantCode(t, "follower sync", h.call(syncReq(5, "g", id2, gen, nil)).(*kmsg.SyncGroupResponse).ErrorCode, nil)

		// id1 keeps heartbeating; id2 goes silent.
		for range 3 {
			time.Sleep(testSession / 2)
			code := h.call(heartbeat(4, "g", id1, gen)).(*kmsg.HeartbeatResponse).ErrorCode
			if code == kerr.RebalanceInProgress.Code {
				break
			}
			wantCode(t, "heartbeat", code, nil)
		}
		wantCode(t, "heartbeat after the session timeout", h.call(heartbeat(4, "g", id1, gen)).(*kmsg.HeartbeatResponse).ErrorCode, kerr.RebalanceInProgress)
		wantCode(t, "silent member's heartbeat", h.call(heartbeat(4, "g", id2, gen)).(*kmsg.HeartbeatResponse).ErrorCode, kerr.UnknownMemberID)
		jr := h.call(joinReq(9, "g", id1, nil)).(*kmsg.JoinGroupResponse)
		if jr.ErrorCode != 0 || len(jr.Members) != 1 {
			t.Fatalf("rejoin: %v with %d members, want 1", kerr.ErrorForCode(jr.ErrorCode), len(jr.Members))
		}
	})
}

// A member that does not rejoin within the rebalance timeout is dropped,
// and the joins that came are answered.
func TestGroupRebalanceTimeoutDropsMembersThatDoNotRejoin(t *testing.T) {
	withCoordinator(t, func(t *testing.T, h *coordHarness) {
		id1, _ := h.stableGroup(9, "g")
		id2, ch2, req2 := h.joinNew(9, "g")
		// id1 heartbeats (so its session holds) but never rejoins.
		for range 3 {
			time.Sleep(testSession / 2)
			wantCode(t, "heartbeat", h.call(heartbeat(4, "g", id1, 1)).(*kmsg.HeartbeatResponse).ErrorCode, kerr.RebalanceInProgress)
		}
		time.Sleep(testRebalance - 3*testSession/2 - time.Millisecond)
		if r := h.done(req2, ch2); r != nil {
			t.Fatalf("join answered before the rebalance timeout: %+v", r)
		}
		wantCode(t, "heartbeat", h.call(heartbeat(4, "g", id1, 1)).(*kmsg.HeartbeatResponse).ErrorCode, kerr.RebalanceInProgress)
		time.Sleep(2 * time.Millisecond)
		jr := h.done(req2, ch2).(*kmsg.JoinGroupResponse)
		wantCode(t, "join after the timeout", jr.ErrorCode, nil)
		if jr.LeaderID != id2 || len(jr.Members) != 1 || jr.Generation != 2 {
			t.Fatalf("after the timeout: leader %s, %d members, generation %d; want %s alone at 2", jr.LeaderID, len(jr.Members), jr.Generation, id2)
		}
		wantCode(t, "dropped member's heartbeat", h.call(heartbeat(4, "g", id1, 1)).(*kmsg.HeartbeatResponse).ErrorCode, kerr.UnknownMemberID)
	})
}

// The sync barrier: a member that got its JoinGroup answer but never
// sends SyncGroup is removed after the rebalance timeout, even though the
// leader's SyncGroup made the group Stable.
func TestGroupSyncBarrierRemovesMembersThatNeverSync(t *testing.T) {
	withCoordinator(t, func(t *testing.T, h *coordHarness) {
		id1, _ := h.stableGroup(9, "g")
		id2, ch2, req2 := h.joinNew(9, "g")
		ch1 := h.start(nil, joinReq(9, "g", id1, nil))
		jr1 := h.done(joinReq(9, "g", id1, nil), ch1).(*kmsg.JoinGroupResponse)
		h.done(req2, ch2)
		wantCode(t, "leader sync", h.call(syncReq(5, "g", id1, jr1.Generation, nil)).(*kmsg.SyncGroupResponse).ErrorCode, nil)
		// id2 heartbeats (its session holds) but never syncs.
		for range 4 {
			time.Sleep(testRebalance/4 - time.Millisecond)
			wantCode(t, "leader heartbeat", h.call(heartbeat(4, "g", id1, jr1.Generation)).(*kmsg.HeartbeatResponse).ErrorCode, nil)
			wantCode(t, "unsynced member heartbeat", h.call(heartbeat(4, "g", id2, jr1.Generation)).(*kmsg.HeartbeatResponse).ErrorCode, nil)
		}
		time.Sleep(5 * time.Millisecond)
		wantCode(t, "leader heartbeat", h.call(heartbeat(4, "g", id1, jr1.Generation)).(*kmsg.HeartbeatResponse).ErrorCode, kerr.RebalanceInProgress)
		wantCode(t, "unsynced member", h.call(heartbeat(4, "g", id2, jr1.Generation)).(*kmsg.HeartbeatResponse).ErrorCode, kerr.UnknownMemberID)
	})
}

// Generations and member ids are checked on Heartbeat, SyncGroup and
// OffsetCommit.
func TestGroupGenerationChecks(t *testing.T) {
	withCoordinator(t, func(t *testing.T, h *coordHarness) {
		h.publish(2)
		id, gen := h.stableGroup(9, "g")
		wantCode(t, "heartbeat old generation", h.call(heartbeat(4, "g", id, gen-1)).(*kmsg.HeartbeatResponse).ErrorCode, kerr.IllegalGeneration)
		wantCode(t, "heartbeat unknown member", h.call(heartbeat(4, "g", "nobody", gen)).(*kmsg.HeartbeatResponse).ErrorCode, kerr.UnknownMemberID)
		wantCode(t, "heartbeat unknown group", h.call(heartbeat(4, "other", id, gen)).(*kmsg.HeartbeatResponse).ErrorCode, kerr.UnknownMemberID)
		wantCode(t, "heartbeat empty group id", h.call(heartbeat(4, "", id, gen)).(*kmsg.HeartbeatResponse).ErrorCode, kerr.InvalidGroupID)
		wantCode(t, "sync old generation", h.call(syncReq(5, "g", id, gen+1, nil)).(*kmsg.SyncGroupResponse).ErrorCode, kerr.IllegalGeneration)
		wantCode(t, "sync unknown member", h.call(syncReq(5, "g", "nobody", gen, nil)).(*kmsg.SyncGroupResponse).ErrorCode, kerr.UnknownMemberID)
		bad := syncReq(5, "g", id, gen, nil)
		bad.Protocol = kmsg.StringPtr("roundrobin")
		wantCode(t, "sync other protocol", h.call(bad).(*kmsg.SyncGroupResponse).ErrorCode, kerr.InconsistentGroupProtocol)
		commitCode := func(req *kmsg.OffsetCommitRequest) int16 {
			return h.call(req).(*kmsg.OffsetCommitResponse).Topics[0].Partitions[0].ErrorCode
		}
		wantCode(t, "commit old generation", commitCode(commitReq(8, "g", id, gen-1, 0, 1, nil)), kerr.IllegalGeneration)
		wantCode(t, "commit unknown member", commitCode(commitReq(8, "g", "nobody", gen, 0, 1, nil)), kerr.UnknownMemberID)
		wantCode(t, "simple commit while members are live", commitCode(commitReq(8, "g", "", -1, 0, 1, nil)), kerr.UnknownMemberID)
		wantCode(t, "member commit", commitCode(commitReq(8, "g", id, gen, 0, 1, nil)), nil)
	})
}

// Protocol voting: among the protocols every member supports, each votes
// for its first; a join with no protocol in common, or another protocol
// type, is refused.
func TestGroupProtocolVoting(t *testing.T) {
	withCoordinator(t, func(t *testing.T, h *coordHarness) {
		joins := [][]string{{"range", "roundrobin", "sticky"}, {"roundrobin", "range"}, {"sticky", "roundrobin", "range"}, {"roundrobin", "range", "sticky"}}
		var chans []<-chan kmsg.Response
		var reqs []*kmsg.JoinGroupRequest
		for _, ps := range joins {
			_, ch, req := h.joinNew(9, "g", ps...)
			chans, reqs = append(chans, ch), append(reqs, req)
		}
		// The first member completed generation 1 alone; it rejoins so
		// that all four make generation 2.
		first := h.done(reqs[0], chans[0]).(*kmsg.JoinGroupResponse)
		chans[0] = h.start(nil, joinReq(9, "g", first.MemberID, nil, joins[0]...))
		for i := range chans {
			jr := h.done(reqs[i], chans[i]).(*kmsg.JoinGroupResponse)
			wantCode(t, "join", jr.ErrorCode, nil)
			// sticky is not supported by member 2, so the candidates are
			// range and roundrobin; the first candidate of each member:
			// range, roundrobin, roundrobin, roundrobin.
			if *jr.Protocol != "roundrobin" {
				t.Fatalf("member %d got protocol %q, want roundrobin", i, *jr.Protocol)
			}
		}
		noCommon := joinReq(9, "g", "", nil, "cooperative-sticky")
		wantCode(t, "join with no protocol in common", h.call(noCommon).(*kmsg.JoinGroupResponse).ErrorCode, kerr.InconsistentGroupProtocol)
		otherType := joinReq(9, "g", "", nil, "range")
		otherType.ProtocolType = "connect"
		wantCode(t, "join of another protocol type", h.call(otherType).(*kmsg.JoinGroupResponse).ErrorCode, kerr.InconsistentGroupProtocol)
		empty := joinReq(9, "g2", "", nil)
		empty.Protocols = nil
		wantCode(t, "join without protocols", h.call(empty).(*kmsg.JoinGroupResponse).ErrorCode, kerr.InconsistentGroupProtocol)
		long := joinReq(9, strings.Repeat("g", 256), "", nil)
		wantCode(t, "join of a group name over 255 bytes", h.call(long).(*kmsg.JoinGroupResponse).ErrorCode, kerr.InvalidGroupID)
		nul := joinReq(9, "a\x00b", "", nil)
		wantCode(t, "join of a group name with NUL", h.call(nul).(*kmsg.JoinGroupResponse).ErrorCode, kerr.InvalidGroupID)
		short := joinReq(9, "g2", "", nil)
		short.SessionTimeoutMillis = 10
		wantCode(t, "join with a too short session", h.call(short).(*kmsg.JoinGroupResponse).ErrorCode, kerr.InvalidSessionTimeout)
	})
}

// Static members (KIP-345) join at once without MEMBER_ID_REQUIRED; a
// restart of the same instance replaces its member id without a
// rebalance, and the old id is fenced.
func TestGroupStaticMemberReplacesOldID(t *testing.T) {
	withCoordinator(t, func(t *testing.T, h *coordHarness) {
		inst := kmsg.StringPtr("instance-a")
		jr := h.call(joinReq(9, "g", "", inst)).(*kmsg.JoinGroupResponse)
		wantCode(t, "static join", jr.ErrorCode, nil)
		old, gen := jr.MemberID, jr.Generation
		if !strings.HasPrefix(old, "instance-a-") {
			t.Fatalf("static member id %q, want the instance id as prefix", old)
		}
		sreq := syncReq(5, "g", old, gen, map[string][]byte{old: []byte("mine")})
		sreq.InstanceID = inst
		wantCode(t, "sync", h.call(sreq).(*kmsg.SyncGroupResponse).ErrorCode, nil)

		// The instance restarts: same instance id, no member id.
		jr = h.call(joinReq(9, "g", "", inst)).(*kmsg.JoinGroupResponse)
		wantCode(t, "static rejoin", jr.ErrorCode, nil)
		if jr.MemberID == old || jr.Generation != gen || !jr.SkipAssignment {
			t.Fatalf("rejoin: member %s generation %d skip %v; want a new id, generation %d, skip assignment", jr.MemberID, jr.Generation, jr.SkipAssignment, gen)
		}
		hb := heartbeat(4, "g", old, gen)
		hb.InstanceID = inst
		wantCode(t, "old id's heartbeat", h.call(hb).(*kmsg.HeartbeatResponse).ErrorCode, kerr.FencedInstanceID)
		hb = heartbeat(4, "g", jr.MemberID, gen)
		hb.InstanceID = inst
		wantCode(t, "new id's heartbeat", h.call(hb).(*kmsg.HeartbeatResponse).ErrorCode, nil)
		sreq = syncReq(5, "g", jr.MemberID, gen, nil)
		sreq.InstanceID = inst
		sr := h.call(sreq).(*kmsg.SyncGroupResponse)
		if sr.ErrorCode != 0 || string(sr.MemberAssignment) != "mine" {
			t.Fatalf("new id's sync: %v %q, want the old assignment", kerr.ErrorForCode(sr.ErrorCode), sr.MemberAssignment)
		}

		// LeaveGroup v3+ by instance id, in a batch with an unknown one.
		leave := kmsg.NewPtrLeaveGroupRequest()
		leave.Version, leave.Group = 5, "g"
		leave.Members = []kmsg.LeaveGroupRequestMember{{InstanceID: inst}, {InstanceID: kmsg.StringPtr("nobody")}}
		lr := h.call(leave).(*kmsg.LeaveGroupResponse)
		if len(lr.Members) != 2 || lr.Members[0].ErrorCode != 0 || lr.Members[1].ErrorCode != kerr.UnknownMemberID.Code {
			t.Fatalf("batch leave: %+v, want ok and UNKNOWN_MEMBER_ID", lr.Members)
		}
		dr := h.call(describeReq(5, "g")).(*kmsg.DescribeGroupsResponse)
		// No member and no offset left: the group is gone, as Kafka drops
		// an empty group without offsets.
		if dr.Groups[0].State != "Dead" || len(dr.Groups[0].Members) != 0 {
			t.Fatalf("after the leave: %+v, want Dead", dr.Groups[0])
		}
	})
}

// Offsets: durable commits that may move backwards, metadata that
// round-trips, simple commits only while the group has no members, and
// OffsetFetch of named partitions or, with null topics, of all.
func TestGroupOffsetCommitAndFetch(t *testing.T) {
	withCoordinator(t, func(t *testing.T, h *coordHarness) {
		h.publish(5)
		for _, v := range []int16{1, 2, 7, 8} {
			md := kmsg.StringPtr(fmt.Sprintf("md-v%d", v))
			cr := h.call(commitReq(v, "simple", "", -1, 1, 4, md)).(*kmsg.OffsetCommitResponse)
			wantCode(t, "simple commit", cr.Topics[0].Partitions[0].ErrorCode, nil)
			cr = h.call(commitReq(v, "simple", "", -1, 1, 2, md)).(*kmsg.OffsetCommitResponse) // backwards: a seek
			wantCode(t, "backwards commit", cr.Topics[0].Partitions[0].ErrorCode, nil)
			for _, fv := range []int16{1, 5, 7} {
				fr := h.call(fetchReq(fv, "simple", 1, 2)).(*kmsg.OffsetFetchResponse)
				ps := fr.Topics[0].Partitions
				if ps[0].Offset != 2 || ps[0].Metadata == nil || *ps[0].Metadata != *md || ps[1].Offset != -1 {
					t.Fatalf("commit v%d fetch v%d: %+v, want offset 2 with %q and -1", v, fv, ps, *md)
				}
				if fv >= 5 && ps[0].LeaderEpoch != map[bool]int32{true: 0, false: -1}[v >= 6] {
					t.Fatalf("commit v%d fetch v%d: leader epoch %d", v, fv, ps[0].LeaderEpoch)
				}
			}
		}
		fr := h.call(fetchReq(7, "simple")).(*kmsg.OffsetFetchResponse) // null topics: all
		if len(fr.Topics) != 1 || len(fr.Topics[0].Partitions) != 1 || fr.Topics[0].Partitions[0].Partition != 1 {
			t.Fatalf("fetch of all: %+v, want t/1", fr.Topics)
		}
		off, ok, err := h.bus.GroupOffset("simple", "t", 1)
		if err != nil || !ok || off.Offset != 2 {
			t.Fatalf("bus sees %+v %v %v, want offset 2: one offset space", off, ok, err)
		}

		req := commitReq(8, "simple", "", -1, 7, 1, nil)
		wantCode(t, "unknown partition", h.call(req).(*kmsg.OffsetCommitResponse).Topics[0].Partitions[0].ErrorCode, kerr.UnknownTopicOrPartition)
		req = commitReq(8, "simple", "", -1, 0, 1, kmsg.StringPtr(strings.Repeat("m", maxCommitMetadata+1)))
		wantCode(t, "metadata too large", h.call(req).(*kmsg.OffsetCommitResponse).Topics[0].Partitions[0].ErrorCode, kerr.OffsetMetadataTooLarge)
		req = commitReq(8, "simple", "", -1, 0, 99, nil)
		wantCode(t, "offset past the end", h.call(req).(*kmsg.OffsetCommitResponse).Topics[0].Partitions[0].ErrorCode, kerr.OffsetOutOfRange)
		req = commitReq(8, "simple", "", -1, 0, 1, nil)
		req.Topics[0].Topic = "missing"
		wantCode(t, "unknown topic", h.call(req).(*kmsg.OffsetCommitResponse).Topics[0].Partitions[0].ErrorCode, kerr.UnknownTopicOrPartition)
		wantCode(t, "generation on an empty group", h.call(commitReq(8, "simple", "m", 3, 0, 1, nil)).(*kmsg.OffsetCommitResponse).Topics[0].Partitions[0].ErrorCode, kerr.UnknownMemberID)

		// v0: no generation at all.
		cr := h.call(commitReq(0, "v0", "", 0, 0, 3, nil)).(*kmsg.OffsetCommitResponse)
		wantCode(t, "v0 commit", cr.Topics[0].Partitions[0].ErrorCode, nil)
	})
}

// Membership is one kind at a time: a JoinGroup for a group with live
// embedded members is refused with INCONSISTENT_GROUP_PROTOCOL, and
// Subscribe on a group with Kafka members fails with ErrGroupInUse until
// they leave.
func TestGroupOneKindOfMembershipAtATime(t *testing.T) {
	withCoordinator(t, func(t *testing.T, h *coordHarness) {
		ctx := context.Background()
		sub, err := h.bus.Subscribe(ctx, "t", "embedded", func(context.Context, *core.Message) error { return nil })
		if err != nil {
			t.Fatal(err)
		}
		wantCode(t, "join of an embedded group", h.call(joinReq(9, "embedded", "", nil)).(*kmsg.JoinGroupResponse).ErrorCode, kerr.InconsistentGroupProtocol)
		wantCode(t, "static join of an embedded group", h.call(joinReq(9, "embedded", "", kmsg.StringPtr("i"))).(*kmsg.JoinGroupResponse).ErrorCode, kerr.InconsistentGroupProtocol)
		wantCode(t, "simple commit to an embedded group", h.call(commitReq(8, "embedded", "", -1, 0, 0, nil)).(*kmsg.OffsetCommitResponse).Topics[0].Partitions[0].ErrorCode, kerr.UnknownMemberID)
		if err := sub.Unsubscribe(ctx); err != nil {
			t.Fatal(err)
		}

		id, _ := h.stableGroup(9, "embedded")
		if _, err := h.bus.Subscribe(ctx, "t", "embedded", func(context.Context, *core.Message) error { return nil }); !errors.Is(err, core.ErrGroupInUse) {
			t.Fatalf("subscribe with Kafka members: %v, want ErrGroupInUse", err)
		}
		// A pending member (MEMBER_ID_REQUIRED) holds the group too.
		leave := kmsg.NewPtrLeaveGroupRequest()
		leave.Version, leave.Group, leave.Members = 5, "embedded", []kmsg.LeaveGroupRequestMember{{MemberID: id}}
		wantCode(t, "leave", h.call(leave).(*kmsg.LeaveGroupResponse).Members[0].ErrorCode, nil)
		if _, err := h.bus.Subscribe(ctx, "t", "embedded", func(context.Context, *core.Message) error { return nil }); err != nil {
			t.Fatalf("subscribe after the Kafka members left: %v", err)
		}
	})
}

func describeReq(v int16, groups ...string) *kmsg.DescribeGroupsRequest {
	req := kmsg.NewPtrDescribeGroupsRequest()
	req.Version, req.Groups = v, groups
	return req
}

// ListGroups and DescribeGroups show classic groups, embedded groups
// (protocol type onexbus, members synthesised from subscriptions) and
// groups known only by their offsets.
func TestGroupListAndDescribeIncludeEmbeddedGroups(t *testing.T) {
	withCoordinator(t, func(t *testing.T, h *coordHarness) {
		ctx := context.Background()
		h.publish(1)
		if _, err := h.bus.Subscribe(ctx, "t", "embedded", func(context.Context, *core.Message) error { return nil }); err != nil {
			t.Fatal(err)
		}
		id, _ := h.stableGroup(9, "classic")
		wantCode(t, "simple commit", h.call(commitReq(8, "offsets-only", "", -1, 0, 1, nil)).(*kmsg.OffsetCommitResponse).Topics[0].Partitions[0].ErrorCode, nil)

		for _, v := range []int16{0, 4} {
			lr := h.call(&kmsg.ListGroupsRequest{Version: v}).(*kmsg.ListGroupsResponse)
			got := map[string]string{}
			for _, g := range lr.Groups {
				got[g.Group] = g.ProtocolType + "/" + g.GroupState
			}
			want := map[string]string{"classic": "consumer/Stable", "embedded": "onexbus/Stable", "offsets-only": "/Empty"}
			if v < 4 {
				want = map[string]string{"classic": "consumer/", "embedded": "onexbus/", "offsets-only": "/"}
			}
			for name, w := range want {
				if got[name] != w {
					t.Errorf("ListGroups v%d: %s is %q, want %q (all: %v)", v, name, got[name], w, got)
				}
			}
		}
		lr := h.call(&kmsg.ListGroupsRequest{Version: 4, StatesFilter: []string{"empty"}}).(*kmsg.ListGroupsResponse)
		if len(lr.Groups) != 1 || lr.Groups[0].Group != "offsets-only" {
			t.Fatalf("ListGroups filtered on Empty: %+v", lr.Groups)
		}

		for _, v := range []int16{0, 5} {
			dr := h.call(describeReq(v, "embedded", "classic", "offsets-only", "missing")).(*kmsg.DescribeGroupsResponse)
			eg, cg, og, mg := dr.Groups[0], dr.Groups[1], dr.Groups[2], dr.Groups[3]
			if eg.ProtocolType != "onexbus" || eg.State != "Stable" || len(eg.Members) != 1 {
				t.Fatalf("embedded group: %+v", eg)
			}
			var assign kmsg.ConsumerMemberAssignment
			if err := assign.ReadFrom(eg.Members[0].MemberAssignment); err != nil || len(assign.Topics) != 1 || len(assign.Topics[0].Partitions) != 3 {
				t.Fatalf("embedded member assignment %+v (%v), want t with 3 partitions", assign, err)
			}
			if cg.ProtocolType != "consumer" || cg.State != "Stable" || cg.Protocol != "range" || len(cg.Members) != 1 || cg.Members[0].MemberID != id || cg.Members[0].ClientID != "test" {
				t.Fatalf("classic group: %+v", cg)
			}
			if og.State != "Empty" || og.ErrorCode != 0 {
				t.Fatalf("offsets-only group: %+v", og)
			}
			if mg.State != "Dead" {
				t.Fatalf("unknown group: %+v", mg)
			}
		}
	})
}

// DeleteGroups removes a group without members with its offsets; groups
// with members of either kind are NON_EMPTY_GROUP, unknown ones
// GROUP_ID_NOT_FOUND. OffsetDelete spares subscribed topics.
func TestGroupDeleteGroupsAndOffsetDelete(t *testing.T) {
	withCoordinator(t, func(t *testing.T, h *coordHarness) {
		ctx := context.Background()
		h.publish(2)
		if _, err := h.bus.Subscribe(ctx, "t", "embedded", func(context.Context, *core.Message) error { return nil }); err != nil {
			t.Fatal(err)
		}
		id, gen := h.stableGroup(9, "classic")
		wantCode(t, "member commit", h.call(commitReq(8, "classic", id, gen, 0, 1, nil)).(*kmsg.OffsetCommitResponse).Topics[0].Partitions[0].ErrorCode, nil)
		wantCode(t, "simple commit", h.call(commitReq(8, "idle", "", -1, 0, 1, nil)).(*kmsg.OffsetCommitResponse).Topics[0].Partitions[0].ErrorCode, nil)

		od := &kmsg.OffsetDeleteRequest{Group: "classic", Topics: []kmsg.OffsetDeleteRequestTopic{{Topic: "t", Partitions: []kmsg.OffsetDeleteRequestTopicPartition{{Partition: 0}}}}}
		odr := h.call(od).(*kmsg.OffsetDeleteResponse)
		wantCode(t, "offset delete of a subscribed topic", odr.Topics[0].Partitions[0].ErrorCode, kerr.GroupSubscribedToTopic)
		od.Group = "embedded"
		wantCode(t, "offset delete on an embedded group", h.call(od).(*kmsg.OffsetDeleteResponse).ErrorCode, kerr.NonEmptyGroup)
		od.Group = "missing"
		wantCode(t, "offset delete on an unknown group", h.call(od).(*kmsg.OffsetDeleteResponse).ErrorCode, kerr.GroupIDNotFound)

		for _, v := range []int16{0, 2} {
			dr := h.call(&kmsg.DeleteGroupsRequest{Version: v, Groups: []string{"classic", "embedded", "missing"}}).(*kmsg.DeleteGroupsResponse)
			wantCode(t, "delete classic with members", dr.Groups[0].ErrorCode, kerr.NonEmptyGroup)
			wantCode(t, "delete embedded with members", dr.Groups[1].ErrorCode, kerr.NonEmptyGroup)
			wantCode(t, "delete unknown", dr.Groups[2].ErrorCode, kerr.GroupIDNotFound)
		}
		od.Group = "idle"
		wantCode(t, "offset delete on an idle group", h.call(od).(*kmsg.OffsetDeleteResponse).Topics[0].Partitions[0].ErrorCode, nil)
		if _, ok, _ := h.bus.GroupOffset("idle", "t", 0); ok {
			t.Fatal("offset still there after OffsetDelete")
		}

		leave := kmsg.NewPtrLeaveGroupRequest()
		leave.Version, leave.Group, leave.Members = 5, "classic", []kmsg.LeaveGroupRequestMember{{MemberID: id}}
		h.call(leave)
		dr := h.call(&kmsg.DeleteGroupsRequest{Version: 2, Groups: []string{"classic"}}).(*kmsg.DeleteGroupsResponse)
		wantCode(t, "delete of the emptied group", dr.Groups[0].ErrorCode, nil)
		if offs := h.bus.GroupOffsets("classic"); len(offs) != 0 {
			t.Fatalf("offsets after DeleteGroups: %+v", offs)
		}
		lr := h.call(&kmsg.ListGroupsRequest{Version: 4}).(*kmsg.ListGroupsResponse)
		for _, g := range lr.Groups {
			if g.Group == "classic" {
				t.Fatalf("deleted group still listed: %+v", g)
			}
		}
	})
}

// close answers parked joins and syncs with REBALANCE_IN_PROGRESS, and
// later requests with COORDINATOR_NOT_AVAILABLE.
func TestGroupCoordinatorCloseAnswersParkedCalls(t *testing.T) {
	withCoordinator(t, func(t *testing.T, h *coordHarness) {
		h.stableGroup(9, "g")
		_, ch, req := h.joinNew(9, "g")
		if r := h.done(req, ch); r != nil {
			t.Fatalf("join not parked: %+v", r)
		}
		h.c.close()
		h.c.close() // idempotent
		jr := h.done(req, ch).(*kmsg.JoinGroupResponse)
		wantCode(t, "parked join at close", jr.ErrorCode, kerr.RebalanceInProgress)
		wantCode(t, "heartbeat after close", h.call(heartbeat(4, "g", "x", 1)).(*kmsg.HeartbeatResponse).ErrorCode, kerr.CoordinatorNotAvailable)
	})
}

// Classic group metadata and offsets survive a restart: a member of the
// restarted coordinator heartbeats and commits in its generation, the
// group is Stable with its assignment, and a member that does not come
// back expires after its session timeout.
func TestGroupRestartRestoresMembersAndOffsets(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		open := func() *coordHarness {
			bus, err := core.New(core.WithDataDir(dir))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := bus.CreateTopic(context.Background(), "t", core.TopicConfig{Partitions: 3}); err != nil {
				t.Fatal(err)
			}
			return &coordHarness{t: t, bus: bus, c: newGroupCoordinator(bus, defaultGroupConfig(), nil)}
		}
		shut := func(h *coordHarness) {
			h.c.close()
			if err := h.bus.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
		h := open()
		h.publish(3)
		id, gen := h.stableGroup(9, "g")
		cr := h.call(commitReq(8, "g", id, gen, 2, 3, kmsg.StringPtr("before restart"))).(*kmsg.OffsetCommitResponse)
		wantCode(t, "commit", cr.Topics[0].Partitions[0].ErrorCode, nil)
		shut(h)

		h = open()
		defer shut(h)
		wantCode(t, "heartbeat after restart", h.call(heartbeat(4, "g", id, gen)).(*kmsg.HeartbeatResponse).ErrorCode, nil)
		cr = h.call(commitReq(8, "g", id, gen, 2, 3, kmsg.StringPtr("after restart"))).(*kmsg.OffsetCommitResponse)
		wantCode(t, "commit after restart", cr.Topics[0].Partitions[0].ErrorCode, nil)
		p := h.call(fetchReq(7, "g", 2)).(*kmsg.OffsetFetchResponse).Topics[0].Partitions[0]
		if p.Offset != 3 || p.LeaderEpoch != 0 || p.Metadata == nil || *p.Metadata != "after restart" {
			t.Fatalf("offset after restart: %+v, want 3 with its epoch and metadata", p)
		}
		dg := h.call(describeReq(5, "g")).(*kmsg.DescribeGroupsResponse).Groups[0]
		if dg.State != "Stable" || len(dg.Members) != 1 || dg.Members[0].MemberID != id || string(dg.Members[0].MemberAssignment) != "a" {
			t.Fatalf("group after restart: %+v, want Stable with %s holding its assignment", dg, id)
		}
		sr := h.call(syncReq(5, "g", id, gen, nil)).(*kmsg.SyncGroupResponse)
		if sr.ErrorCode != 0 || string(sr.MemberAssignment) != "a" {
			t.Fatalf("sync after restart: %v %q", kerr.ErrorForCode(sr.ErrorCode), sr.MemberAssignment)
		}
		if _, err := h.bus.Subscribe(context.Background(), "t", "g", func(context.Context, *core.Message) error { return nil }); !errors.Is(err, core.ErrGroupInUse) {
			t.Fatalf("subscribe to a restored group: %v, want ErrGroupInUse", err)
		}

		// The member does not come back: it expires, the group empties and
		// its stored metadata goes.
		time.Sleep(testSession + time.Second)
		synctest.Wait()
		time.Sleep(testRebalance + time.Second)
		synctest.Wait()
		dg = h.call(describeReq(5, "g")).(*kmsg.DescribeGroupsResponse).Groups[0]
		if dg.State != "Empty" {
			t.Fatalf("after the session timeout: %+v, want Empty", dg)
		}
	})
}

// A stored group that cannot be restored (damaged, inconsistent) is
// dropped with a warning: its members rejoin.
func TestGroupRestoreDropsBadSnapshots(t *testing.T) {
	withCoordinator(t, func(t *testing.T, h *coordHarness) {
		for name, data := range map[string]string{
			"garbage":   "{not json",
			"no-leader": `{"v":1,"protocol_type":"consumer","protocol":"range","leader":"x","generation":3,"members":[{"id":"m","session_timeout_ms":10000,"protocols":[{"name":"range"}]}]}`,
			"empty":     `{"v":1,"protocol_type":"consumer","protocol":"range","leader":"m","generation":3,"members":[]}`,
		} {
			if err := h.bus.SaveGroupMetadata(name, []byte(data)); err != nil {
				t.Fatal(err)
			}
		}
		c := newGroupCoordinator(h.bus, defaultGroupConfig(), nil)
		resp := make(chan kmsg.Response, 1)
		c.handle(nil, &kmsg.ListGroupsRequest{Version: 4}, func(r kmsg.Response) { resp <- r })
		synctest.Wait()
		if lg := (<-resp).(*kmsg.ListGroupsResponse); len(lg.Groups) != 0 {
			t.Fatalf("bad snapshots restored: %+v", lg.Groups)
		}
		c.close()
		stored, err := h.bus.GroupMetadata()
		if err != nil || len(stored) != 0 {
			t.Fatalf("bad snapshots kept: %v %v", stored, err)
		}
	})
}

// OffsetCommit is answered only once the offsets are in the store: a copy
// of the bbolt file taken right after the reply (nothing else runs) holds
// them, metadata included.
func TestGroupOffsetCommitStoredBeforeReply(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		bus, err := core.New(core.WithDataDir(dir), core.WithDurability(core.DurabilitySync, 0))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := bus.CreateTopic(context.Background(), "t", core.TopicConfig{Partitions: 3}); err != nil {
			t.Fatal(err)
		}
		h := &coordHarness{t: t, bus: bus, c: newGroupCoordinator(bus, defaultGroupConfig(), nil)}
		defer func() {
			h.c.close()
			if err := bus.Close(context.Background()); err != nil {
				t.Error(err)
			}
		}()
		h.publish(2)
		cr := h.call(commitReq(8, "g", "", -1, 1, 2, kmsg.StringPtr("durable"))).(*kmsg.OffsetCommitResponse)
		wantCode(t, "commit", cr.Topics[0].Partitions[0].ErrorCode, nil)

		raw, err := os.ReadFile(filepath.Join(dir, "onexbus.db"))
		if err != nil {
			t.Fatal(err)
		}
		copyDir := t.TempDir()
		if err := os.WriteFile(filepath.Join(copyDir, "onexbus.db"), raw, 0o600); err != nil {
			t.Fatal(err)
		}
		snap, err := core.New(core.WithDataDir(copyDir))
		if err != nil {
			t.Fatal(err)
		}
		defer snap.Close(context.Background())
		o, ok, err := snap.GroupOffset("g", "t", 1)
		if err != nil || !ok || o.Offset != 2 || o.Metadata != "durable" {
			t.Fatalf("offset in the file right after the reply: %+v %v %v, want 2 with its metadata", o, ok, err)
		}
	})
}
