package broker

import (
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/onexbus/onexbus/internal/kafkawire"
)

// Every group key the version table advertises, at its minimum and
// maximum version: the request is encoded, decoded as the listener does,
// handled, and the response encoded and decoded at the same version with
// the answer expected of an idle coordinator.
func TestGroupKeysAtMinAndMaxVersion(t *testing.T) {
	type check func(t *testing.T, resp kmsg.Response)
	code := func(want *kerr.Error, get func(kmsg.Response) int16) check {
		return func(t *testing.T, resp kmsg.Response) { wantCode(t, "answer", get(resp), want) }
	}
	cases := map[int16]struct {
		build func(v int16) kmsg.Request
		check check
	}{
		8: {func(v int16) kmsg.Request { return commitReq(v, "g", "", -1, 0, 0, kmsg.StringPtr("m")) },
			code(nil, func(r kmsg.Response) int16 { return r.(*kmsg.OffsetCommitResponse).Topics[0].Partitions[0].ErrorCode })},
		9: {func(v int16) kmsg.Request { return fetchReq(v, "g", 0) }, func(t *testing.T, r kmsg.Response) {
			p := r.(*kmsg.OffsetFetchResponse).Topics[0].Partitions[0]
			if p.Offset != -1 || p.ErrorCode != 0 {
				t.Fatalf("fetch of an unknown group: %+v, want offset -1", p)
			}
		}},
		10: {func(v int16) kmsg.Request {
			req := kmsg.NewPtrFindCoordinatorRequest()
			req.Version, req.CoordinatorKey, req.CoordinatorKeys = v, "g", []string{"g"}
			return req
		}, func(t *testing.T, r kmsg.Response) {
			resp := r.(*kmsg.FindCoordinatorResponse)
			if resp.Version >= 4 {
				if len(resp.Coordinators) != 1 || resp.Coordinators[0].Key != "g" || resp.Coordinators[0].Host != "127.0.0.1" || resp.Coordinators[0].Port != 9092 {
					t.Fatalf("coordinators %+v", resp.Coordinators)
				}
				return
			}
			if resp.ErrorCode != 0 || resp.Host != "127.0.0.1" || resp.Port != 9092 {
				t.Fatalf("coordinator %+v", resp)
			}
		}},
		11: {func(v int16) kmsg.Request { return joinReq(v, "g", "", nil) }, func(t *testing.T, r kmsg.Response) {
			resp := r.(*kmsg.JoinGroupResponse)
			if resp.Version >= 4 {
				wantCode(t, "first join", resp.ErrorCode, kerr.MemberIDRequired)
				return
			}
			if resp.ErrorCode != 0 || resp.Generation != 1 || resp.LeaderID != resp.MemberID {
				t.Fatalf("first join: %+v", resp)
			}
		}},
		12: {func(v int16) kmsg.Request { return heartbeat(v, "g", "m", 1) },
			code(kerr.UnknownMemberID, func(r kmsg.Response) int16 { return r.(*kmsg.HeartbeatResponse).ErrorCode })},
		13: {func(v int16) kmsg.Request {
			req := kmsg.NewPtrLeaveGroupRequest()
			req.Version, req.Group, req.MemberID = v, "g", "m"
			req.Members = []kmsg.LeaveGroupRequestMember{{MemberID: "m"}}
			return req
		}, func(t *testing.T, r kmsg.Response) {
			resp := r.(*kmsg.LeaveGroupResponse)
			got := resp.ErrorCode
			if resp.Version >= 3 {
				got = resp.Members[0].ErrorCode
			}
			wantCode(t, "leave", got, kerr.UnknownMemberID)
		}},
		14: {func(v int16) kmsg.Request { return syncReq(v, "g", "m", 1, nil) },
			code(kerr.UnknownMemberID, func(r kmsg.Response) int16 { return r.(*kmsg.SyncGroupResponse).ErrorCode })},
		15: {func(v int16) kmsg.Request { return describeReq(v, "g") }, func(t *testing.T, r kmsg.Response) {
			if g := r.(*kmsg.DescribeGroupsResponse).Groups[0]; g.Group != "g" || g.State != "Dead" {
				t.Fatalf("describe: %+v", g)
			}
		}},
		16: {func(v int16) kmsg.Request { return &kmsg.ListGroupsRequest{Version: v} }, func(t *testing.T, r kmsg.Response) {
			if resp := r.(*kmsg.ListGroupsResponse); resp.ErrorCode != 0 || len(resp.Groups) != 0 {
				t.Fatalf("list: %+v", resp)
			}
		}},
		42: {func(v int16) kmsg.Request { return &kmsg.DeleteGroupsRequest{Version: v, Groups: []string{"g"}} },
			code(kerr.GroupIDNotFound, func(r kmsg.Response) int16 { return r.(*kmsg.DeleteGroupsResponse).Groups[0].ErrorCode })},
		47: {func(v int16) kmsg.Request { return &kmsg.OffsetDeleteRequest{Version: v, Group: "g"} },
			code(kerr.GroupIDNotFound, func(r kmsg.Response) int16 { return r.(*kmsg.OffsetDeleteResponse).ErrorCode })},
	}
	versions := kafkawire.DefaultVersions()
	for _, key := range append([]int16{10}, groupKeys...) {
		c, ok := cases[key]
		if !ok {
			t.Fatalf("no case for group key %d", key)
		}
		r, ok := versions.Lookup(key)
		if !ok {
			t.Fatalf("group key %d is not in the version table", key)
		}
		for _, v := range []int16{r.Min, r.Max} {
			t.Run(fmt.Sprintf("%s/v%d", kmsg.NameForKey(key), v), func(t *testing.T) {
				withCoordinator(t, func(t *testing.T, h *coordHarness) {
					c.check(t, h.call(c.build(v)))
				})
			})
		}
	}
}
