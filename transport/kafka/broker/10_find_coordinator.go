package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// handleFindCoordinator hands group lookups to the group coordinator and
// answers transaction lookups (key type 1) with this broker, the
// transaction coordinator of every transactional id (a key the principal
// may not describe is TRANSACTIONAL_ID_AUTHORIZATION_FAILED). Another key
// type is INVALID_REQUEST.
func handleFindCoordinator(c *conn, cc *connInfo, kreq kmsg.Request, reply func(kmsg.Response)) {
	req := kreq.(*kmsg.FindCoordinatorRequest)
	if req.CoordinatorType == 0 && c.s.groups != nil {
		c.s.groups.handle(cc, req, reply)
		return
	}
	if req.CoordinatorType == 1 {
		resp := c.s.txnFindCoordinator(req)
		c.s.txnFindCoordinatorDenied(c, req, resp)
		reply(resp)
		return
	}
	code, msg := kerr.InvalidRequest.Code, "unknown coordinator key type"
	if req.CoordinatorType == 0 {
		code, msg = kerr.CoordinatorNotAvailable.Code, "no group coordinator in this server"
	}
	resp := req.ResponseKind().(*kmsg.FindCoordinatorResponse)
	resp.ErrorCode, resp.ErrorMessage, resp.NodeID, resp.Port = code, &msg, -1, -1
	for _, key := range req.CoordinatorKeys {
		co := kmsg.NewFindCoordinatorResponseCoordinator()
		co.Key, co.NodeID, co.Port, co.ErrorCode, co.ErrorMessage = key, -1, -1, code, &msg
		resp.Coordinators = append(resp.Coordinators, co)
	}
	reply(resp)
}
