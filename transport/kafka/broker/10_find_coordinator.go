package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// errNoTransactions is the message of every transactional request's fast
// failure: transactions are a later release, and a clear non-retryable
// error beats a client retrying forever.
const errNoTransactions = "transactions are not supported by this broker"

// handleFindCoordinator hands group lookups to the group coordinator and
// fails transaction lookups at once with INVALID_REQUEST.
func handleFindCoordinator(c *conn, cc *connInfo, kreq kmsg.Request, reply func(kmsg.Response)) {
	req := kreq.(*kmsg.FindCoordinatorRequest)
	if req.CoordinatorType == 0 && c.s.groups != nil {
		c.s.groups.handle(cc, req, reply)
		return
	}
	code, msg := kerr.InvalidRequest.Code, errNoTransactions
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
