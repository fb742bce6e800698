package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// handleInitProducerId gives an idempotent producer a fresh producer id at
// epoch 0; the log never reuses one, across restarts, and keeps each
// producer's window of 5 batches per partition with the batches. A
// transactional id fails at once with a non-retryable INVALID_REQUEST
// ("transactions are not supported"), so a transactional client does not
// retry forever.
func handleInitProducerId(c *conn, _ *connInfo, kreq kmsg.Request, reply func(kmsg.Response)) {
	req := kreq.(*kmsg.InitProducerIDRequest)
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	if req.TransactionalID != nil {
		c.s.log.Info("kafka: refusing a transactional producer", "remote", c.remote, "client", c.clientName(), "reason", errNoTransactions)
		resp.ErrorCode = kerr.InvalidRequest.Code
		reply(resp)
		return
	}
	id, err := c.s.kl.AllocateProducerID(c.ctx)
	if err != nil {
		c.s.log.Warn("kafka: allocate producer id", "error", err)
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		reply(resp)
		return
	}
	resp.ProducerID, resp.ProducerEpoch = id, 0
	reply(resp)
}
