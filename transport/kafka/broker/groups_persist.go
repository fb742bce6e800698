package broker

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/hashicorp/go-hclog"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/onexbus/onexbus/core"
)

// Classic group metadata survives a restart: each time a group becomes
// Stable (and when a static member's id is replaced), its generation,
// protocol, leader, members with their join metadata and assignments are
// stored through core.Bus.SaveGroupMetadata; when it empties, the record
// is deleted. On start the coordinator restores every stored group as
// Stable, each member with a fresh session timeout, so members of a
// restarted broker keep heartbeating and committing in their generation
// instead of all rejoining at once. A member that left or died while the
// broker was down expires after its session timeout, as it would have.
// A crash in the middle of a rebalance restores the last Stable
// generation: members that already joined the next one get
// ILLEGAL_GENERATION or UNKNOWN_MEMBER_ID and rejoin.
//
// Writes happen off the loop, latest state per group first-come, so a
// rebalance never waits for an fsync; a crash can lose the last write,
// which costs a rejoin and never an offset (offsets are written durably
// before the OffsetCommit reply, on their own path).

// groupSnapshot is a group as stored. Fields are exported for JSON only.
type groupSnapshot struct {
	Version      int              `json:"v"`
	ProtocolType string           `json:"protocol_type"`
	Protocol     string           `json:"protocol"`
	Leader       string           `json:"leader"`
	Generation   int32            `json:"generation"`
	Members      []memberSnapshot `json:"members"`
}

type memberSnapshot struct {
	ID               string             `json:"id"`
	InstanceID       *string            `json:"instance_id,omitempty"`
	ClientID         string             `json:"client_id"`
	ClientHost       string             `json:"client_host"`
	JoinVersion      int16              `json:"join_version"`
	SessionTimeout   int32              `json:"session_timeout_ms"`
	RebalanceTimeout int32              `json:"rebalance_timeout_ms"`
	Protocols        []protocolSnapshot `json:"protocols"`
	Assignment       []byte             `json:"assignment"`
}

type protocolSnapshot struct {
	Name     string `json:"name"`
	Metadata []byte `json:"metadata"`
}

const snapshotVersion = 1

// errBadSnapshot is wrapped when a stored group cannot be restored.
var errBadSnapshot = errors.New("broker: bad stored group")

func (g *classicGroup) snapshot() []byte {
	s := groupSnapshot{Version: snapshotVersion, ProtocolType: g.protocolType, Protocol: g.protocol, Leader: g.leader, Generation: g.generation}
	for _, m := range g.members {
		ms := memberSnapshot{ID: m.id, InstanceID: m.instanceID, ClientID: m.clientID, ClientHost: m.clientHost,
			JoinVersion: m.join.Version, SessionTimeout: m.join.SessionTimeoutMillis, RebalanceTimeout: m.join.RebalanceTimeoutMillis,
			Assignment: m.assignment}
		for _, p := range m.join.Protocols {
			ms.Protocols = append(ms.Protocols, protocolSnapshot{Name: p.Name, Metadata: p.Metadata})
		}
		s.Members = append(s.Members, ms)
	}
	b, err := json.Marshal(s)
	if err != nil {
		// Only plain strings, ints and bytes: cannot happen.
		g.c.log.Error("cannot encode group for storage", "group", g.name, "error", err)
		return nil
	}
	return b
}

// restoreGroup rebuilds a Stable group from its stored snapshot.
func (c *groupCoordinator) restoreGroup(name string, data []byte) (*classicGroup, error) {
	var s groupSnapshot
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("%w %s: %w", errBadSnapshot, name, err)
	}
	if s.Version != snapshotVersion || len(s.Members) == 0 || s.ProtocolType == "" || s.Protocol == "" {
		return nil, fmt.Errorf("%w %s: version %d with %d members", errBadSnapshot, name, s.Version, len(s.Members))
	}
	g := c.newGroup(name)
	g.state, g.protocolType, g.protocol, g.leader, g.generation = groupStable, s.ProtocolType, s.Protocol, s.Leader, s.Generation
	for _, ms := range s.Members {
		if ms.ID == "" || ms.SessionTimeout <= 0 || len(ms.Protocols) == 0 || g.members[ms.ID] != nil {
			return nil, fmt.Errorf("%w %s: member %q", errBadSnapshot, name, ms.ID)
		}
		join := kmsg.NewPtrJoinGroupRequest()
		join.Version, join.Group, join.MemberID, join.InstanceID = ms.JoinVersion, name, ms.ID, ms.InstanceID
		join.SessionTimeoutMillis, join.RebalanceTimeoutMillis, join.ProtocolType = ms.SessionTimeout, ms.RebalanceTimeout, s.ProtocolType
		for _, p := range ms.Protocols {
			jp := kmsg.NewJoinGroupRequestProtocol()
			jp.Name, jp.Metadata = p.Name, p.Metadata
			join.Protocols = append(join.Protocols, jp)
		}
		m := &groupMember{id: ms.ID, instanceID: ms.InstanceID, clientID: ms.ClientID, clientHost: ms.ClientHost, join: join, assignment: ms.Assignment}
		g.members[m.id] = m
		g.addProtocols(m)
		if m.instanceID != nil {
			g.static[*m.instanceID] = m.id
		}
	}
	if g.protocols[g.protocol] != len(g.members) || g.members[g.leader] == nil {
		return nil, fmt.Errorf("%w %s: protocol %q or leader %q not held by the members", errBadSnapshot, name, g.protocol, g.leader)
	}
	return g, nil
}

// restore loads the stored groups; it runs on the loop before any request.
func (c *groupCoordinator) restore() {
	stored, err := c.bus.GroupMetadata()
	if err != nil {
		c.log.Warn("cannot load stored groups; their members rejoin", "error", err)
		return
	}
	for name, data := range stored {
		g, err := c.restoreGroup(name, data)
		if err == nil {
			err = g.claim()
		}
		if err != nil {
			c.log.Warn("stored group not restored; its members rejoin", "group", name, "error", err)
			c.meta.save(name, nil)
			continue
		}
		c.groups[name] = g
		for _, m := range g.members {
			g.touch(m)
		}
	}
}

// persist queues g's current state for storage: a snapshot while it has
// members, a delete once it has none.
func (g *classicGroup) persist() {
	if len(g.members) == 0 || g.state != groupStable {
		g.c.meta.save(g.name, nil)
		return
	}
	if b := g.snapshot(); b != nil {
		g.c.meta.save(g.name, b)
	}
}

// metaWriter stores group snapshots off the loop, the latest per group.
type metaWriter struct {
	bus *core.Bus
	log hclog.Logger

	mu      sync.Mutex        // protects pending
	pending map[string][]byte // nil value: delete
	kick    chan struct{}     // buffer 1
	stop    chan struct{}     // closed by close: flush and exit
	done    chan struct{}
}

func newMetaWriter(bus *core.Bus, log hclog.Logger) *metaWriter {
	w := &metaWriter{bus: bus, log: log, pending: make(map[string][]byte), kick: make(chan struct{}, 1),
		stop: make(chan struct{}), done: make(chan struct{})}
	go w.run()
	return w
}

func (w *metaWriter) save(group string, data []byte) {
	w.mu.Lock()
	w.pending[group] = data
	w.mu.Unlock()
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

func (w *metaWriter) run() {
	defer close(w.done)
	for {
		select {
		case <-w.kick:
			w.flush()
		case <-w.stop:
			w.flush()
			return
		}
	}
}

func (w *metaWriter) flush() {
	w.mu.Lock()
	batch := w.pending
	w.pending = make(map[string][]byte)
	w.mu.Unlock()
	for group, data := range batch {
		if err := w.bus.SaveGroupMetadata(group, data); err != nil {
			w.log.Warn("cannot store group; after a restart its members rejoin", "group", group, "error", err)
		}
	}
}

// close writes what is queued and returns once the writer has exited.
func (w *metaWriter) close() {
	close(w.stop)
	<-w.done
}
