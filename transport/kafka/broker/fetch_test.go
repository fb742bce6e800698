package broker

import (
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/onexbus/onexbus/internal/kbatch"
	"github.com/onexbus/onexbus/internal/testutil"
)

func fetchRequest(topic string, off int64, maxWait, minBytes, maxBytes, partMax int32) *kmsg.FetchRequest {
	req := kmsg.NewPtrFetchRequest()
	req.SetVersion(11)
	req.ReplicaID, req.MaxWaitMillis, req.MinBytes, req.MaxBytes = -1, maxWait, minBytes, maxBytes
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.FetchOffset, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch = off, partMax, -1
	rt.Partitions = []kmsg.FetchRequestTopicPartition{rp}
	req.Topics = []kmsg.FetchRequestTopic{rt}
	return req
}

func fetchPart(t *testing.T, rc *rawConn, req *kmsg.FetchRequest) kmsg.FetchResponseTopicPartition {
	t.Helper()
	resp := rc.do(req).(*kmsg.FetchResponse)
	if resp.ErrorCode != 0 {
		t.Fatalf("fetch: %v", kerr.ErrorForCode(resp.ErrorCode))
	}
	return resp.Topics[0].Partitions[0]
}

// TestFetchSemantics: an empty partition answers a zero-length, non-null
// record set; a budget smaller than the first batch still returns it whole
// (KIP-74) but no second one; read_committed sees the high watermark as
// the last stable offset; an offset past the end is OFFSET_OUT_OF_RANGE.
func TestFetchSemantics(t *testing.T) {
	tb := startBroker(t)
	rc := dialRaw(t, tb.addr)
	rc.do(createTopicsReq("f", 1, 1))
	empty := fetchPart(t, rc, fetchRequest("f", 0, 0, 1, 1<<20, 1<<20))
	if empty.ErrorCode != 0 || empty.RecordBatches == nil || len(empty.RecordBatches) != 0 || empty.HighWatermark != 0 {
		t.Fatalf("empty partition: %+v", empty)
	}
	b1, b2 := testBatch(t, 20, -1, -1, -1), testBatch(t, 20, -1, -1, -1)
	for _, b := range [][]byte{b1, b2} {
		if p := produceCode(t, rc, produceReq("f", b)); p.ErrorCode != 0 {
			t.Fatal(kerr.ErrorForCode(p.ErrorCode))
		}
	}
	tiny := fetchPart(t, rc, fetchRequest("f", 0, 0, 1, 10, 10))
	if len(tiny.RecordBatches) != len(b1) {
		t.Fatalf("MaxBytes 10: %d bytes, want the first batch whole (%d)", len(tiny.RecordBatches), len(b1))
	}
	committed := fetchRequest("f", 25, 0, 1, 1<<20, 1<<20)
	committed.IsolationLevel = 1
	p := fetchPart(t, rc, committed)
	h, err := kbatch.ParseHeader(p.RecordBatches)
	if err != nil || h.BaseOffset != 20 || p.LastStableOffset != 40 || p.HighWatermark != 40 || p.AbortedTransactions == nil {
		t.Fatalf("read_committed mid-batch fetch: base %d, %+v (%v)", h.BaseOffset, p, err)
	}
	if oor := fetchPart(t, rc, fetchRequest("f", 41, 0, 1, 1<<20, 1<<20)); oor.ErrorCode != kerr.OffsetOutOfRange.Code {
		t.Fatalf("past the end: %v", kerr.ErrorForCode(oor.ErrorCode))
	}
	if unk := fetchPart(t, rc, fetchRequest("nope", 0, 0, 1, 1<<20, 1<<20)); unk.ErrorCode != kerr.UnknownTopicOrPartition.Code {
		t.Fatalf("unknown topic: %v", kerr.ErrorForCode(unk.ErrorCode))
	}
}

// TestFetchLongPollWakesOnProduce: a fetch parked on an empty partition
// (10s MaxWait) returns the records as soon as another connection's
// produce is durable, not at its deadline.
func TestFetchLongPollWakesOnProduce(t *testing.T) {
	tb := startBroker(t)
	consumer, producer := dialRaw(t, tb.addr), dialRaw(t, tb.addr)
	consumer.do(createTopicsReq("lp", 1, 1))
	corr := consumer.send(fetchRequest("lp", 0, 10_000, 1, 1<<20, 1<<20))
	if p := produceCode(t, producer, produceReq("lp", testBatch(t, 3, -1, -1, -1))); p.ErrorCode != 0 {
		t.Fatal(kerr.ErrorForCode(p.ErrorCode))
	}
	start := time.Now()
	got, body, err := consumer.readFrame()
	if err != nil || got != corr {
		t.Fatalf("fetch response %d: %v", got, err)
	}
	resp := kmsg.NewPtrFetchResponse()
	resp.SetVersion(11)
	if err := resp.ReadFrom(body); err != nil {
		t.Fatal(err)
	}
	if n := len(resp.Topics[0].Partitions[0].RecordBatches); n == 0 {
		t.Fatalf("woke with no records after %v", time.Since(start))
	}
}

// TestFetchParkedKeepsResponseOrder: a request sent after a parked fetch
// on the same connection is answered after the fetch (responses go in
// request order), and both come once a produce on another connection
// wakes the fetch, long before its 10 s MaxWait.
func TestFetchParkedKeepsResponseOrder(t *testing.T) {
	tb := startBroker(t)
	consumer, producer := dialRaw(t, tb.addr), dialRaw(t, tb.addr)
	consumer.do(createTopicsReq("po", 1, 1))
	fetchCorr := consumer.send(fetchRequest("po", 0, 10_000, 1, 1<<20, 1<<20))
	meta := kmsg.NewPtrMetadataRequest()
	meta.SetVersion(4)
	metaCorr := consumer.send(meta)
	start := time.Now()
	if p := produceCode(t, producer, produceReq("po", testBatch(t, 2, -1, -1, -1))); p.ErrorCode != 0 {
		t.Fatal(kerr.ErrorForCode(p.ErrorCode))
	}
	got, body, err := consumer.readFrame()
	if err != nil || got != fetchCorr {
		t.Fatalf("first response: correlation %d (%v), want the fetch's %d", got, err, fetchCorr)
	}
	resp := kmsg.NewPtrFetchResponse()
	resp.SetVersion(11)
	if err := resp.ReadFrom(body); err != nil {
		t.Fatal(err)
	}
	if n := len(resp.Topics[0].Partitions[0].RecordBatches); n == 0 {
		t.Fatalf("fetch woke with no records after %v", time.Since(start))
	}
	if got, _, err := consumer.readFrame(); err != nil || got != metaCorr {
		t.Fatalf("second response: correlation %d (%v), want the metadata's %d", got, err, metaCorr)
	}
	if d := time.Since(start); d > 9*time.Second {
		t.Fatalf("answered after %v: the fetch waited for its MaxWait", d)
	}
}

// TestFetchParkedAgainAndAgain: one connection parks fetch after fetch
// (the writer's kick and timer are reused): a fetch that reaches its
// MaxWait answers empty, and each of the fetches after it is woken by
// its own produce and gets exactly the batch produced, at its offset.
func TestFetchParkedAgainAndAgain(t *testing.T) {
	tb := startBroker(t)
	consumer, producer := dialRaw(t, tb.addr), dialRaw(t, tb.addr)
	consumer.do(createTopicsReq("pa", 1, 1))
	if p := fetchPart(t, consumer, fetchRequest("pa", 0, 20, 1, 1<<20, 1<<20)); len(p.RecordBatches) != 0 || p.ErrorCode != 0 {
		t.Fatalf("fetch at its MaxWait: %+v", p)
	}
	for i := range 20 {
		corr := consumer.send(fetchRequest("pa", int64(i*3), 10_000, 1, 1<<20, 1<<20))
		if p := produceCode(t, producer, produceReq("pa", testBatch(t, 3, -1, -1, -1))); p.ErrorCode != 0 || p.BaseOffset != int64(i*3) {
			t.Fatalf("produce %d: base %d, %v", i, p.BaseOffset, kerr.ErrorForCode(p.ErrorCode))
		}
		got, body, err := consumer.readFrame()
		if err != nil || got != corr {
			t.Fatalf("fetch %d: correlation %d, %v", i, got, err)
		}
		resp := kmsg.NewPtrFetchResponse()
		resp.SetVersion(11)
		if err := resp.ReadFrom(body); err != nil {
			t.Fatal(err)
		}
		h, err := kbatch.ParseHeader(resp.Topics[0].Partitions[0].RecordBatches)
		if err != nil || h.BaseOffset != int64(i*3) || h.NumRecords != 3 {
			t.Fatalf("fetch %d: base %d, %d records (%v)", i, h.BaseOffset, h.NumRecords, err)
		}
	}
}

// TestFetchParkedClientGone: a client that closes its connection while
// its fetch is parked (60 s MaxWait) ends the connection's goroutines:
// the writer waiting for the fetch sees the connection end, long before
// the deadline, and the server forgets the connection and the fetch.
func TestFetchParkedClientGone(t *testing.T) {
	tb := startBroker(t)
	rc := dialRaw(t, tb.addr)
	rc.do(createTopicsReq("pg", 1, 1))
	rc.send(fetchRequest("pg", 0, 60_000, 1, 1<<20, 1<<20))
	parked := func() int {
		tb.srv.fetches.mu.Lock()
		defer tb.srv.fetches.mu.Unlock()
		return len(tb.srv.fetches.wake)
	}
	testutil.Eventually(t, 10*time.Second, func() bool { return parked() == 1 }, "the fetch parked")
	rc.nc.Close()
	testutil.Eventually(t, 10*time.Second, func() bool {
		tb.srv.mu.Lock()
		defer tb.srv.mu.Unlock()
		return len(tb.srv.conns) == 0 && parked() == 0
	}, "the connection and its parked fetch gone")
}

// TestFetchParkedAnsweredOnClose: Close answers a parked fetch at once.
func TestFetchParkedAnsweredOnClose(t *testing.T) {
	tb := startBroker(t)
	rc := dialRaw(t, tb.addr)
	rc.do(createTopicsReq("pc", 1, 1))
	corr := rc.send(fetchRequest("pc", 0, 60_000, 1, 1<<20, 1<<20))
	// The fetch is parked once it is registered.
	deadline := time.Now().Add(10 * time.Second)
	for {
		tb.srv.fetches.mu.Lock()
		n := len(tb.srv.fetches.wake)
		tb.srv.fetches.mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("fetch never parked")
		}
		time.Sleep(time.Millisecond)
	}
	closed := make(chan error, 1)
	go func() { closed <- tb.srv.Close(testCtx(t)) }()
	if got, _, err := rc.readFrame(); err != nil || got != corr {
		t.Fatalf("parked fetch on Close: %d, %v", got, err)
	}
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
}

// TestListOffsetsByTimePerRecord: by time finds the first record (not
// batch) at or after T, with that record's timestamp; earliest, latest and
// max timestamp; a time after every record is -1/-1.
func TestListOffsetsByTimePerRecord(t *testing.T) {
	tb := startBroker(t)
	rc := dialRaw(t, tb.addr)
	rc.do(createTopicsReq("lo", 1, 1))
	b := kbatch.NewBuilder(kbatch.CodecNone)
	for _, ts := range []int64{1000, 2000, 3000, 2500} {
		if err := b.Add(ts, nil, []byte("v"), nil); err != nil {
			t.Fatal(err)
		}
	}
	batch, err := b.Finish(nil)
	if err != nil {
		t.Fatal(err)
	}
	if p := produceCode(t, rc, produceReq("lo", batch)); p.ErrorCode != 0 {
		t.Fatal(kerr.ErrorForCode(p.ErrorCode))
	}
	req := kmsg.NewPtrListOffsetsRequest()
	req.SetVersion(7)
	req.ReplicaID = -1
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = "lo"
	for _, ts := range []int64{1500, 2000, 4000, -2, -1, -3} {
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Timestamp, rp.CurrentLeaderEpoch = ts, -1
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = []kmsg.ListOffsetsRequestTopic{rt}
	ps := rc.do(req).(*kmsg.ListOffsetsResponse).Topics[0].Partitions
	want := [][2]int64{{1, 2000}, {1, 2000}, {-1, -1}, {0, -1}, {4, -1}, {2, 3000}}
	for i, w := range want {
		if ps[i].ErrorCode != 0 || ps[i].Offset != w[0] || ps[i].Timestamp != w[1] {
			t.Errorf("timestamp %d: offset %d ts %d (%v), want %v", rt.Partitions[i].Timestamp, ps[i].Offset, ps[i].Timestamp, kerr.ErrorForCode(ps[i].ErrorCode), w)
		}
	}
}
