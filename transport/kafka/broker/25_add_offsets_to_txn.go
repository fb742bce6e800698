package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/onexbus/onexbus/transport/auth"
)

// handleAddOffsetsToTxn (key 25, v0-3) lets the transaction commit
// offsets of a consumer group (TxnOffsetCommit), starting it if it is
// Empty. A transactional id the principal may not write is
// TRANSACTIONAL_ID_AUTHORIZATION_FAILED, a group it may not read
// GROUP_AUTHORIZATION_FAILED; producer errors as AddPartitionsToTxn
// (PRODUCER_FENCED from v2).
func handleAddOffsetsToTxn(c *conn, _ *connInfo, kreq kmsg.Request, reply func(kmsg.Response)) {
	s := c.s
	req := kreq.(*kmsg.AddOffsetsToTxnRequest)
	resp := req.ResponseKind().(*kmsg.AddOffsetsToTxnResponse)
	switch {
	case s.txnIDDenied(c, req.TransactionalID, auth.OpWrite):
		resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
	case req.Group == "":
		resp.ErrorCode = kerr.InvalidGroupID.Code
	case s.denied(c, auth.ResourceGroup, req.Group, auth.OpRead):
		resp.ErrorCode = kerr.GroupAuthorizationFailed.Code
	}
	if resp.ErrorCode != 0 {
		reply(resp)
		return
	}
	st := s.txns.lock(req.TransactionalID, false)
	if st == nil {
		resp.ErrorCode = kerr.InvalidProducerIDMapping.Code
		reply(resp)
		return
	}
	defer st.mu.Unlock()
	if code := checkProducer(st, req.ProducerID, req.ProducerEpoch, req.Version, 2); code != 0 {
		resp.ErrorCode = code
		reply(resp)
		return
	}
	if code := s.txns.beginLocked(c.ctx, st); code != 0 {
		resp.ErrorCode = code
		reply(resp)
		return
	}
	st.addGroupLocked(req.Group)
	reply(resp)
}
