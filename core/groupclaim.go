package core

import (
	"fmt"
	"slices"
	"strings"
)

// A consumer-group name is shared by two kinds of membership: embedded
// members (Subscribe, assigned in process) and Kafka-protocol members
// (JoinGroup/SyncGroup through a broker, assigned by the client leader).
// The two cannot be mixed inside one generation, so a group has members
// of one kind at a time. The committed offsets are the same for both.
//
// A Kafka coordinator holds a claim on a group name while the group has
// Kafka members (pending ones included); Subscribe fails with
// ErrGroupInUse while a claim is held, and ClaimGroup fails while the
// group has a live embedded member. Both checks run under Bus.mu, so
// the two can never both succeed for one name.

// ClaimGroup marks group name as used by Kafka-protocol members, for a
// broker's group coordinator. It returns ErrGroupInUse while the group
// has a live embedded member (a Subscribe not yet unsubscribed), ErrClosed
// after Close, and ErrInvalidGroup for an empty or malformed name.
// Claims nest: each successful call must be matched by one call of the
// returned release, which is idempotent. A claim does not survive the
// process; Kafka members rejoin after a restart.
func (b *Bus) ClaimGroup(name string) (release func(), err error) {
	if err := validGroupName(name); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed.Load() {
		return nil, ErrClosed
	}
	if g := b.groups[name]; g != nil && len(g.members) > 0 {
		return nil, fmt.Errorf("%w: group %s has %d embedded members", ErrGroupInUse, name, len(g.members))
	}
	if b.claims == nil {
		b.claims = make(map[string]int)
	}
	b.claims[name]++
	released := false
	return func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		if released {
			return
		}
		released = true
		if b.claims[name]--; b.claims[name] <= 0 {
			delete(b.claims, name)
		}
	}, nil
}

// checkClaimLocked returns ErrGroupInUse if Kafka-protocol members hold
// group name. b.mu must be held.
func (b *Bus) checkClaimLocked(name string) error {
	if b.claims[name] > 0 {
		return fmt.Errorf("%w: group %s has Kafka-protocol members", ErrGroupInUse, name)
	}
	return nil
}

// embeddedLiveLocked reports whether group name has a live embedded
// member. b.mu must be held.
func (b *Bus) embeddedLiveLocked(name string) bool {
	g := b.groups[name]
	return g != nil && len(g.members) > 0
}

func validGroupName(name string) error {
	if name == "" || len(name) > 255 || strings.ContainsRune(name, 0) {
		return fmt.Errorf("%w: %q must be 1-255 bytes without NUL", ErrInvalidGroup, name)
	}
	return nil
}

// EmbeddedGroup is a consumer group of embedded subscribers as a Kafka
// tool would see it: ListGroups and DescribeGroups show it with protocol
// type "onexbus".
type EmbeddedGroup struct {
	// Name is the group's name.
	Name string
	// Members are the group's live subscriptions in join order; none
	// means the group is empty (it had members in this process, and its
	// committed offsets remain).
	Members []EmbeddedMember
}

// EmbeddedMember is one live subscription of an embedded group.
type EmbeddedMember struct {
	// ID names the member within its group: the group name and the
	// member's place in join order. It changes when an earlier member
	// leaves.
	ID string
	// Pattern is the topic or pattern subscribed to.
	Pattern string
	// Assigned maps each topic to the partitions delivered to this
	// member, ascending.
	Assigned map[string][]int32
}

// EmbeddedGroups returns every embedded group this bus has had a member
// in since it opened, sorted by name, with its live members and their
// partitions. Groups known only by their committed offsets are not
// included; see OffsetGroups.
func (b *Bus) EmbeddedGroups() []EmbeddedGroup {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]EmbeddedGroup, 0, len(b.groups))
	for _, g := range b.groups {
		out = append(out, embeddedGroupLocked(g))
	}
	slices.SortFunc(out, func(x, y EmbeddedGroup) int { return strings.Compare(x.Name, y.Name) })
	return out
}

// EmbeddedGroupOf returns the embedded group name and true if this bus
// has had an embedded member in it since it opened.
func (b *Bus) EmbeddedGroupOf(name string) (EmbeddedGroup, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	g := b.groups[name]
	if g == nil {
		return EmbeddedGroup{}, false
	}
	return embeddedGroupLocked(g), true
}

func embeddedGroupLocked(g *group) EmbeddedGroup {
	eg := EmbeddedGroup{Name: g.name, Members: make([]EmbeddedMember, len(g.members))}
	index := make(map[*Subscription]int, len(g.members))
	for i, m := range g.members {
		index[m] = i
		eg.Members[i] = EmbeddedMember{ID: fmt.Sprintf("%s-embedded-%d", g.name, i+1), Pattern: m.pattern.String(), Assigned: map[string][]int32{}}
	}
	for tp, l := range g.loops {
		if i, ok := index[l.assigned.Load()]; ok {
			eg.Members[i].Assigned[tp.topic] = append(eg.Members[i].Assigned[tp.topic], tp.part)
		}
	}
	for _, m := range eg.Members {
		for _, parts := range m.Assigned {
			slices.Sort(parts)
		}
	}
	return eg
}
