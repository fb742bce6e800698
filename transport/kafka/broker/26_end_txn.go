package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/onexbus/onexbus/transport/auth"
)

// handleEndTxn (key 26, v0-3) commits or aborts the producer's
// transaction: a marker on each partition it wrote and, on a commit, its
// TxnOffsetCommit offsets, in one store transaction, answered once
// durable. The epoch does not change (KIP-890's bump per transaction is
// EndTxn v5, not served). A retry of the EndTxn that ended the last
// transaction succeeds; the other outcome, or an end without a
// transaction, is INVALID_TXN_STATE. Producer errors as
// AddPartitionsToTxn (PRODUCER_FENCED from v2). A store failure is
// COORDINATOR_NOT_AVAILABLE (retriable): the end stays queued in the log,
// and a retry of the same outcome succeeds only once it is durable
// (txn.go). Success is never answered before the markers and offsets are
// stored. A transactional id the principal may not write is
// TRANSACTIONAL_ID_AUTHORIZATION_FAILED.
func handleEndTxn(c *conn, _ *connInfo, kreq kmsg.Request, reply func(kmsg.Response)) {
	s := c.s
	req := kreq.(*kmsg.EndTxnRequest)
	resp := req.ResponseKind().(*kmsg.EndTxnResponse)
	if s.txnIDDenied(c, req.TransactionalID, auth.OpWrite) {
		resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
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
	if st.ending != nil {
		// The last end's store write failed: answer it once durable.
		if req.Commit != st.endingCommit {
			resp.ErrorCode = kerr.InvalidTxnState.Code
		} else if err := s.txns.settleLocked(c.ctx, st); err != nil {
			s.log.Warn("kafka: end transaction retry: not durable yet", "transactional_id", st.id, "commit", req.Commit, "error", err)
			resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		}
		reply(resp)
		return
	}
	if !st.ongoing {
		if !st.ended || req.Commit != st.lastWasCommit {
			resp.ErrorCode = kerr.InvalidTxnState.Code
		}
		reply(resp)
		return
	}
	if err := s.txns.endLocked(c.ctx, st, req.Commit, st.epoch); err != nil {
		s.log.Warn("kafka: end transaction", "transactional_id", st.id, "commit", req.Commit, "error", err)
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
	}
	reply(resp)
}
