package broker

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/transport/auth"
)

// The classic consumer-group coordinator (JoinGroup, SyncGroup, Heartbeat,
// LeaveGroup, OffsetCommit, OffsetFetch, DescribeGroups, ListGroups,
// DeleteGroups, OffsetDelete).
//
// One goroutine (run) owns every group's state, so the state machine
// needs no lock: requests and timer expiries are posted to it as work and
// run one at a time in post order. A request from one connection is
// posted by that connection's reader, so one client's requests are
// applied in the order it sent them. What waits (a parked JoinGroup or
// SyncGroup, the fsync of an OffsetCommit) replies later through the
// request's reply callback, exactly once.
//
// Offsets are the bus's group cursors: one offset space with the embedded
// Subscribe groups (core.Bus.CommitGroupOffsets). Membership is one kind
// at a time: the coordinator holds a core.Bus.ClaimGroup claim while a
// group has Kafka members, and answers INCONSISTENT_GROUP_PROTOCOL to a
// JoinGroup for a group with live embedded members.
//
// Persistence: committed offsets are durable before the OffsetCommit
// reply and survive restarts. Classic group metadata (generation, leader,
// members, assignments, static-member ids) is stored at each Stable
// generation and restored on start (groups_persist.go), so the members of
// a restarted broker carry on in their generation.

func init() {
	newGroupService = func(s *Server) groupService {
		cfg := defaultGroupConfig()
		cfg.nodeID, cfg.addr = s.cfg.nodeID, s.advertised
		if store := s.cfg.acl; store != nil {
			cfg.authorize = func(p string, res auth.Resource, name string, op auth.Operation) bool {
				return store.Authorize(p, res, name, op) == nil
			}
		}
		return newGroupCoordinator(s.bus, cfg, s.log.Named("groups"))
	}
}

// groupConfig is the coordinator's configuration.
type groupConfig struct {
	// nodeID and addr are what FindCoordinator answers: this broker.
	// addr is asked at each lookup, since the listener's address is known
	// only once it serves.
	nodeID int32
	addr   func() (host string, port int32)
	// minSession and maxSession bound a member's session timeout
	// (Kafka's group.min/max.session.timeout.ms).
	minSession, maxSession time.Duration
	// maxSize bounds a group's members, pending ones included
	// (group.max.size).
	maxSize int
	// authorize checks group and topic ACLs (groups_acl.go); nil: all
	// allowed.
	authorize authorizeFunc
}

func defaultGroupConfig() groupConfig {
	return groupConfig{
		addr:       func() (string, int32) { return "127.0.0.1", 9092 },
		minSession: 6 * time.Second, maxSession: 30 * time.Minute, maxSize: 1000,
	}
}

// maxCommitMetadata bounds a commit's metadata (offset.metadata.max.bytes).
const maxCommitMetadata = 4096

// groupCoordinator serves the classic group protocol on a bus.
type groupCoordinator struct {
	bus *core.Bus
	cfg groupConfig
	log hclog.Logger

	ctx    context.Context // cancelled by close: durable waits give up
	cancel context.CancelFunc

	mu     sync.Mutex // protects queue and closed
	queue  []func()
	closed bool
	kick   chan struct{} // buffer 1: work was queued or close began
	done   chan struct{} // closed when run has exited

	waits     sync.WaitGroup // goroutines waiting for durable offset writes
	meta      *metaWriter    // stores group snapshots (groups_persist.go)
	closeOnce sync.Once

	// Owned by run.
	groups map[string]*classicGroup
}

// newGroupCoordinator builds a coordinator on bus and starts its loop;
// close stops it. A nil logger discards.
func newGroupCoordinator(bus *core.Bus, cfg groupConfig, log hclog.Logger) *groupCoordinator {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &groupCoordinator{
		bus: bus, cfg: cfg, log: log, ctx: ctx, cancel: cancel,
		kick: make(chan struct{}, 1), done: make(chan struct{}),
		groups: make(map[string]*classicGroup),
	}
	c.meta = newMetaWriter(bus, log)
	go c.run()
	return c
}

// handle serves one group request. reply is called exactly once, now or
// later from another goroutine.
func (c *groupCoordinator) handle(cc *connInfo, req kmsg.Request, reply func(kmsg.Response)) {
	if !c.post(func() { c.dispatch(cc, req, reply) }) {
		reply(errorResponse(req, kerr.CoordinatorNotAvailable.Code))
	}
}

// dispatch runs on the loop.
func (c *groupCoordinator) dispatch(cc *connInfo, req kmsg.Request, reply func(kmsg.Response)) {
	if resp, denied := c.groupDenied(cc, req); denied {
		reply(resp)
		return
	}
	switch r := req.(type) {
	case *kmsg.FindCoordinatorRequest:
		reply(c.handleFindCoordinator(cc, r))
	case *kmsg.JoinGroupRequest:
		c.handleJoinGroup(cc, r, reply)
	case *kmsg.SyncGroupRequest:
		c.handleSyncGroup(r, reply)
	case *kmsg.HeartbeatRequest:
		reply(c.handleHeartbeat(r))
	case *kmsg.LeaveGroupRequest:
		reply(c.handleLeaveGroup(r))
	case *kmsg.OffsetCommitRequest:
		c.handleOffsetCommit(cc, r, reply)
	case *kmsg.OffsetFetchRequest:
		reply(c.handleOffsetFetch(cc, r))
	case *kmsg.DescribeGroupsRequest:
		reply(c.handleDescribeGroups(cc, r))
	case *kmsg.ListGroupsRequest:
		reply(c.handleListGroups(cc, r))
	case *kmsg.DeleteGroupsRequest:
		c.handleDeleteGroups(cc, r, reply)
	case *kmsg.OffsetDeleteRequest:
		c.handleOffsetDelete(cc, r, reply)
	case *kmsg.TxnOffsetCommitRequest:
		reply(c.checkTxnOffsetCommit(r)) // the member check of 28_txn_offset_commit.go
	default:
		// The dispatch sends only the keys above; anything else is a
		// wiring mistake, answered rather than dropped.
		c.log.Error("group coordinator got a request it does not serve", "key", req.Key())
		reply(errorResponse(req, kerr.UnknownServerError.Code))
	}
}

// post queues fn for the loop; false once close has begun.
func (c *groupCoordinator) post(fn func()) bool {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return false
	}
	c.queue = append(c.queue, fn)
	c.mu.Unlock()
	select {
	case c.kick <- struct{}{}:
	default:
	}
	return true
}

// afterFunc runs fn on the loop after d. The timer's work runs like any
// request, so fn must check that what it expires is still current: a
// timer stopped after it fired still runs.
func (c *groupCoordinator) afterFunc(d time.Duration, fn func()) *time.Timer {
	return time.AfterFunc(d, func() { c.post(fn) })
}

func (c *groupCoordinator) run() {
	defer close(c.done)
	c.restore()
	for range c.kick {
		for {
			c.mu.Lock()
			work, closed := c.queue, c.closed
			c.queue = nil
			c.mu.Unlock()
			for _, fn := range work {
				fn()
			}
			if len(work) > 0 {
				continue
			}
			if closed {
				c.shutdown()
				return
			}
			break
		}
	}
}

// shutdown answers every parked call and stops every timer; the loop
// exits after it.
func (c *groupCoordinator) shutdown() {
	// Stored snapshots stay: a restart restores them.
	for _, g := range c.groups {
		for _, m := range g.members {
			if m.waiting != nil {
				g.answerParked(m, kerr.RebalanceInProgress.Code)
			}
		}
		g.stopTimers()
		if g.release != nil {
			g.release()
			g.release = nil
		}
	}
	c.groups = nil
}

// close answers parked JoinGroup and SyncGroup calls with
// REBALANCE_IN_PROGRESS, stops the timers, gives up waiting for durable
// commits (their replies say COORDINATOR_NOT_AVAILABLE) and returns once
// every goroutine of the coordinator has exited. Requests handled after
// close get COORDINATOR_NOT_AVAILABLE. It is idempotent.
func (c *groupCoordinator) close() {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.closed = true
		c.mu.Unlock()
		select {
		case c.kick <- struct{}{}:
		default:
		}
		<-c.done
		c.cancel()
		c.waits.Wait()
		c.meta.close()
	})
}

// handleFindCoordinator answers FindCoordinator (key 10, v0-4) for
// groups: every group's coordinator is this broker. Transaction lookups
// are answered by the dispatch (10_find_coordinator.go).
func (c *groupCoordinator) handleFindCoordinator(cc *connInfo, req *kmsg.FindCoordinatorRequest) *kmsg.FindCoordinatorResponse {
	resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
	host, port := c.cfg.addr()
	resp.NodeID, resp.Host, resp.Port = c.cfg.nodeID, host, port
	for _, key := range req.CoordinatorKeys {
		co := kmsg.NewFindCoordinatorResponseCoordinator()
		co.Key, co.NodeID, co.Host, co.Port = key, c.cfg.nodeID, host, port
		resp.Coordinators = append(resp.Coordinators, co)
	}
	c.findCoordinatorDenied(cc, req, resp)
	return resp
}

// errorResponse answers req with code everywhere a code goes.
func errorResponse(req kmsg.Request, code int16) kmsg.Response {
	switch r := req.(type) {
	case *kmsg.FindCoordinatorRequest:
		resp := r.ResponseKind().(*kmsg.FindCoordinatorResponse)
		resp.ErrorCode, resp.NodeID, resp.Port = code, -1, -1
		for _, key := range r.CoordinatorKeys {
			co := kmsg.NewFindCoordinatorResponseCoordinator()
			co.Key, co.NodeID, co.Port, co.ErrorCode = key, -1, -1, code
			resp.Coordinators = append(resp.Coordinators, co)
		}
		return resp
	case *kmsg.JoinGroupRequest:
		resp := r.ResponseKind().(*kmsg.JoinGroupResponse)
		resp.ErrorCode = code
		return resp
	case *kmsg.SyncGroupRequest:
		resp := r.ResponseKind().(*kmsg.SyncGroupResponse)
		resp.ErrorCode = code
		return resp
	case *kmsg.HeartbeatRequest:
		resp := r.ResponseKind().(*kmsg.HeartbeatResponse)
		resp.ErrorCode = code
		return resp
	case *kmsg.LeaveGroupRequest:
		resp := r.ResponseKind().(*kmsg.LeaveGroupResponse)
		resp.ErrorCode = code
		return resp
	case *kmsg.OffsetCommitRequest:
		resp := r.ResponseKind().(*kmsg.OffsetCommitResponse)
		fillOffsetCommit(r, resp, code)
		return resp
	case *kmsg.OffsetFetchRequest:
		resp := r.ResponseKind().(*kmsg.OffsetFetchResponse)
		resp.ErrorCode = code
		for _, g := range r.Groups {
			sg := kmsg.NewOffsetFetchResponseGroup()
			sg.Group, sg.ErrorCode = g.Group, code
			resp.Groups = append(resp.Groups, sg)
		}
		return resp
	case *kmsg.DescribeGroupsRequest:
		resp := r.ResponseKind().(*kmsg.DescribeGroupsResponse)
		for _, g := range r.Groups {
			sg := kmsg.NewDescribeGroupsResponseGroup()
			sg.Group, sg.ErrorCode = g, code
			resp.Groups = append(resp.Groups, sg)
		}
		return resp
	case *kmsg.ListGroupsRequest:
		resp := r.ResponseKind().(*kmsg.ListGroupsResponse)
		resp.ErrorCode = code
		return resp
	case *kmsg.DeleteGroupsRequest:
		resp := r.ResponseKind().(*kmsg.DeleteGroupsResponse)
		for _, g := range r.Groups {
			sg := kmsg.NewDeleteGroupsResponseGroup()
			sg.Group, sg.ErrorCode = g, code
			resp.Groups = append(resp.Groups, sg)
		}
		return resp
	case *kmsg.OffsetDeleteRequest:
		resp := r.ResponseKind().(*kmsg.OffsetDeleteResponse)
		resp.ErrorCode = code
		return resp
	}
	return req.ResponseKind()
}

// storeErrorCode maps an error of the bus's offset store to a Kafka code.
// A failed or abandoned durable write is retryable: the client commits
// again.
func storeErrorCode(err error) int16 {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, core.ErrGroupInUse):
		return kerr.UnknownMemberID.Code
	case errors.Is(err, core.ErrUnknownTopic), errors.Is(err, core.ErrInvalidPartition):
		return kerr.UnknownTopicOrPartition.Code
	case errors.Is(err, core.ErrInvalidGroup):
		return kerr.InvalidGroupID.Code
	}
	return kerr.CoordinatorNotAvailable.Code
}
