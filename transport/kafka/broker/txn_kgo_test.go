package broker

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// txnClient is a transactional kgo producer with id.
func txnClient(t *testing.T, addr, id string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	return newKgo(t, addr, append([]kgo.Opt{kgo.TransactionalID(id), kgo.DefaultProduceTopic("t"),
		kgo.RecordPartitioner(kgo.ManualPartitioner())}, opts...)...)
}

func produceSync(t *testing.T, ctx context.Context, cl *kgo.Client, topic string, part int32, vals ...string) []int64 {
	t.Helper()
	var offs []int64
	for _, v := range vals {
		r, err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: part, Value: []byte(v)}).First()
		if err != nil {
			t.Fatalf("produce %q: %v", v, err)
		}
		offs = append(offs, r.Offset)
	}
	return offs
}

// consumeAll reads topic/0 from the start with a fresh consumer at the
// isolation level until it has reached offset end (by its own records
// or the fetch positions), and returns value -> offset.
func consumeAll(t *testing.T, ctx context.Context, addr, topic string, committed bool, end int64) map[string]int64 {
	t.Helper()
	iso := kgo.ReadUncommitted()
	if committed {
		iso = kgo.ReadCommitted()
	}
	cl := newKgo(t, addr, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}),
		kgo.FetchIsolationLevel(iso), kgo.FetchMaxWait(100*time.Millisecond))
	defer cl.Close()
	got := map[string]int64{}
	for {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consume %s (committed %v) to %d: %v; got %v", topic, committed, end, err, got)
		}
		for _, e := range fs.Errors() {
			t.Fatalf("fetch error: %v", e.Err)
		}
		fs.EachRecord(func(r *kgo.Record) { got[string(r.Value)] = r.Offset })
		var at int64 = -1
		fs.EachPartition(func(p kgo.FetchTopicPartition) {
			if p.HighWatermark >= 0 {
				at = max(at, p.LastStableOffset)
			}
		})
		if at >= end {
			return got
		}
	}
}

// rawFetch sends one Fetch at the isolation level and returns the
// partition's answer.
func rawFetch(t *testing.T, ctx context.Context, cl *kgo.Client, topic string, from int64, committed bool) kmsg.FetchResponseTopicPartition {
	t.Helper()
	return rawFetchPart(t, ctx, cl, topic, 0, from, committed)
}

// rawFetchPart is rawFetch of partition part.
func rawFetchPart(t *testing.T, ctx context.Context, cl *kgo.Client, topic string, part int32, from int64, committed bool) kmsg.FetchResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrFetchRequest()
	req.ReplicaID, req.MaxWaitMillis, req.MaxBytes = -1, 0, 1<<20
	if committed {
		req.IsolationLevel = 1
	}
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = part, from, 1<<20
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	p := resp.Topics[0].Partitions[0]
	if p.ErrorCode != 0 {
		t.Fatalf("fetch: %v", kerr.ErrorForCode(p.ErrorCode))
	}
	return p
}

// batchBases lists the base offsets, and whether control, of a record set.
func batchBases(t *testing.T, set []byte) (bases []int64, control []bool) {
	t.Helper()
	for len(set) > 0 {
		var b kmsg.RecordBatch
		if err := b.ReadFrom(set); err != nil {
			t.Fatal(err)
		}
		bases = append(bases, b.FirstOffset)
		control = append(control, b.Attributes&0x20 != 0)
		set = set[12+int(b.Length):]
	}
	return bases, control
}

// TestTxnAbortThenCommitKgo: a transaction of two records aborted, then
// one of a record committed: the markers take offsets 2 and 4, the
// committed record is at 3, read_committed sees only it (kgo drops the
// aborted records from the AbortedTransactions list), read_uncommitted
// sees all three, and ListOffsets latest is 5 either way once nothing is
// open.
func TestTxnAbortThenCommitKgo(t *testing.T) {
	tb := startBroker(t)
	ctx := testCtx(t)
	admin := tb.client(t)
	createTopic(t, ctx, admin, "t", 1)
	cl := txnClient(t, tb.addr, "tx-1")
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if offs := produceSync(t, ctx, cl, "t", 0, "a0", "a1"); !slices.Equal(offs, []int64{0, 1}) {
		t.Fatalf("aborted records at %v", offs)
	}
	p := rawFetch(t, ctx, admin, "t", 0, true)
	if p.LastStableOffset != 0 || p.HighWatermark != 2 || len(p.RecordBatches) != 0 {
		t.Fatalf("read_committed while open: LSO %d HW %d, %d bytes", p.LastStableOffset, p.HighWatermark, len(p.RecordBatches))
	}
	if err := cl.EndTransaction(ctx, kgo.TryAbort); err != nil {
		t.Fatal(err)
	}
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if offs := produceSync(t, ctx, cl, "t", 0, "c3"); !slices.Equal(offs, []int64{3}) {
		t.Fatalf("committed record at %v", offs)
	}
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	p = rawFetch(t, ctx, admin, "t", 0, true)
	bases, control := batchBases(t, p.RecordBatches)
	if p.LastStableOffset != 5 || !slices.Equal(bases, []int64{0, 1, 2, 3, 4}) || !slices.Equal(control, []bool{false, false, true, false, true}) {
		t.Fatalf("LSO %d, batches %v control %v", p.LastStableOffset, bases, control)
	}
	if len(p.AbortedTransactions) != 1 || p.AbortedTransactions[0].FirstOffset != 0 {
		t.Fatalf("aborted transactions %+v", p.AbortedTransactions)
	}
	if got := consumeAll(t, ctx, tb.addr, "t", true, 5); len(got) != 1 || got["c3"] != 3 {
		t.Fatalf("read_committed saw %v", got)
	}
	if got := consumeAll(t, ctx, tb.addr, "t", false, 5); len(got) != 3 || got["a0"] != 0 || got["a1"] != 1 || got["c3"] != 3 {
		t.Fatalf("read_uncommitted saw %v", got)
	}
	for _, iso := range []int8{0, 1} {
		if end := latestOffset(t, ctx, admin, "t", iso); end != 5 {
			t.Fatalf("ListOffsets latest (isolation %d) = %d", iso, end)
		}
	}
}

func latestOffset(t *testing.T, ctx context.Context, cl *kgo.Client, topic string, iso int8) int64 {
	t.Helper()
	req := kmsg.NewPtrListOffsetsRequest()
	req.ReplicaID, req.IsolationLevel = -1, iso
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Timestamp = -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil || resp.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("list offsets: %v %+v", err, resp)
	}
	return resp.Topics[0].Partitions[0].Offset
}
