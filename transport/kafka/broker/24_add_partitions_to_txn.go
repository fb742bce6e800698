package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/transport/auth"
)

// handleAddPartitionsToTxn (key 24, v0-3) adds partitions to the
// producer's transaction, starting it if it is Empty; only partitions
// added to the current transaction take its batches. All or nothing, as
// Kafka: an unknown partition is UNKNOWN_TOPIC_OR_PARTITION (a denied
// topic TOPIC_AUTHORIZATION_FAILED) and the others OPERATION_NOT_ATTEMPTED;
// a transactional id the principal may not write is
// TRANSACTIONAL_ID_AUTHORIZATION_FAILED on every partition.
// An unknown transactional id or producer id is
// INVALID_PRODUCER_ID_MAPPING, another epoch PRODUCER_FENCED (v2+) or
// INVALID_PRODUCER_EPOCH.
func handleAddPartitionsToTxn(c *conn, _ *connInfo, kreq kmsg.Request, reply func(kmsg.Response)) {
	s := c.s
	req := kreq.(*kmsg.AddPartitionsToTxnRequest)
	resp := req.ResponseKind().(*kmsg.AddPartitionsToTxnResponse)
	codes := make(map[core.TxnPartition]int16)
	failed := false
	idDenied := s.txnIDDenied(c, req.TransactionalID, auth.OpWrite)
	for _, rt := range req.Topics {
		tc, known := s.kl.Topic(rt.Topic)
		denied := s.denied(c, auth.ResourceTopic, rt.Topic, auth.OpWrite)
		for _, p := range rt.Partitions {
			tp := core.TxnPartition{Topic: rt.Topic, Part: p}
			switch {
			case idDenied:
				codes[tp], failed = kerr.TransactionalIDAuthorizationFailed.Code, true
			case denied:
				codes[tp], failed = kerr.TopicAuthorizationFailed.Code, true
			case !known || p < 0 || p >= tc.Partitions:
				codes[tp], failed = kerr.UnknownTopicOrPartition.Code, true
			default:
				codes[tp] = 0
			}
		}
	}
	fill := func(all int16) {
		for _, rt := range req.Topics {
			t := kmsg.NewAddPartitionsToTxnResponseTopic()
			t.Topic = rt.Topic
			for _, p := range rt.Partitions {
				sp := kmsg.NewAddPartitionsToTxnResponseTopicPartition()
				sp.Partition = p
				sp.ErrorCode = all
				if code := codes[core.TxnPartition{Topic: rt.Topic, Part: p}]; failed {
					sp.ErrorCode = code
					if code == 0 {
						sp.ErrorCode = kerr.OperationNotAttempted.Code
					}
				}
				t.Partitions = append(t.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, t)
		}
	}
	if failed {
		fill(0)
		reply(resp)
		return
	}
	st := s.txns.lock(req.TransactionalID, false)
	if st == nil {
		fill(kerr.InvalidProducerIDMapping.Code)
		reply(resp)
		return
	}
	defer st.mu.Unlock()
	if code := checkProducer(st, req.ProducerID, req.ProducerEpoch, req.Version, 2); code != 0 {
		fill(code)
		reply(resp)
		return
	}
	if code := s.txns.beginLocked(c.ctx, st); code != 0 {
		fill(code)
		reply(resp)
		return
	}
	for tp := range codes {
		st.parts[tp] = struct{}{}
	}
	fill(0)
	reply(resp)
}
