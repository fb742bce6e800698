package broker

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/transport/auth"
)

// handleDeleteGroups serves DeleteGroups (key 42, v0-2): a group without
// members of either kind loses its committed offsets (durably, before the
// reply) and disappears; one with members gets NON_EMPTY_GROUP, an unknown
// one GROUP_ID_NOT_FOUND. It runs on the loop, so no join slips in
// between the check and the delete.
func (c *groupCoordinator) handleDeleteGroups(cc *connInfo, req *kmsg.DeleteGroupsRequest, reply func(kmsg.Response)) {
	resp := req.ResponseKind().(*kmsg.DeleteGroupsResponse)
	for _, name := range req.Groups {
		rg := kmsg.NewDeleteGroupsResponseGroup()
		rg.Group = name
		if c.may(cc, auth.ResourceGroup, name, auth.OpDelete) {
			rg.ErrorCode = c.deleteGroup(name)
		} else {
			rg.ErrorCode = kerr.GroupAuthorizationFailed.Code
		}
		resp.Groups = append(resp.Groups, rg)
	}
	reply(resp)
}

func (c *groupCoordinator) deleteGroup(name string) int16 {
	if name == "" {
		return kerr.InvalidGroupID.Code
	}
	g := c.groups[name]
	if g != nil && (len(g.members) > 0 || len(g.pending) > 0) {
		return kerr.NonEmptyGroup.Code
	}
	deleted, err := c.bus.DeleteGroupOffsets(c.ctx, name)
	switch {
	case errors.Is(err, core.ErrGroupInUse):
		return kerr.NonEmptyGroup.Code
	case err != nil:
		c.log.Warn("delete of group offsets failed", "group", name, "error", err)
		return storeErrorCode(err)
	}
	_, embedded := c.bus.EmbeddedGroupOf(name)
	if g != nil {
		g.stopTimers()
		g.state = groupDead
		delete(c.groups, name)
		c.meta.save(name, nil)
	} else if !deleted && !embedded {
		return kerr.GroupIDNotFound.Code
	}
	return 0
}
