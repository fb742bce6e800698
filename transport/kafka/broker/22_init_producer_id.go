package broker

import (
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/transport/auth"
)

// handleInitProducerId gives an idempotent producer a fresh producer id at
// epoch 0; the log never reuses one, across restarts, and keeps each
// producer's window of 5 batches per partition with the batches.
//
// With a transactional id it validates transaction.timeout.ms (1 ms to
// WithMaxTransactionTimeout, else INVALID_TRANSACTION_TIMEOUT), then gives
// the id's producer id at the next epoch (a new id, epoch 0, the first
// time, or when the epoch is exhausted), stored before the answer, so the
// previous instance is fenced; a transaction it left ongoing is aborted
// first, with the new epoch. A v3+ request naming the producer id and
// epoch it had (KIP-360 recovery) must match the current or the previous
// epoch, else PRODUCER_FENCED (INVALID_PRODUCER_EPOCH before v4). A new
// transactional id while the log holds its maximum
// (core.TxnLimits.MaxIDs, none expired) is THROTTLING_QUOTA_EXCEEDED; an
// id whose last transaction's end is not durable yet (its store write
// failed) is CONCURRENT_TRANSACTIONS until it is.
//
// ACLs (txn_acl.go): write on the transactional id, or for an idempotent
// producer idempotent-write on the cluster or write on some topic.
func handleInitProducerId(c *conn, _ *connInfo, kreq kmsg.Request, reply func(kmsg.Response)) {
	req := kreq.(*kmsg.InitProducerIDRequest)
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	if req.TransactionalID != nil {
		if c.s.txnIDDenied(c, *req.TransactionalID, auth.OpWrite) {
			resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
		} else {
			c.s.initTransactional(c, req, resp)
		}
		reply(resp)
		return
	}
	if c.s.idempotentDenied(c) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
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

func (s *Server) initTransactional(c *conn, req *kmsg.InitProducerIDRequest, resp *kmsg.InitProducerIDResponse) {
	id := *req.TransactionalID
	t := s.txns
	switch {
	case id == "":
		resp.ErrorCode = kerr.InvalidRequest.Code
		return
	case req.TransactionTimeoutMillis <= 0 || time.Duration(req.TransactionTimeoutMillis)*time.Millisecond > t.maxTimeout:
		resp.ErrorCode = kerr.InvalidTransactionTimeout.Code
		return
	}
	st := t.lock(id, true)
	defer st.mu.Unlock()
	if err := t.settleLocked(c.ctx, st); err != nil {
		// The previous transaction's end is not durable yet (its store
		// write failed): kgo retries this in place.
		s.log.Warn("kafka: init transactional producer: the last end is not durable yet", "transactional_id", id, "error", err)
		resp.ErrorCode = kerr.ConcurrentTransactions.Code
		return
	}
	if req.ProducerID >= 0 && st.pid >= 0 {
		if req.ProducerID != st.pid || (req.ProducerEpoch != st.epoch && req.ProducerEpoch != st.lastEpoch) {
			resp.ErrorCode = fencedCode(req.Version, 4)
			return
		}
	}
	st.timeout = time.Duration(req.TransactionTimeoutMillis) * time.Millisecond
	if err := t.bumpLocked(c.ctx, st); err != nil {
		if st.pid < 0 {
			t.forgetLocked(st) // never registered: keep no state for it
		}
		if errors.Is(err, core.ErrTxnIDsFull) {
			s.log.Warn("kafka: init transactional producer: the log holds its maximum of transactional ids", "transactional_id", id, "error", err)
			resp.ErrorCode = kerr.ThrottlingQuotaExceeded.Code
			return
		}
		s.log.Warn("kafka: init transactional producer", "transactional_id", id, "error", err)
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
		return
	}
	if st.ongoing {
		// The previous instance's transaction: aborted with the new
		// epoch, so nothing of it stays open for the new one to commit.
		if err := t.endLocked(c.ctx, st, false, st.epoch); err != nil {
			s.log.Warn("kafka: abort the previous instance's transaction", "transactional_id", id, "error", err)
			resp.ErrorCode = kerr.CoordinatorNotAvailable.Code
			return
		}
	}
	st.ended = false
	st.lastUse = time.Now()
	resp.ProducerID, resp.ProducerEpoch = st.pid, st.epoch
}
