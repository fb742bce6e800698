package broker

import (
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/onexbus/onexbus/transport/auth"
)

// handleListGroups serves ListGroups (key 16, v0-5): classic groups,
// embedded groups (protocol type "onexbus") and groups known only by
// their committed offsets (Empty), filtered by state (v4+, matched
// without regard to case, as Kafka does) and by type (v5+; every group
// here is "classic").
func (c *groupCoordinator) handleListGroups(cc *connInfo, req *kmsg.ListGroupsRequest) *kmsg.ListGroupsResponse {
	resp := req.ResponseKind().(*kmsg.ListGroupsResponse)
	matches := func(filter []string, s string) bool {
		return len(filter) == 0 || slices.ContainsFunc(filter, func(f string) bool { return strings.EqualFold(f, s) })
	}
	// Describe on the cluster lists every group; without it, only those
	// the principal may describe (Kafka's rule).
	everything := c.may(cc, auth.ResourceCluster, "", auth.OpDescribe)
	for _, v := range c.allViews() {
		if !matches(req.StatesFilter, v.state.String()) || !matches(req.TypesFilter, "classic") {
			continue
		}
		if !everything && !c.may(cc, auth.ResourceGroup, v.name, auth.OpDescribe) {
			continue
		}
		lg := kmsg.NewListGroupsResponseGroup()
		lg.Group, lg.ProtocolType, lg.GroupState, lg.GroupType = v.name, v.protocolType, v.state.String(), "classic"
		resp.Groups = append(resp.Groups, lg)
	}
	return resp
}
