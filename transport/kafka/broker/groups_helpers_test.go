package broker

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/onexbus/onexbus/core"
	memstore "github.com/onexbus/onexbus/store/memory"
)

// coordHarness drives a coordinator with direct calls: every request is
// encoded at its version, decoded as the listener would, handled, and
// its response encoded and decoded again, so each call is also a wire
// round trip of that key at that version.
type coordHarness struct {
	t   *testing.T
	bus *core.Bus
	c   *groupCoordinator
}

const (
	testSession   = 10 * time.Second
	testRebalance = 20 * time.Second
)

// withCoordinator runs fn in a synctest bubble (fake time: timeouts pass
// with time.Sleep, instantly) with a memory bus holding topic "t" (3
// partitions) and a coordinator on it; both are closed at the end.
func withCoordinator(t *testing.T, fn func(t *testing.T, h *coordHarness)) {
	t.Helper()
	synctest.Test(t, func(t *testing.T) {
		bus, err := core.New(core.WithStore(memstore.New()), core.WithDurability(core.DurabilityNone, 0))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := bus.CreateTopic(context.Background(), "t", core.TopicConfig{Partitions: 3}); err != nil {
			t.Fatal(err)
		}
		cfg := defaultGroupConfig()
		cfg.minSession = time.Second
		h := &coordHarness{t: t, bus: bus, c: newGroupCoordinator(bus, cfg, nil)}
		defer func() {
			h.c.close()
			if err := bus.Close(context.Background()); err != nil {
				t.Error(err)
			}
		}()
		fn(t, h)
	})
}

// roundTrip encodes req and decodes it into a fresh request of its key.
func roundTripRequest(t *testing.T, req kmsg.Request) kmsg.Request {
	t.Helper()
	raw := req.AppendTo(nil)
	fresh := kmsg.RequestForKey(req.Key())
	fresh.SetVersion(req.GetVersion())
	if err := fresh.ReadFrom(raw); err != nil {
		t.Fatalf("decode %T v%d: %v", req, req.GetVersion(), err)
	}
	return fresh
}

func roundTripResponse(t *testing.T, req kmsg.Request, resp kmsg.Response) kmsg.Response {
	t.Helper()
	if resp.GetVersion() != req.GetVersion() {
		t.Fatalf("%T answered at v%d, asked at v%d", resp, resp.GetVersion(), req.GetVersion())
	}
	raw := resp.AppendTo(nil)
	fresh := req.ResponseKind()
	if err := fresh.ReadFrom(raw); err != nil {
		t.Fatalf("decode %T v%d: %v", resp, resp.GetVersion(), err)
	}
	return fresh
}

// start sends req and returns a channel that gets its response once.
func (h *coordHarness) start(cc *connInfo, req kmsg.Request) <-chan kmsg.Response {
	h.t.Helper()
	wire := roundTripRequest(h.t, req)
	ch := make(chan kmsg.Response, 2)
	h.c.handle(cc, wire, func(r kmsg.Response) { ch <- r })
	return ch
}

// done returns the response on ch if the coordinator has answered once
// every goroutine of the bubble is idle; nil if the call is parked.
func (h *coordHarness) done(req kmsg.Request, ch <-chan kmsg.Response) kmsg.Response {
	h.t.Helper()
	synctest.Wait()
	select {
	case r := <-ch:
		select {
		case r2 := <-ch:
			h.t.Fatalf("%T answered twice: %+v then %+v", req, r, r2)
		default:
		}
		return roundTripResponse(h.t, req, r)
	default:
		return nil
	}
}

// call sends req and returns its response, failing if it is parked.
func (h *coordHarness) call(req kmsg.Request) kmsg.Response {
	h.t.Helper()
	r := h.done(req, h.start(&connInfo{ClientID: "test", Remote: "127.0.0.1:1"}, req))
	if r == nil {
		h.t.Fatalf("%T was parked, want an answer", req)
	}
	return r
}

func wantCode(t *testing.T, what string, got int16, want *kerr.Error) {
	t.Helper()
	wantCode := int16(0)
	if want != nil {
		wantCode = want.Code
	}
	if got != wantCode {
		t.Fatalf("%s: error %v, want %v", what, kerr.ErrorForCode(got), want)
	}
}

// joinReq is a consumer-protocol JoinGroup for group g at version v.
func joinReq(v int16, group, member string, instance *string, protocols ...string) *kmsg.JoinGroupRequest {
	req := kmsg.NewPtrJoinGroupRequest()
	req.Version = v
	req.Group, req.MemberID, req.InstanceID = group, member, instance
	req.SessionTimeoutMillis = int32(testSession / time.Millisecond)
	req.RebalanceTimeoutMillis = int32(testRebalance / time.Millisecond)
	req.ProtocolType = "consumer"
	if len(protocols) == 0 {
		protocols = []string{"range"}
	}
	for _, p := range protocols {
		meta := kmsg.NewConsumerMemberMetadata()
		meta.Topics = []string{"t"}
		jp := kmsg.NewJoinGroupRequestProtocol()
		jp.Name, jp.Metadata = p, meta.AppendTo(nil)
		req.Protocols = append(req.Protocols, jp)
	}
	return req
}

// joinNew joins a dynamic member at v (answering MEMBER_ID_REQUIRED at
// v4+) and returns the channel of its parked or answered join.
func (h *coordHarness) joinNew(v int16, group string, protocols ...string) (string, <-chan kmsg.Response, *kmsg.JoinGroupRequest) {
	h.t.Helper()
	req := joinReq(v, group, "", nil, protocols...)
	if v >= 4 {
		r := h.call(req).(*kmsg.JoinGroupResponse)
		wantCode(h.t, "first join", r.ErrorCode, kerr.MemberIDRequired)
		if r.MemberID == "" {
			h.t.Fatal("MEMBER_ID_REQUIRED without a member id")
		}
		req = joinReq(v, group, r.MemberID, nil, protocols...)
	}
	return req.MemberID, h.start(&connInfo{ClientID: "test", Remote: "127.0.0.1:1"}, req), req
}

func heartbeat(v int16, group, member string, gen int32) *kmsg.HeartbeatRequest {
	req := kmsg.NewPtrHeartbeatRequest()
	req.Version, req.Group, req.MemberID, req.Generation = v, group, member, gen
	return req
}

func syncReq(v int16, group, member string, gen int32, assign map[string][]byte) *kmsg.SyncGroupRequest {
	req := kmsg.NewPtrSyncGroupRequest()
	req.Version, req.Group, req.MemberID, req.Generation = v, group, member, gen
	if v >= 5 {
		req.ProtocolType, req.Protocol = kmsg.StringPtr("consumer"), kmsg.StringPtr("range")
	}
	for id, a := range assign {
		ga := kmsg.NewSyncGroupRequestGroupAssignment()
		ga.MemberID, ga.MemberAssignment = id, a
		req.GroupAssignment = append(req.GroupAssignment, ga)
	}
	return req
}

func commitReq(v int16, group, member string, gen int32, part int32, off int64, metadata *string) *kmsg.OffsetCommitRequest {
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Version, req.Group, req.MemberID, req.Generation = v, group, member, gen
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = "t"
	rp := kmsg.NewOffsetCommitRequestTopicPartition()
	rp.Partition, rp.Offset, rp.Metadata, rp.LeaderEpoch = part, off, metadata, 0
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

func fetchReq(v int16, group string, parts ...int32) *kmsg.OffsetFetchRequest {
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Version, req.Group = v, group
	if parts != nil {
		rt := kmsg.NewOffsetFetchRequestTopic()
		rt.Topic, rt.Partitions = "t", parts
		req.Topics = append(req.Topics, rt)
	}
	return req
}

// publish puts n records on each partition of "t" (unkeyed records go
// round-robin).
func (h *coordHarness) publish(n int) {
	h.t.Helper()
	for range 3 * n {
		if _, err := h.bus.Publish(context.Background(), &core.Message{Topic: "t", Value: []byte("v")}); err != nil {
			h.t.Fatal(err)
		}
	}
}

// stableGroup brings one dynamic member at v to Stable and returns its
// id and generation.
func (h *coordHarness) stableGroup(v int16, group string) (string, int32) {
	h.t.Helper()
	id, ch, req := h.joinNew(v, group)
	jr := h.done(req, ch).(*kmsg.JoinGroupResponse)
	wantCode(h.t, "join", jr.ErrorCode, nil)
	sr := h.call(syncReq(min(v, 5), group, id, jr.Generation, map[string][]byte{id: []byte("a")})).(*kmsg.SyncGroupResponse)
	wantCode(h.t, "sync", sr.ErrorCode, nil)
	return id, jr.Generation
}
