package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/onexbus/onexbus/transport/auth"
)

// Group ACLs (WithACL) on the coordinator's keys, as Kafka checks them:
//
//	JoinGroup, SyncGroup, Heartbeat, LeaveGroup   read on the group
//	OffsetCommit    read on the group, read on each topic
//	OffsetFetch     describe on the group, describe on each topic
//	OffsetDelete    delete on the group, read on each topic
//	DescribeGroups  describe on each group
//	DeleteGroups    delete on each group
//	FindCoordinator describe on the group
//	ListGroups      describe on the cluster lists every group; otherwise
//	                only the groups the principal may describe
//
// A refused group answers GROUP_AUTHORIZATION_FAILED, a refused topic
// TOPIC_AUTHORIZATION_FAILED on its partitions; an OffsetFetch of all
// topics leaves out the ones the principal may not describe.

// authorizeFunc reports whether principal may do op on the resource.
type authorizeFunc func(principal string, res auth.Resource, name string, op auth.Operation) bool

// may reports whether the request's principal may do op; true without
// ACLs.
func (c *groupCoordinator) may(cc *connInfo, res auth.Resource, name string, op auth.Operation) bool {
	if c.cfg.authorize == nil {
		return true
	}
	var p string
	if cc != nil {
		p = cc.Principal
	}
	return c.cfg.authorize(p, res, name, op)
}

// groupDenied answers a one-group request whose principal may not do on
// the group what it needs; false when it may (or the request names many
// groups: their handlers check each).
func (c *groupCoordinator) groupDenied(cc *connInfo, req kmsg.Request) (kmsg.Response, bool) {
	if c.cfg.authorize == nil {
		return nil, false
	}
	var group string
	op := auth.OpRead
	switch r := req.(type) {
	case *kmsg.JoinGroupRequest:
		group = r.Group
	case *kmsg.SyncGroupRequest:
		group = r.Group
	case *kmsg.HeartbeatRequest:
		group = r.Group
	case *kmsg.LeaveGroupRequest:
		group = r.Group
	case *kmsg.OffsetCommitRequest:
		group = r.Group
	case *kmsg.OffsetDeleteRequest:
		group, op = r.Group, auth.OpDelete
	case *kmsg.OffsetFetchRequest:
		if r.Version >= 8 {
			return nil, false
		}
		group, op = r.Group, auth.OpDescribe
	default:
		return nil, false
	}
	if c.may(cc, auth.ResourceGroup, group, op) {
		return nil, false
	}
	code := kerr.GroupAuthorizationFailed.Code
	if r, ok := req.(*kmsg.OffsetFetchRequest); ok {
		// v0-1 have no top-level code: the partitions carry it.
		resp := r.ResponseKind().(*kmsg.OffsetFetchResponse)
		resp.ErrorCode = code
		for _, t := range r.Topics {
			rt := kmsg.NewOffsetFetchResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewOffsetFetchResponseTopicPartition()
				rp.Partition, rp.Offset, rp.LeaderEpoch, rp.ErrorCode = p, -1, -1, code
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp, true
	}
	return errorResponse(req, code), true
}

// groupOperations is DescribeGroups' authorized_operations for group:
// the bits of READ (3), DELETE (6) and DESCRIBE (8) the principal has.
func (c *groupCoordinator) groupOperations(cc *connInfo, group string) int32 {
	var ops int32
	for bit, op := range map[int32]auth.Operation{3: auth.OpRead, 6: auth.OpDelete, 8: auth.OpDescribe} {
		if c.may(cc, auth.ResourceGroup, group, op) {
			ops |= 1 << bit
		}
	}
	return ops
}

// findCoordinatorDenied answers GROUP_AUTHORIZATION_FAILED for the keys of
// a FindCoordinator the principal may not describe (v4 answers each key;
// below, the one key).
func (c *groupCoordinator) findCoordinatorDenied(cc *connInfo, req *kmsg.FindCoordinatorRequest, resp *kmsg.FindCoordinatorResponse) {
	code := kerr.GroupAuthorizationFailed.Code
	if req.Version < 4 {
		if !c.may(cc, auth.ResourceGroup, req.CoordinatorKey, auth.OpDescribe) {
			resp.ErrorCode, resp.NodeID, resp.Host, resp.Port = code, -1, "", -1
		}
		return
	}
	for i := range resp.Coordinators {
		co := &resp.Coordinators[i]
		if !c.may(cc, auth.ResourceGroup, co.Key, auth.OpDescribe) {
			co.ErrorCode, co.NodeID, co.Host, co.Port = code, -1, "", -1
		}
	}
}
