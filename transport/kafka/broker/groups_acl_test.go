package broker

import (
	"errors"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/onexbus/onexbus/transport/auth"
)

// groupACLBroker has users with group rules: reader may read topic
// orders.* and group readers; peeker may read orders.* and only describe
// readers; ops may do everything.
func groupACLBroker(t *testing.T) *testBroker {
	t.Helper()
	store := auth.NewStore()
	for _, u := range []string{"reader", "peeker", "ops"} {
		if err := store.AddUser(u, u+"-pw"); err != nil {
			t.Fatal(err)
		}
	}
	r := func(p string, res auth.Resource, pat string, ops ...auth.Operation) auth.Rule {
		return auth.Rule{Principal: p, Resource: res, Pattern: pat, Operations: ops}
	}
	if err := store.SetRules([]auth.Rule{
		r("reader", auth.ResourceTopic, "orders.*", auth.OpRead),
		r("reader", auth.ResourceGroup, "readers", auth.OpRead),
		r("peeker", auth.ResourceTopic, "orders.*", auth.OpRead),
		r("peeker", auth.ResourceGroup, "readers", auth.OpDescribe),
		r("ops", auth.ResourceTopic, "**", auth.OpAdmin),
		r("ops", auth.ResourceGroup, "**", auth.OpAdmin),
		r("ops", auth.ResourceCluster, "", auth.OpAdmin),
	}); err != nil {
		t.Fatal(err)
	}
	a, err := NewStoreAuthenticator(store, true)
	if err != nil {
		t.Fatal(err)
	}
	return startBroker(t, WithSASL(a), WithACL(store))
}

// TestGroupACLs: a consumer group the principal may read works end to
// end; reading a group it may not is GROUP_AUTHORIZATION_FAILED on every
// group key; committing a topic it may not read is
// TOPIC_AUTHORIZATION_FAILED on the partition; ListGroups shows only the
// groups it may describe.
func TestGroupACLs(t *testing.T) {
	tb := groupACLBroker(t)
	ctx := testCtx(t)
	ops := tb.as(t, "ops", kgo.AllowAutoTopicCreation())
	for _, topic := range []string{"orders.eu", "secret"} {
		if err := ops.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte("v")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	// The success case: reader consumes and commits in group readers.
	consumer := tb.as(t, "reader", kgo.ConsumerGroup("readers"), kgo.ConsumeTopics("orders.eu"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit())
	if fs := consumer.PollFetches(ctx); fs.Err0() != nil || fs.NumRecords() != 1 {
		t.Fatalf("reader consumes in readers: %v, %d records", fs.Err0(), fs.NumRecords())
	}
	if err := consumer.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatalf("reader commits in readers: %v", err)
	}
	consumer.LeaveGroup()

	adm := func(user string) *kadm.Client { return kadm.NewClient(tb.as(t, user)) }
	t.Run("reading a group it may not", func(t *testing.T) {
		if _, err := adm("reader").FetchOffsets(ctx, "others"); !errors.Is(err, kerr.GroupAuthorizationFailed) {
			t.Fatalf("reader OffsetFetch others: %v", err)
		}
		rc := rawAs(t, tb.addr, "reader")
		j := joinReq(9, "others", "", nil, "range")
		if r := rc.do(j).(*kmsg.JoinGroupResponse); r.ErrorCode != kerr.GroupAuthorizationFailed.Code {
			t.Fatalf("reader JoinGroup others: %v", kerr.ErrorForCode(r.ErrorCode))
		}
		hb := rc.do(heartbeat(4, "others", "m", 1)).(*kmsg.HeartbeatResponse)
		leave := kmsg.NewPtrLeaveGroupRequest()
		leave.SetVersion(5)
		leave.Group = "others"
		lv := rc.do(leave).(*kmsg.LeaveGroupResponse)
		sy := rc.do(syncReq(5, "others", "m", 1, nil)).(*kmsg.SyncGroupResponse)
		for what, code := range map[string]int16{"Heartbeat": hb.ErrorCode, "LeaveGroup": lv.ErrorCode, "SyncGroup": sy.ErrorCode} {
			if code != kerr.GroupAuthorizationFailed.Code {
				t.Fatalf("reader %s others: %v", what, kerr.ErrorForCode(code))
			}
		}
		fc := kmsg.NewPtrFindCoordinatorRequest()
		fc.SetVersion(4)
		fc.CoordinatorKeys = []string{"readers", "others"}
		r := rc.do(fc).(*kmsg.FindCoordinatorResponse)
		if len(r.Coordinators) != 2 || r.Coordinators[0].ErrorCode != 0 || r.Coordinators[1].ErrorCode != kerr.GroupAuthorizationFailed.Code {
			t.Fatalf("FindCoordinator readers, others: %+v", r.Coordinators)
		}
		c := rc.do(commitReq(8, "others", "", -1, 0, 1, nil)).(*kmsg.OffsetCommitResponse)
		if got := c.Topics[0].Partitions[0].ErrorCode; got != kerr.GroupAuthorizationFailed.Code {
			t.Fatalf("reader OffsetCommit others: %v", kerr.ErrorForCode(got))
		}
	})
	t.Run("committing a topic it may not read", func(t *testing.T) {
		rc := rawAs(t, tb.addr, "reader")
		req := commitReq(8, "readers", "", -1, 0, 1, nil)
		req.Topics[0].Topic = "secret"
		second := kmsg.NewOffsetCommitRequestTopic()
		second.Topic = "orders.eu"
		p := kmsg.NewOffsetCommitRequestTopicPartition()
		p.Partition, p.Offset, p.LeaderEpoch = 0, 1, -1
		second.Partitions = append(second.Partitions, p)
		req.Topics = append(req.Topics, second)
		resp := rc.do(req).(*kmsg.OffsetCommitResponse)
		if got := resp.Topics[0].Partitions[0].ErrorCode; got != kerr.TopicAuthorizationFailed.Code {
			t.Fatalf("commit on secret: %v", kerr.ErrorForCode(got))
		}
		if got := resp.Topics[1].Partitions[0].ErrorCode; got != 0 {
			t.Fatalf("commit on orders.eu: %v", kerr.ErrorForCode(got))
		}
	})
	t.Run("describe but not read", func(t *testing.T) {
		peeker := adm("peeker")
		offs, err := peeker.FetchOffsets(ctx, "readers")
		if err != nil {
			t.Fatalf("peeker OffsetFetch readers: %v", err)
		}
		if o, ok := offs.Lookup("orders.eu", 0); !ok || o.At != 1 {
			t.Fatalf("peeker sees readers' offset %+v %v", o, ok)
		}
		described, err := peeker.DescribeGroups(ctx, "readers")
		if err != nil || described["readers"].Err != nil {
			t.Fatalf("peeker DescribeGroups readers: %v %v", err, described["readers"].Err)
		}
		rc := rawAs(t, tb.addr, "peeker")
		dreq := describeReq(5, "readers", "others")
		dreq.IncludeAuthorizedOperations = true
		dg := rc.do(dreq).(*kmsg.DescribeGroupsResponse)
		if dg.Groups[0].ErrorCode != 0 || dg.Groups[1].ErrorCode != kerr.GroupAuthorizationFailed.Code {
			t.Fatalf("peeker DescribeGroups readers, others: %v, %v", kerr.ErrorForCode(dg.Groups[0].ErrorCode), kerr.ErrorForCode(dg.Groups[1].ErrorCode))
		}
		if ops := dg.Groups[0].AuthorizedOperations; ops != 1<<8 {
			t.Fatalf("peeker's authorized operations on readers %b, want describe only", ops)
		}
		if r := rc.do(joinReq(9, "readers", "", nil, "range")).(*kmsg.JoinGroupResponse); r.ErrorCode != kerr.GroupAuthorizationFailed.Code {
			t.Fatalf("peeker JoinGroup readers: %v", kerr.ErrorForCode(r.ErrorCode))
		}
		if _, err := peeker.DeleteGroup(ctx, "readers"); !errors.Is(err, kerr.GroupAuthorizationFailed) {
			t.Fatalf("peeker DeleteGroups readers: %v", err)
		}
		od := kmsg.NewPtrOffsetDeleteRequest()
		od.Group = "readers"
		if r := rc.do(od).(*kmsg.OffsetDeleteResponse); r.ErrorCode != kerr.GroupAuthorizationFailed.Code {
			t.Fatalf("peeker OffsetDelete readers: %v", kerr.ErrorForCode(r.ErrorCode))
		}
	})
	t.Run("ListGroups", func(t *testing.T) {
		// ops commits in a second group; peeker sees only readers.
		if _, err := adm("ops").CommitOffsets(ctx, "others", kadm.OffsetsFromRecords(kgo.Record{Topic: "secret", Partition: 0, Offset: 0})); err != nil {
			t.Fatal(err)
		}
		names := func(user string) []string {
			ls, err := adm(user).ListGroups(ctx)
			if err != nil {
				t.Fatal(err)
			}
			out := ls.Groups()
			slices.Sort(out)
			return out
		}
		if got := names("ops"); !slices.Equal(got, []string{"others", "readers"}) {
			t.Fatalf("ops lists %v", got)
		}
		if got := names("peeker"); !slices.Equal(got, []string{"readers"}) {
			t.Fatalf("peeker lists %v", got)
		}
		// An all-topics OffsetFetch leaves out what it may not describe.
		offs, err := adm("ops").FetchOffsets(ctx, "others")
		if err != nil || len(offs) != 1 {
			t.Fatalf("ops fetches others: %v %v", offs, err)
		}
	})
	t.Run("DescribeConfigs", func(t *testing.T) {
		rc := rawAs(t, tb.addr, "reader")
		req := kmsg.NewPtrDescribeConfigsRequest()
		for _, r := range []struct {
			typ  kmsg.ConfigResourceType
			name string
		}{{kmsg.ConfigResourceTypeTopic, "orders.eu"}, {kmsg.ConfigResourceTypeTopic, "secret"}, {kmsg.ConfigResourceTypeBroker, "0"}} {
			rr := kmsg.NewDescribeConfigsRequestResource()
			rr.ResourceType, rr.ResourceName = r.typ, r.name
			req.Resources = append(req.Resources, rr)
		}
		resp := rc.do(req).(*kmsg.DescribeConfigsResponse)
		want := []int16{0, kerr.TopicAuthorizationFailed.Code, kerr.ClusterAuthorizationFailed.Code}
		for i, r := range resp.Resources {
			if r.ErrorCode != want[i] {
				t.Fatalf("DescribeConfigs %s: %v, want %v", r.ResourceName, kerr.ErrorForCode(r.ErrorCode), kerr.ErrorForCode(want[i]))
			}
		}
		resp = rawAs(t, tb.addr, "ops").do(req).(*kmsg.DescribeConfigsResponse)
		for _, r := range resp.Resources {
			if r.ErrorCode != 0 || len(r.Configs) == 0 {
				t.Fatalf("ops DescribeConfigs %s: %v", r.ResourceName, kerr.ErrorForCode(r.ErrorCode))
			}
		}
	})
}
