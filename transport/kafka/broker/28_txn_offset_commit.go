package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/transport/auth"
	"github.com/onexbus/onexbus/wal"
)

// handleTxnOffsetCommit (key 28, v0-3) records consumer-group offsets in
// the producer's transaction: the group sees them only when the
// transaction commits (EndTxn stores them with its markers), and an abort
// drops them. The group must have been added (AddOffsetsToTxn) to the
// ongoing transaction, else INVALID_TXN_STATE; from v3 the member and
// generation are checked as for OffsetCommit. Producer errors as
// AddPartitionsToTxn (PRODUCER_FENCED from v3). While offsets are
// pending, an OffsetFetch with RequireStable gets UNSTABLE_OFFSET_COMMIT
// for their partitions. ACLs: write on the transactional id
// (TRANSACTIONAL_ID_AUTHORIZATION_FAILED), read on the group
// (GROUP_AUTHORIZATION_FAILED), read on each topic (its partitions
// TOPIC_AUTHORIZATION_FAILED, the others stored).
func handleTxnOffsetCommit(c *conn, cc *connInfo, kreq kmsg.Request, reply func(kmsg.Response)) {
	s := c.s
	req := kreq.(*kmsg.TxnOffsetCommitRequest)
	all := func(code int16) {
		resp := req.ResponseKind().(*kmsg.TxnOffsetCommitResponse)
		fillTxnOffsetCommit(req, resp, func(string, int32) int16 { return code })
		reply(resp)
	}
	switch {
	case s.txnIDDenied(c, req.TransactionalID, auth.OpWrite):
		all(kerr.TransactionalIDAuthorizationFailed.Code)
		return
	case req.Group == "":
		all(kerr.InvalidGroupID.Code)
		return
	case s.denied(c, auth.ResourceGroup, req.Group, auth.OpRead):
		all(kerr.GroupAuthorizationFailed.Code)
		return
	}
	if code := s.txnOffsetCommitState(req, nil); code != 0 {
		all(code)
		return
	}
	store := func() {
		resp := req.ResponseKind().(*kmsg.TxnOffsetCommitResponse)
		codes := make(map[core.TxnPartition]int16)
		for _, rt := range req.Topics {
			if s.denied(c, auth.ResourceTopic, rt.Topic, auth.OpRead) {
				for _, rp := range rt.Partitions {
					codes[core.TxnPartition{Topic: rt.Topic, Part: rp.Partition}] = kerr.TopicAuthorizationFailed.Code
				}
			}
		}
		if code := s.txnOffsetCommitState(req, codes); code != 0 {
			all(code)
			return
		}
		fillTxnOffsetCommit(req, resp, func(t string, p int32) int16 { return codes[core.TxnPartition{Topic: t, Part: p}] })
		reply(resp)
	}
	if req.Version < 3 || s.groups == nil || (req.MemberID == "" && req.Generation < 0) {
		store()
		return
	}
	// The member and generation belong to the group coordinator's loop.
	s.groups.handle(cc, req, func(r kmsg.Response) {
		if code := firstTxnOffsetCode(r); code != 0 {
			reply(r)
			return
		}
		store()
	})
}

// txnOffsetCommitState checks the producer and its transaction and, when
// codes is not nil, records the offsets as pending, with a code per
// partition in codes (a partition holding a code already is skipped). It returns a code for the whole request or 0.
func (s *Server) txnOffsetCommitState(req *kmsg.TxnOffsetCommitRequest, codes map[core.TxnPartition]int16) int16 {
	st := s.txns.lock(req.TransactionalID, false)
	if st == nil {
		return kerr.InvalidProducerIDMapping.Code
	}
	defer st.mu.Unlock()
	if code := checkProducer(st, req.ProducerID, req.ProducerEpoch, req.Version, 3); code != 0 {
		return code
	}
	pending, ok := st.groups[req.Group]
	if !st.ongoing || !ok {
		return kerr.InvalidTxnState.Code
	}
	if codes == nil {
		return 0
	}
	for _, rt := range req.Topics {
		tc, known := s.kl.Topic(rt.Topic)
		for _, rp := range rt.Partitions {
			tp := core.TxnPartition{Topic: rt.Topic, Part: rp.Partition}
			if codes[tp] != 0 {
				continue // refused by the caller (a topic ACL)
			}
			if !known || rp.Partition < 0 || rp.Partition >= tc.Partitions {
				codes[tp] = kerr.UnknownTopicOrPartition.Code
				continue
			}
			_, end, err := s.kl.Offsets(rt.Topic, rp.Partition)
			if err != nil || rp.Offset < 0 || rp.Offset > end {
				codes[tp] = kerr.OffsetOutOfRange.Code
				continue
			}
			v := wal.CursorValue{Offset: rp.Offset, LeaderEpoch: rp.LeaderEpoch}
			if rp.Metadata != nil {
				v.Metadata = *rp.Metadata
			}
			if len(v.Metadata) > 4096 {
				codes[tp] = kerr.OffsetMetadataTooLarge.Code
				continue
			}
			pending[tp] = core.CursorCommit{Topic: rt.Topic, Part: rp.Partition, Value: v}
			codes[tp] = 0
		}
	}
	return 0
}

func fillTxnOffsetCommit(req *kmsg.TxnOffsetCommitRequest, resp *kmsg.TxnOffsetCommitResponse, code func(string, int32) int16) {
	for _, rt := range req.Topics {
		t := kmsg.NewTxnOffsetCommitResponseTopic()
		t.Topic = rt.Topic
		for _, rp := range rt.Partitions {
			p := kmsg.NewTxnOffsetCommitResponseTopicPartition()
			p.Partition, p.ErrorCode = rp.Partition, code(rt.Topic, rp.Partition)
			t.Partitions = append(t.Partitions, p)
		}
		resp.Topics = append(resp.Topics, t)
	}
}

func firstTxnOffsetCode(r kmsg.Response) int16 {
	resp, ok := r.(*kmsg.TxnOffsetCommitResponse)
	if !ok {
		return kerr.UnknownServerError.Code
	}
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			if p.ErrorCode != 0 {
				return p.ErrorCode
			}
		}
	}
	return 0
}

// checkTxnOffsetCommit runs on the group coordinator's loop: the member
// and generation of a v3+ TxnOffsetCommit, as OffsetCommit checks them
// (an empty group accepts only generation -1). The response carries the
// code on every partition (0: go on).
func (c *groupCoordinator) checkTxnOffsetCommit(req *kmsg.TxnOffsetCommitRequest) *kmsg.TxnOffsetCommitResponse {
	resp := req.ResponseKind().(*kmsg.TxnOffsetCommitResponse)
	code := int16(0)
	g := c.groups[req.Group]
	switch {
	case g == nil || len(g.members) == 0:
		if req.Generation >= 0 {
			code = kerr.IllegalGeneration.Code
		}
	default:
		if code = g.checkInstance(req.InstanceID, req.MemberID); code != 0 {
			break
		}
		m := g.members[req.MemberID]
		switch {
		case m == nil:
			code = kerr.UnknownMemberID.Code
		case req.Generation != g.generation:
			code = kerr.IllegalGeneration.Code
		default:
			g.touch(m)
		}
	}
	fillTxnOffsetCommit(req, resp, func(string, int32) int16 { return code })
	return resp
}
