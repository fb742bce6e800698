package broker

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/onexbus/onexbus/internal/kbatch"
)

func txnBatchRaw(t *testing.T, pid int64, epoch int16, seq int32, vals ...string) []byte {
	t.Helper()
	b := kbatch.NewBuilder(kbatch.CodecNone)
	b.SetProducer(pid, epoch, seq)
	b.SetTransactional(true)
	for _, v := range vals {
		if err := b.Add(time.Now().UnixMilli(), nil, []byte(v), nil); err != nil {
			t.Fatal(err)
		}
	}
	out, err := b.Finish(nil)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func initTxn(t *testing.T, rc *rawConn, id string, timeoutMs int32, version int16) *kmsg.InitProducerIDResponse {
	t.Helper()
	req := kmsg.NewPtrInitProducerIDRequest()
	req.SetVersion(version)
	req.TransactionalID, req.TransactionTimeoutMillis = &id, timeoutMs
	req.ProducerID, req.ProducerEpoch = -1, -1
	return rc.do(req).(*kmsg.InitProducerIDResponse)
}

func addParts(t *testing.T, rc *rawConn, id string, pid int64, epoch int16, version int16, topic string, parts ...int32) []int16 {
	t.Helper()
	req := kmsg.NewPtrAddPartitionsToTxnRequest()
	req.SetVersion(version)
	req.TransactionalID, req.ProducerID, req.ProducerEpoch = id, pid, epoch
	rt := kmsg.NewAddPartitionsToTxnRequestTopic()
	rt.Topic, rt.Partitions = topic, parts
	req.Topics = append(req.Topics, rt)
	resp := rc.do(req).(*kmsg.AddPartitionsToTxnResponse)
	var codes []int16
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			codes = append(codes, p.ErrorCode)
		}
	}
	return codes
}

func endTxn(t *testing.T, rc *rawConn, id string, pid int64, epoch int16, version int16, commit bool) int16 {
	t.Helper()
	req := kmsg.NewPtrEndTxnRequest()
	req.SetVersion(version)
	req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit = id, pid, epoch, commit
	return rc.do(req).(*kmsg.EndTxnResponse).ErrorCode
}

func txnProduce(t *testing.T, rc *rawConn, id string, topic string, part int32, batch []byte) kmsg.ProduceResponseTopicPartition {
	t.Helper()
	req := produceReq(topic, batch)
	req.Topics[0].Partitions[0].Partition = part
	req.TransactionID = &id
	return produceCode(t, rc, req)
}

func codeIs(t *testing.T, what string, got int16, want *kerr.Error) {
	t.Helper()
	if (want == nil && got != 0) || (want != nil && got != want.Code) {
		t.Fatalf("%s: got %v, want %v", what, kerr.ErrorForCode(got), want)
	}
}

// TestTxnProtocolCodes walks the transactional requests at the wire and
// checks each error code a client depends on: the timeout bounds, produce
// only to partitions added to the current transaction, fencing with the
// code each version expects, EndTxn retries and states, TxnOffsetCommit
// state, and FindCoordinator for transactions.
func TestTxnProtocolCodes(t *testing.T) {
	tb := startBroker(t, WithMaxTransactionTimeout(time.Minute))
	rc := dialRaw(t, tb.addr)
	if r := rc.do(createTopicsReq("t", 2, 1)).(*kmsg.CreateTopicsResponse); r.Topics[0].ErrorCode != 0 {
		t.Fatal(kerr.ErrorForCode(r.Topics[0].ErrorCode))
	}

	fc := kmsg.NewPtrFindCoordinatorRequest()
	fc.SetVersion(4)
	fc.CoordinatorType, fc.CoordinatorKeys = 1, []string{"app"}
	if r := rc.do(fc).(*kmsg.FindCoordinatorResponse); len(r.Coordinators) != 1 || r.Coordinators[0].ErrorCode != 0 || r.Coordinators[0].Port <= 0 {
		t.Fatalf("FindCoordinator for a transaction: %+v", r)
	}

	codeIs(t, "timeout over the maximum", initTxn(t, rc, "app", 61_000, 4).ErrorCode, kerr.InvalidTransactionTimeout)
	codeIs(t, "timeout 0", initTxn(t, rc, "app", 0, 4).ErrorCode, kerr.InvalidTransactionTimeout)
	first := initTxn(t, rc, "app", 60_000, 4)
	codeIs(t, "init", first.ErrorCode, nil)
	pid, epoch := first.ProducerID, first.ProducerEpoch

	// Produce before AddPartitionsToTxn, then to a partition not added.
	codeIs(t, "produce to a partition not added", txnProduce(t, rc, "app", "t", 0, txnBatchRaw(t, pid, epoch, 0, "x")).ErrorCode, kerr.InvalidTxnState)
	codeIs(t, "add unknown partition", addParts(t, rc, "app", pid, epoch, 3, "t", 0, 9)[1], kerr.UnknownTopicOrPartition)
	if codes := addParts(t, rc, "app", pid, epoch, 3, "t", 0); codes[0] != 0 {
		t.Fatalf("add partition 0: %v", kerr.ErrorForCode(codes[0]))
	}
	codeIs(t, "produce to partition 1, not added", txnProduce(t, rc, "app", "t", 1, txnBatchRaw(t, pid, epoch, 0, "x")).ErrorCode, kerr.InvalidTxnState)
	p := txnProduce(t, rc, "app", "t", 0, txnBatchRaw(t, pid, epoch, 0, "a", "b"))
	codeIs(t, "produce to partition 0", p.ErrorCode, nil)
	if p.BaseOffset != 0 {
		t.Fatalf("base offset %d", p.BaseOffset)
	}
	codeIs(t, "a transactional batch without the transactional id", produceCode(t, rc, produceReq("t", txnBatchRaw(t, pid, epoch, 2, "c"))).ErrorCode, kerr.InvalidTxnState)

	// TxnOffsetCommit before AddOffsetsToTxn.
	toc := kmsg.NewPtrTxnOffsetCommitRequest()
	toc.SetVersion(3)
	toc.TransactionalID, toc.Group, toc.ProducerID, toc.ProducerEpoch, toc.Generation = "app", "g", pid, epoch, -1
	tt := kmsg.NewTxnOffsetCommitRequestTopic()
	tt.Topic = "t"
	tp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
	tp.Partition, tp.Offset = 1, 0
	tt.Partitions = append(tt.Partitions, tp)
	toc.Topics = append(toc.Topics, tt)
	codeIs(t, "TxnOffsetCommit before AddOffsetsToTxn", rc.do(toc).(*kmsg.TxnOffsetCommitResponse).Topics[0].Partitions[0].ErrorCode, kerr.InvalidTxnState)
	ao := kmsg.NewPtrAddOffsetsToTxnRequest()
	ao.SetVersion(3)
	ao.TransactionalID, ao.ProducerID, ao.ProducerEpoch, ao.Group = "app", pid, epoch, "g"
	codeIs(t, "AddOffsetsToTxn", rc.do(ao).(*kmsg.AddOffsetsToTxnResponse).ErrorCode, nil)
	codeIs(t, "TxnOffsetCommit", rc.do(toc).(*kmsg.TxnOffsetCommitResponse).Topics[0].Partitions[0].ErrorCode, nil)

	// Pending offsets are unstable and invisible.
	of := kmsg.NewPtrOffsetFetchRequest()
	of.SetVersion(7)
	of.Group, of.RequireStable = "g", true
	ot := kmsg.NewOffsetFetchRequestTopic()
	ot.Topic, ot.Partitions = "t", []int32{1}
	of.Topics = append(of.Topics, ot)
	codeIs(t, "RequireStable while pending", rc.do(of).(*kmsg.OffsetFetchResponse).Topics[0].Partitions[0].ErrorCode, kerr.UnstableOffsetCommit)
	of.RequireStable = false
	if r := rc.do(of).(*kmsg.OffsetFetchResponse).Topics[0].Partitions[0]; r.ErrorCode != 0 || r.Offset != -1 {
		t.Fatalf("pending offset visible: %+v", r)
	}

	// A second instance fences the first; old-epoch requests get the
	// code of their version.
	second := initTxn(t, rc, "app", 60_000, 4)
	codeIs(t, "second init", second.ErrorCode, nil)
	if second.ProducerID != pid || second.ProducerEpoch != epoch+1 {
		t.Fatalf("second init: pid %d epoch %d, want %d %d", second.ProducerID, second.ProducerEpoch, pid, epoch+1)
	}
	codeIs(t, "stale produce", txnProduce(t, rc, "app", "t", 0, txnBatchRaw(t, pid, epoch, 2, "late")).ErrorCode, kerr.InvalidProducerEpoch)
	codeIs(t, "stale AddPartitionsToTxn v1", addParts(t, rc, "app", pid, epoch, 1, "t", 0)[0], kerr.InvalidProducerEpoch)
	codeIs(t, "stale AddPartitionsToTxn v2", addParts(t, rc, "app", pid, epoch, 2, "t", 0)[0], kerr.ProducerFenced)
	codeIs(t, "stale EndTxn v1", endTxn(t, rc, "app", pid, epoch, 1, true), kerr.InvalidProducerEpoch)
	codeIs(t, "stale EndTxn v3", endTxn(t, rc, "app", pid, epoch, 3, true), kerr.ProducerFenced)
	codeIs(t, "unknown producer id", endTxn(t, rc, "app", pid+100, epoch, 3, true), kerr.InvalidProducerIDMapping)
	codeIs(t, "unknown transactional id", endTxn(t, rc, "nobody", pid, epoch, 3, true), kerr.InvalidProducerIDMapping)
	old := kmsg.NewPtrInitProducerIDRequest()
	old.SetVersion(3)
	id := "app"
	old.TransactionalID, old.TransactionTimeoutMillis, old.ProducerID, old.ProducerEpoch = &id, 60_000, pid, epoch-1
	codeIs(t, "KIP-360 init from a fenced epoch, v3", rc.do(old).(*kmsg.InitProducerIDResponse).ErrorCode, kerr.InvalidProducerEpoch)
	old.SetVersion(4)
	codeIs(t, "KIP-360 init from a fenced epoch, v4", rc.do(old).(*kmsg.InitProducerIDResponse).ErrorCode, kerr.ProducerFenced)

	// The first instance's transaction was aborted by the second init:
	// its records are behind an abort marker, the offsets dropped.
	f := rawFetchRC(t, rc, "t", 0, 1)
	if f.LastStableOffset != 3 || f.HighWatermark != 3 || len(f.AbortedTransactions) != 1 || f.AbortedTransactions[0].ProducerID != pid {
		t.Fatalf("after the fencing init: LSO %d HW %d aborted %+v", f.LastStableOffset, f.HighWatermark, f.AbortedTransactions)
	}
	of.RequireStable = true
	if r := rc.do(of).(*kmsg.OffsetFetchResponse).Topics[0].Partitions[0]; r.ErrorCode != 0 || r.Offset != -1 {
		t.Fatalf("aborted offsets: %+v", r)
	}

	// EndTxn states: nothing to end, then a commit and its retry.
	epoch = second.ProducerEpoch
	codeIs(t, "EndTxn with no transaction", endTxn(t, rc, "app", pid, epoch, 3, true), kerr.InvalidTxnState)
	addParts(t, rc, "app", pid, epoch, 3, "t", 1)
	codeIs(t, "produce", txnProduce(t, rc, "app", "t", 1, txnBatchRaw(t, pid, epoch, 0, "c")).ErrorCode, nil)
	ao.ProducerEpoch, toc.ProducerEpoch = epoch, epoch
	codeIs(t, "AddOffsetsToTxn", rc.do(ao).(*kmsg.AddOffsetsToTxnResponse).ErrorCode, nil)
	codeIs(t, "TxnOffsetCommit", rc.do(toc).(*kmsg.TxnOffsetCommitResponse).Topics[0].Partitions[0].ErrorCode, nil)
	codeIs(t, "commit", endTxn(t, rc, "app", pid, epoch, 3, true), nil)
	codeIs(t, "commit retried", endTxn(t, rc, "app", pid, epoch, 3, true), nil)
	codeIs(t, "abort after the commit", endTxn(t, rc, "app", pid, epoch, 3, false), kerr.InvalidTxnState)
	if r := rc.do(of).(*kmsg.OffsetFetchResponse).Topics[0].Partitions[0]; r.ErrorCode != 0 || r.Offset != 0 {
		t.Fatalf("committed offset: %+v", r)
	}
	if f := rawFetchRC(t, rc, "t", 1, 1); f.LastStableOffset != 2 || len(f.AbortedTransactions) != 0 {
		t.Fatalf("partition 1 after the commit: LSO %d aborted %+v", f.LastStableOffset, f.AbortedTransactions)
	}
}

func rawFetchRC(t *testing.T, rc *rawConn, topic string, part int32, iso int8) kmsg.FetchResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrFetchRequest()
	req.SetVersion(11)
	req.ReplicaID, req.MaxWaitMillis, req.MaxBytes, req.IsolationLevel = -1, 0, 1<<20, iso
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition, rp.PartitionMaxBytes = part, 1<<20
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return rc.do(req).(*kmsg.FetchResponse).Topics[0].Partitions[0]
}
