package broker

import (
	"context"
	"encoding/binary"
	"hash/crc32"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/onexbus/onexbus/internal/kbatch"
)

func produceCode(t *testing.T, rc *rawConn, req *kmsg.ProduceRequest) kmsg.ProduceResponseTopicPartition {
	t.Helper()
	req.SetVersion(9)
	return rc.do(req).(*kmsg.ProduceResponse).Topics[0].Partitions[0]
}

func endOffset(t *testing.T, tb *testBroker, topic string) int64 {
	t.Helper()
	_, end, err := tb.bus.Kafka().Offsets(topic, 0)
	if err != nil {
		t.Fatal(err)
	}
	return end
}

// TestProduceRejections: each bad produce gets its Kafka error code and
// stores nothing.
func TestProduceRejections(t *testing.T) {
	tb := startBroker(t)
	rc := dialRaw(t, tb.addr)
	small := createTopicsReq("small", 1, 1)
	small.Topics[0].Configs = []kmsg.CreateTopicsRequestTopicConfig{{Name: "max.message.bytes", Value: ptr("200")}}
	small.SetVersion(5)
	if r := rc.do(small).(*kmsg.CreateTopicsResponse); r.Topics[0].ErrorCode != 0 {
		t.Fatalf("create small: %v %v", kerr.ErrorForCode(r.Topics[0].ErrorCode), *r.Topics[0].ErrorMessage)
	}
	corrupt := testBatch(t, 2, -1, -1, -1)
	corrupt[len(corrupt)-1] ^= 0xff
	txn := testBatch(t, 1, 5, 0, 0)
	txn[22] |= 0x10 // attributes: transactional
	kbatch.SetBaseOffset(txn, 0)
	rewriteCRC(txn)
	based := testBatch(t, 1, -1, -1, -1)
	kbatch.SetBaseOffset(based, 7)
	for _, tc := range []struct {
		name  string
		topic string
		batch []byte
		acks  int16
		want  *kerr.Error
	}{
		{"batch over the topic's max.message.bytes", "small", testBatch(t, 30, -1, -1, -1), -1, kerr.MessageTooLarge},
		{"invalid topic name", "bad topic!", testBatch(t, 1, -1, -1, -1), -1, kerr.InvalidTopicException},
		{"reserved offsets topic", "__consumer_offsets", testBatch(t, 1, -1, -1, -1), -1, kerr.InvalidTopicException},
		{"crc mismatch", "small", corrupt, -1, kerr.CorruptMessage},
		{"transactional batch of no transactional producer", "small", txn, -1, kerr.InvalidProducerIDMapping},
		{"base offset not 0", "small", based, -1, kerr.InvalidRecord},
		{"not a batch", "small", []byte("hello"), -1, kerr.CorruptMessage},
		{"acks 2", "small", testBatch(t, 1, -1, -1, -1), 2, kerr.InvalidRequiredAcks},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := produceReq(tc.topic, tc.batch)
			req.Acks = tc.acks
			if p := produceCode(t, rc, req); p.ErrorCode != tc.want.Code || p.BaseOffset != -1 {
				t.Fatalf("got %v (base %d), want %v", kerr.ErrorForCode(p.ErrorCode), p.BaseOffset, tc.want)
			}
		})
	}
	if end := endOffset(t, tb, "small"); end != 0 {
		t.Fatalf("rejected batches stored: end %d", end)
	}
	if _, ok := tb.bus.TopicConfig("bad topic!"); ok {
		t.Fatal("invalid topic created")
	}
	// CreateTopics: one node, so replication factor 3 is refused.
	rf := createTopicsReq("rf3", 1, 3)
	if r := rc.do(rf).(*kmsg.CreateTopicsResponse); r.Topics[0].ErrorCode != kerr.InvalidReplicationFactor.Code {
		t.Fatalf("rf 3: %v", kerr.ErrorForCode(r.Topics[0].ErrorCode))
	}
}

// rewriteCRC recomputes a batch's CRC-32C after a test edited it.
func rewriteCRC(b []byte) {
	binary.BigEndian.PutUint32(b[17:], crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)))
}

// TestProduceAcksZero: acks=0 sends no response and the next request is
// answered in order; a failing acks=0 produce closes the connection.
func TestProduceAcksZero(t *testing.T) {
	tb := startBroker(t)
	rc := dialRaw(t, tb.addr)
	rc.do(createTopicsReq("a0", 1, 1))
	req := produceReq("a0", testBatch(t, 4, -1, -1, -1))
	req.Acks = 0
	req.SetVersion(7)
	rc.send(req)
	if a := rc.do(kmsg.NewPtrApiVersionsRequest()).(*kmsg.ApiVersionsResponse); a.ErrorCode != 0 {
		t.Fatal("ApiVersions after acks=0")
	}
	deadline := time.Now().Add(10 * time.Second)
	for endOffset(t, tb, "a0") != 4 {
		if time.Now().After(deadline) {
			t.Fatalf("acks=0 batch not stored: end %d", endOffset(t, tb, "a0"))
		}
		time.Sleep(time.Millisecond)
	}
	bad := produceReq("bad topic!", testBatch(t, 1, -1, -1, -1))
	bad.Acks = 0
	rc.send(bad)
	rc.expectClosed()
}

// TestProduceIdempotentRetryGetsOriginalOffset: a retried idempotent batch
// is answered with its first copy's offset and stored once, also after a
// restart of the bus and broker; a sequence gap is OUT_OF_ORDER_SEQUENCE.
func TestProduceIdempotentRetryGetsOriginalOffset(t *testing.T) {
	dir := t.TempDir()
	bus := newTestBus(t, dir)
	tb := startBrokerOn(t, bus, dir)
	rc := dialRaw(t, tb.addr)
	rc.do(createTopicsReq("idem", 1, 1))
	pid := rc.do(kmsg.NewPtrInitProducerIDRequest()).(*kmsg.InitProducerIDResponse)
	if pid.ErrorCode != 0 {
		t.Fatal(kerr.ErrorForCode(pid.ErrorCode))
	}
	first := testBatch(t, 3, pid.ProducerID, 0, 0)
	second := testBatch(t, 2, pid.ProducerID, 0, 3)
	p1 := produceCode(t, rc, produceReq("idem", first))
	p2 := produceCode(t, rc, produceReq("idem", second))
	if p1.ErrorCode != 0 || p2.ErrorCode != 0 || p1.BaseOffset != 0 || p2.BaseOffset != 3 {
		t.Fatalf("first %+v second %+v", p1, p2)
	}
	retry := produceCode(t, rc, produceReq("idem", first))
	if retry.ErrorCode != 0 || retry.BaseOffset != 0 {
		t.Fatalf("retry of the first batch: %v at %d, want its original offset 0", kerr.ErrorForCode(retry.ErrorCode), retry.BaseOffset)
	}
	gap := produceCode(t, rc, produceReq("idem", testBatch(t, 1, pid.ProducerID, 0, 9)))
	if gap.ErrorCode != kerr.OutOfOrderSequenceNumber.Code {
		t.Fatalf("sequence gap: %v", kerr.ErrorForCode(gap.ErrorCode))
	}
	if end := endOffset(t, tb, "idem"); end != 5 {
		t.Fatalf("end %d, want 5: a retry was stored twice", end)
	}

	// Restart: the window is persisted with the batches.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := tb.srv.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := bus.Close(ctx); err != nil {
		t.Fatal(err)
	}
	tb2 := startBroker2(t, dir)
	rc2 := dialRaw(t, tb2.addr)
	if again := produceCode(t, rc2, produceReq("idem", second)); again.ErrorCode != 0 || again.BaseOffset != 3 {
		t.Fatalf("retry after restart: %v at %d, want 3", kerr.ErrorForCode(again.ErrorCode), again.BaseOffset)
	}
	if end := endOffset(t, tb2, "idem"); end != 5 {
		t.Fatalf("end %d after restart, want 5", end)
	}
	if p := rc2.do(kmsg.NewPtrInitProducerIDRequest()).(*kmsg.InitProducerIDResponse); p.ProducerID == pid.ProducerID {
		t.Fatalf("producer id %d handed out twice", p.ProducerID)
	}
	txnReq := kmsg.NewPtrInitProducerIDRequest()
	txnReq.TransactionalID, txnReq.TransactionTimeoutMillis = ptr("txn"), 60_000
	if p := rc2.do(txnReq).(*kmsg.InitProducerIDResponse); p.ErrorCode != 0 || p.ProducerID == pid.ProducerID {
		t.Fatalf("transactional id: %v, producer id %d (idempotent one %d)", kerr.ErrorForCode(p.ErrorCode), p.ProducerID, pid.ProducerID)
	}
}

// startBroker2 reopens a bus on dir with a new broker (cleanup closes both).
func startBroker2(t *testing.T, dir string) *testBroker {
	return startBrokerOn(t, newTestBus(t, dir), dir)
}
