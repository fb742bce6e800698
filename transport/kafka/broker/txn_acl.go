package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/onexbus/onexbus/transport/auth"
)

// The ACLs of the transaction and producer-id requests, as Kafka's
// KafkaApis checks them (with WithACL; with no rules everything passes):
//
//   - InitProducerId with a transactional id needs write on the id
//     (TRANSACTIONAL_ID_AUTHORIZATION_FAILED); without one, the idempotent
//     producer needs idempotent-write on the cluster or write on some
//     topic (CLUSTER_AUTHORIZATION_FAILED);
//   - AddPartitionsToTxn, AddOffsetsToTxn, EndTxn and TxnOffsetCommit need
//     write on the transactional id, checked before the topic and group
//     ACLs (TRANSACTIONAL_ID_AUTHORIZATION_FAILED on every partition);
//     TxnOffsetCommit also needs read on each topic
//     (TOPIC_AUTHORIZATION_FAILED on its partitions, the others stored);
//   - a Produce request naming a transactional id needs write on it
//     (TRANSACTIONAL_ID_AUTHORIZATION_FAILED on every partition);
//   - FindCoordinator key type 1 needs describe on the id
//     (TRANSACTIONAL_ID_AUTHORIZATION_FAILED, per key from v4);
//   - DescribeTransactions needs describe on each id and ListTransactions
//     lists only the ids the principal may describe; DescribeProducers
//     needs read on the topic (txn_describe.go).

// txnIDDenied reports whether the connection's principal may not do op on
// transactional id id.
func (s *Server) txnIDDenied(c *conn, id string, op auth.Operation) bool {
	return s.denied(c, auth.ResourceTransactionalID, id, op)
}

// idempotentDenied reports whether the connection's principal may not
// initialise an idempotent producer: Kafka allows idempotent-write on the
// cluster or write on any topic (authorizeByResourceType).
func (s *Server) idempotentDenied(c *conn) bool {
	if s.cfg.acl == nil {
		return false
	}
	return s.cfg.acl.Authorize(c.principal, auth.ResourceCluster, "", auth.OpIdempotentWrite) != nil &&
		s.cfg.acl.AuthorizeAny(c.principal, auth.ResourceTopic, auth.OpWrite) != nil
}

// produceTxnDenied is the code for a Produce request whose transactional
// id the principal may not write; nil when it may or the request names
// none.
func (s *Server) produceTxnDenied(c *conn, txnID *string) *kerr.Error {
	if txnID != nil && s.txnIDDenied(c, *txnID, auth.OpWrite) {
		return kerr.TransactionalIDAuthorizationFailed
	}
	return nil
}

// txnFindCoordinatorDenied answers TRANSACTIONAL_ID_AUTHORIZATION_FAILED
// for the keys of a transaction FindCoordinator the principal may not
// describe: the request's one key before v4, each key from v4.
func (s *Server) txnFindCoordinatorDenied(c *conn, req *kmsg.FindCoordinatorRequest, resp *kmsg.FindCoordinatorResponse) {
	code := kerr.TransactionalIDAuthorizationFailed.Code
	if req.Version < 4 {
		if s.txnIDDenied(c, req.CoordinatorKey, auth.OpDescribe) {
			resp.ErrorCode, resp.NodeID, resp.Host, resp.Port = code, -1, "", -1
		}
		return
	}
	for i := range resp.Coordinators {
		co := &resp.Coordinators[i]
		if s.txnIDDenied(c, co.Key, auth.OpDescribe) {
			co.ErrorCode, co.NodeID, co.Host, co.Port = code, -1, "", -1
		}
	}
}
