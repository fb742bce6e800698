package broker

import (
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/transport/auth"
)

// embeddedProtocolType is the protocol type ListGroups and DescribeGroups
// show for an embedded (Subscribe) group, so Kafka tools do not decode
// its members as consumer-protocol ones.
const embeddedProtocolType = "onexbus"

// groupView is one group as ListGroups and DescribeGroups show it: a
// classic group with Kafka members, an embedded group with live members,
// an emptied group of either kind, or a group known only by its offsets.
type groupView struct {
	name         string
	state        groupState
	protocolType string
	classic      *classicGroup       // set for a classic group
	embedded     *core.EmbeddedGroup // set for an embedded group
}

// view finds group name, false if nothing of that name exists.
func (c *groupCoordinator) view(name string) (groupView, bool) {
	g := c.groups[name]
	if g != nil && len(g.members) > 0 {
		return groupView{name: name, state: g.state, protocolType: g.protocolType, classic: g}, true
	}
	if eg, ok := c.bus.EmbeddedGroupOf(name); ok && (len(eg.Members) > 0 || g == nil) {
		v := groupView{name: name, state: groupEmpty, protocolType: embeddedProtocolType, embedded: &eg}
		if len(eg.Members) > 0 {
			v.state = groupStable
		}
		return v, true
	}
	if g != nil {
		return groupView{name: name, state: groupEmpty, protocolType: g.protocolType, classic: g}, true
	}
	if len(c.bus.GroupOffsets(name)) > 0 {
		return groupView{name: name, state: groupEmpty}, true
	}
	return groupView{}, false
}

// allViews lists every group the coordinator knows, by name.
func (c *groupCoordinator) allViews() []groupView {
	names := make(map[string]struct{})
	for name := range c.groups {
		names[name] = struct{}{}
	}
	for _, eg := range c.bus.EmbeddedGroups() {
		names[eg.Name] = struct{}{}
	}
	for _, name := range c.bus.OffsetGroups() {
		names[name] = struct{}{}
	}
	sorted := make([]string, 0, len(names))
	for name := range names {
		sorted = append(sorted, name)
	}
	slices.Sort(sorted)
	out := make([]groupView, 0, len(sorted))
	for _, name := range sorted {
		if v, ok := c.view(name); ok {
			out = append(out, v)
		}
	}
	return out
}

// handleDescribeGroups serves DescribeGroups (key 15, v0-5). Embedded
// groups show protocol type "onexbus", state Stable (live members) or
// Empty, and one member per subscription with its partitions encoded as a
// consumer-protocol assignment.
func (c *groupCoordinator) handleDescribeGroups(cc *connInfo, req *kmsg.DescribeGroupsRequest) *kmsg.DescribeGroupsResponse {
	resp := req.ResponseKind().(*kmsg.DescribeGroupsResponse)
	for _, name := range req.Groups {
		sg := kmsg.NewDescribeGroupsResponseGroup()
		sg.Group = name
		if req.IncludeAuthorizedOperations {
			// Of the group operations Read, Delete, Describe (bits 3,
			// 6, 8), those the principal has.
			sg.AuthorizedOperations = c.groupOperations(cc, name)
		}
		v, ok := c.view(name)
		switch {
		case !c.may(cc, auth.ResourceGroup, name, auth.OpDescribe):
			sg.ErrorCode = kerr.GroupAuthorizationFailed.Code
			sg.AuthorizedOperations = 0
		case name == "":
			sg.ErrorCode = kerr.InvalidGroupID.Code
		case !ok:
			sg.State = groupDead.String()
			if req.Version >= 6 {
				sg.ErrorCode = kerr.GroupIDNotFound.Code
			}
		default:
			sg.State, sg.ProtocolType = v.state.String(), v.protocolType
			switch {
			case v.classic != nil && len(v.classic.members) > 0:
				describeClassic(v.classic, &sg)
			case v.embedded != nil && len(v.embedded.Members) > 0:
				describeEmbedded(v.embedded, &sg)
			}
		}
		resp.Groups = append(resp.Groups, sg)
	}
	return resp
}

func describeClassic(g *classicGroup, sg *kmsg.DescribeGroupsResponseGroup) {
	stable := g.state == groupStable
	if stable {
		sg.Protocol = g.protocol
	}
	ids := make([]string, 0, len(g.members))
	for id := range g.members {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		m := g.members[id]
		sm := kmsg.NewDescribeGroupsResponseGroupMember()
		sm.MemberID, sm.InstanceID, sm.ClientID, sm.ClientHost = m.id, m.instanceID, m.clientID, m.clientHost
		if stable {
			for _, p := range m.join.Protocols {
				if p.Name == g.protocol {
					sm.ProtocolMetadata = p.Metadata
					break
				}
			}
			sm.MemberAssignment = m.assignment
		}
		sg.Members = append(sg.Members, sm)
	}
}

func describeEmbedded(eg *core.EmbeddedGroup, sg *kmsg.DescribeGroupsResponseGroup) {
	sg.Protocol = embeddedProtocolType
	for _, m := range eg.Members {
		sm := kmsg.NewDescribeGroupsResponseGroupMember()
		sm.MemberID, sm.ClientID, sm.ClientHost = m.ID, "onexbus", "embedded"
		topics := make([]string, 0, len(m.Assigned))
		for t := range m.Assigned {
			topics = append(topics, t)
		}
		slices.SortFunc(topics, strings.Compare)
		meta := kmsg.NewConsumerMemberMetadata()
		meta.Topics = topics
		if !slices.Contains(topics, m.Pattern) {
			// A pattern names topics by rule; Kafka's metadata carries
			// topic names, so the pattern goes in the user data.
			meta.UserData = []byte(m.Pattern)
		}
		sm.ProtocolMetadata = meta.AppendTo(nil)
		assign := kmsg.NewConsumerMemberAssignment()
		for _, t := range topics {
			at := kmsg.NewConsumerMemberAssignmentTopic()
			at.Topic, at.Partitions = t, m.Assigned[t]
			assign.Topics = append(assign.Topics, at)
		}
		sm.MemberAssignment = assign.AppendTo(nil)
		sg.Members = append(sg.Members, sm)
	}
}
