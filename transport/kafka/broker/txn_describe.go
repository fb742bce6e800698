package broker

import (
	"cmp"
	"errors"
	"regexp"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/transport/auth"
)

// DescribeProducers (61, v0), DescribeTransactions (65, v0) and
// ListTransactions (66, v0-2), KIP-664's tools for finding hanging
// transactions, served from the broker's own state: the log's producer
// windows and open transactions per partition, and the coordinator's
// transactional ids (in memory while in use, else the log's registry).
//
// States: a transaction is Ongoing from its first AddPartitionsToTxn or
// AddOffsetsToTxn until EndTxn; PrepareCommit or PrepareAbort while its
// end is queued in the log but not yet durable (a store write failed;
// the log retries it); then CompleteCommit or CompleteAbort until the
// next one begins (or the coordinator forgets the idle id); Empty for an
// id that has not ended a transaction since it was loaded (after a
// restart every id is Empty: the log aborted what a crash left open).
// An id the log forgot (its expiry) is not found, as in ListTransactions.
//
// ACLs (as Kafka): DescribeProducers needs read on the topic
// (TOPIC_AUTHORIZATION_FAILED per partition); DescribeTransactions
// describe on each transactional id (TRANSACTIONAL_ID_AUTHORIZATION_FAILED)
// and lists only the topics the principal may describe; ListTransactions
// lists only the ids the principal may describe.

// The transaction states as Kafka names them.
const (
	txnStateEmpty          = "Empty"
	txnStateOngoing        = "Ongoing"
	txnStatePrepareCommit  = "PrepareCommit"
	txnStatePrepareAbort   = "PrepareAbort"
	txnStateCompleteCommit = "CompleteCommit"
	txnStateCompleteAbort  = "CompleteAbort"
)

// kafkaTxnStates are every state name Kafka knows: a ListTransactions
// filter naming another is answered in UnknownStateFilters.
var kafkaTxnStates = []string{txnStateEmpty, txnStateOngoing, txnStatePrepareCommit, txnStatePrepareAbort,
	txnStateCompleteCommit, txnStateCompleteAbort, "Dead", "PrepareEpochFence"}

// txnView is a transactional id's state as the describe requests show it.
type txnView struct {
	id      string
	pid     int64
	epoch   int16
	timeout time.Duration
	state   string
	started time.Time // zero unless Ongoing
	parts   []core.TxnPartition
}

// view returns transactional id id's state without loading it into the
// coordinator; false for an id nobody initialised.
func (t *txnCoordinator) view(id string) (txnView, bool) {
	t.mu.Lock()
	st := t.byID[id]
	t.mu.Unlock()
	if st != nil {
		st.mu.Lock()
		v, ok := st.viewLocked()
		gone := st.gone
		if ok && !gone && !st.ongoing && st.ending == nil {
			// Settled: the log decides whether the id still exists.
			_, ok = t.kl.TxnProducer(id)
		}
		st.mu.Unlock()
		if !gone {
			return v, ok
		}
	}
	tp, ok := t.kl.TxnProducer(id)
	if !ok {
		return txnView{}, false
	}
	return txnView{id: id, pid: tp.ProducerID, epoch: tp.Epoch, timeout: time.Duration(tp.TimeoutMillis) * time.Millisecond,
		state: txnStateEmpty}, true
}

// viewLocked is st's view; st.mu is held. False while st has no producer
// id (its first InitProducerId failed).
func (st *txnState) viewLocked() (txnView, bool) {
	if st.pid < 0 {
		return txnView{}, false
	}
	v := txnView{id: st.id, pid: st.pid, epoch: st.epoch, timeout: st.timeout, state: txnStateEmpty}
	switch {
	case st.ongoing:
		v.state, v.started = txnStateOngoing, st.started
		for tp := range st.parts {
			v.parts = append(v.parts, tp)
		}
		slices.SortFunc(v.parts, func(a, b core.TxnPartition) int {
			return cmp.Or(cmp.Compare(a.Topic, b.Topic), cmp.Compare(a.Part, b.Part))
		})
	case st.ending != nil && st.endingCommit:
		v.state = txnStatePrepareCommit
	case st.ending != nil:
		v.state = txnStatePrepareAbort
	case st.ended && st.lastWasCommit:
		v.state = txnStateCompleteCommit
	case st.ended:
		v.state = txnStateCompleteAbort
	}
	return v, true
}

// handleDescribeProducers lists each partition's active producers.
func handleDescribeProducers(c *conn, _ *connInfo, kreq kmsg.Request, reply func(kmsg.Response)) {
	s := c.s
	req := kreq.(*kmsg.DescribeProducersRequest)
	resp := req.ResponseKind().(*kmsg.DescribeProducersResponse)
	for _, rt := range req.Topics {
		t := kmsg.NewDescribeProducersResponseTopic()
		t.Topic = rt.Topic
		tc, known := s.kl.Topic(rt.Topic)
		denied := s.denied(c, auth.ResourceTopic, rt.Topic, auth.OpRead)
		for _, part := range rt.Partitions {
			p := kmsg.NewDescribeProducersResponseTopicPartition()
			p.Partition = part
			switch {
			case denied:
				p.ErrorCode = kerr.TopicAuthorizationFailed.Code
			case !known || part < 0 || part >= tc.Partitions:
				p.ErrorCode = kerr.UnknownTopicOrPartition.Code
			default:
				ps, err := s.kl.ActiveProducers(rt.Topic, part)
				if err != nil {
					p.ErrorCode, p.ErrorMessage = describeProducersError(err)
					break
				}
				for _, a := range ps {
					ap := kmsg.NewDescribeProducersResponseTopicPartitionActiveProducer()
					ap.ProducerID, ap.ProducerEpoch, ap.LastSequence = a.ProducerID, int32(a.Epoch), a.LastSequence
					ap.CoordinatorEpoch, ap.CurrentTxnStartOffset = -1, a.TxnStartOffset
					if !a.LastAppend.IsZero() {
						ap.LastTimestamp = a.LastAppend.UnixMilli()
					}
					p.ActiveProducers = append(p.ActiveProducers, ap)
				}
			}
			t.Partitions = append(t.Partitions, p)
		}
		resp.Topics = append(resp.Topics, t)
	}
	reply(resp)
}

// describeProducersError is the code of a failed producer lookup: the
// topic deleted meanwhile, or the log closing.
func describeProducersError(err error) (int16, *string) {
	switch {
	case errors.Is(err, core.ErrUnknownTopic), errors.Is(err, core.ErrInvalidPartition):
		return kerr.UnknownTopicOrPartition.Code, nil
	case errors.Is(err, core.ErrClosed):
		return kerr.NotLeaderForPartition.Code, kmsg.StringPtr("the broker is shutting down")
	}
	return kerr.UnknownServerError.Code, kmsg.StringPtr(err.Error())
}

// handleDescribeTransactions describes each transactional id.
func handleDescribeTransactions(c *conn, _ *connInfo, kreq kmsg.Request, reply func(kmsg.Response)) {
	s := c.s
	req := kreq.(*kmsg.DescribeTransactionsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeTransactionsResponse)
	for _, id := range req.TransactionalIDs {
		ts := kmsg.NewDescribeTransactionsResponseTransactionState()
		ts.TransactionalID, ts.StartTimestamp, ts.ProducerID, ts.ProducerEpoch = id, -1, -1, -1
		if s.txnIDDenied(c, id, auth.OpDescribe) {
			ts.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
			resp.TransactionStates = append(resp.TransactionStates, ts)
			continue
		}
		v, ok := s.txns.view(id)
		if !ok {
			ts.ErrorCode = kerr.TransactionalIDNotFound.Code
			resp.TransactionStates = append(resp.TransactionStates, ts)
			continue
		}
		ts.State, ts.TimeoutMillis = v.state, int32(v.timeout/time.Millisecond)
		ts.ProducerID, ts.ProducerEpoch = v.pid, v.epoch
		if !v.started.IsZero() {
			ts.StartTimestamp = v.started.UnixMilli()
		}
		visible := map[string]bool{}
		for _, tp := range v.parts {
			ok, seen := visible[tp.Topic]
			if !seen {
				ok = !s.denied(c, auth.ResourceTopic, tp.Topic, auth.OpDescribe)
				visible[tp.Topic] = ok
			}
			if !ok {
				continue
			}
			if n := len(ts.Topics); n == 0 || ts.Topics[n-1].Topic != tp.Topic {
				t := kmsg.NewDescribeTransactionsResponseTransactionStateTopic()
				t.Topic = tp.Topic
				ts.Topics = append(ts.Topics, t)
			}
			last := &ts.Topics[len(ts.Topics)-1]
			last.Partitions = append(last.Partitions, tp.Part)
		}
		resp.TransactionStates = append(resp.TransactionStates, ts)
	}
	reply(resp)
}

// handleListTransactions lists the transactional ids the filters match:
// states (unknown names answered in UnknownStateFilters; a filter of only
// unknown names matches nothing), producer ids, v1's duration (only
// Ongoing transactions running longer) and v2's id pattern (RE2, as
// Kafka's; INVALID_REGULAR_EXPRESSION when it does not compile).
func handleListTransactions(c *conn, _ *connInfo, kreq kmsg.Request, reply func(kmsg.Response)) {
	s := c.s
	req := kreq.(*kmsg.ListTransactionsRequest)
	resp := req.ResponseKind().(*kmsg.ListTransactionsResponse)
	var pattern *regexp.Regexp
	if req.Version >= 2 && req.TransactionalIDPattern != nil && *req.TransactionalIDPattern != "" {
		re, err := regexp.Compile(*req.TransactionalIDPattern)
		if err != nil {
			resp.ErrorCode = kerr.InvalidRegularExpression.Code
			reply(resp)
			return
		}
		pattern = re
	}
	states := map[string]bool{}
	for _, name := range req.StateFilters {
		if slices.Contains(kafkaTxnStates, name) {
			states[name] = true
		} else {
			resp.UnknownStateFilters = append(resp.UnknownStateFilters, name)
		}
	}
	now := time.Now()
	for _, id := range s.kl.TxnIDs() {
		if pattern != nil && !pattern.MatchString(id) {
			continue
		}
		if s.txnIDDenied(c, id, auth.OpDescribe) {
			continue
		}
		v, ok := s.txns.view(id)
		switch {
		case !ok:
			continue
		case len(req.StateFilters) > 0 && !states[v.state]:
			continue
		case len(req.ProducerIDFilters) > 0 && !slices.Contains(req.ProducerIDFilters, v.pid):
			continue
		case req.Version >= 1 && req.DurationFilterMillis >= 0 &&
			(v.started.IsZero() || now.Sub(v.started) <= time.Duration(req.DurationFilterMillis)*time.Millisecond):
			continue
		}
		ts := kmsg.NewListTransactionsResponseTransactionState()
		ts.TransactionalID, ts.ProducerID, ts.TransactionState = id, v.pid, v.state
		resp.TransactionStates = append(resp.TransactionStates, ts)
	}
	reply(resp)
}
