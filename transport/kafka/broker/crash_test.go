package broker

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// envCrashCycles sets the kill -9 loop's cycles (make crash-broker: 3 in
// CI, more by hand); the test is skipped without it.
const envCrashCycles = "ONEXBUS_CRASH_CYCLES"

// TestBrokerKillLoop: idempotent acks=all kgo producers and a kgo
// consumer group run against a broker in a child process that is killed
// with SIGKILL and restarted on the same data directory and port, cycle
// after cycle. At the end the log holds every acknowledged record at the
// offset it was acknowledged with, no record twice (idempotence across
// crashes), offsets dense from 0, and the group saw offsets only grow
// within each partition's session.
func TestBrokerKillLoop(t *testing.T) {
	cycles, _ := strconv.Atoi(os.Getenv(envCrashCycles))
	if cycles <= 0 {
		t.Skipf("set %s (make crash-broker)", envCrashCycles)
	}
	dir := t.TempDir()
	addr := freeAddr(t)
	child := startChildAt(t, dir, addr)
	const topic, parts = "crash", 4
	ctx, cancel := context.WithTimeout(context.Background(), time.Duration(cycles)*20*time.Second+60*time.Second)
	defer cancel()

	admin := newKgo(t, addr)
	createTopic(t, ctx, admin, topic, parts)

	type ack = ackPos
	var mu sync.Mutex
	acked := map[string]ack{}
	var prodWG sync.WaitGroup
	stop := make(chan struct{})
	for p := range 2 {
		cl := newKgo(t, addr, kgo.DefaultProduceTopic(topic), kgo.RequiredAcks(kgo.AllISRAcks()),
			kgo.RecordDeliveryTimeout(2*time.Minute), kgo.ProducerLinger(2*time.Millisecond))
		prodWG.Go(func() {
			var inflight sync.WaitGroup
			for i := 0; ; i++ {
				select {
				case <-stop:
					inflight.Wait()
					return
				default:
				}
				v := fmt.Sprintf("p%d-%06d", p, i)
				inflight.Add(1)
				cl.Produce(ctx, &kgo.Record{Key: fmt.Appendf(nil, "k%d", i%16), Value: []byte(v)}, func(r *kgo.Record, err error) {
					defer inflight.Done()
					if err == nil {
						mu.Lock()
						acked[v] = ack{r.Partition, r.Offset}
						mu.Unlock()
					}
				})
				if i%200 == 199 {
					cl.Flush(ctx)
				}
			}
		})
	}
	// The group consumer records what it sees per partition, in order.
	seen := map[int32][]int64{}
	var seenMu sync.Mutex
	group := newKgo(t, addr, kgo.ConsumerGroup("crash-group"), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond))
	consDone, consStop := make(chan struct{}), make(chan struct{})
	consCtx, consCancel := context.WithCancel(ctx)
	defer consCancel()
	go func() {
		defer close(consDone)
		for consCtx.Err() == nil {
			fs := group.PollFetches(consCtx)
			seenMu.Lock()
			fs.EachRecord(func(r *kgo.Record) { seen[r.Partition] = append(seen[r.Partition], r.Offset) })
			seenMu.Unlock()
			select {
			case <-consStop:
				return
			default:
			}
		}
	}()

	// Each cycle waits for 1,000 more acknowledgements than before (the
	// restarted broker must make progress), then kills it mid-stream.
	target := 0
	for c := range cycles {
		target += 1000
		waitAcks(t, &mu, acked, target)
		child.kill(t)
		child = startChildAt(t, dir, addr)
		mu.Lock()
		target = max(target, len(acked))
		t.Logf("cycle %d: killed and restarted with %d records acknowledged", c+1, len(acked))
		mu.Unlock()
	}
	waitAcks(t, &mu, acked, target+1000)
	close(stop)
	prodWG.Wait()
	ends := partitionEnds(t, ctx, admin, topic, parts)
	// The group, which lived through every crash, reaches the end.
	deadline := time.Now().Add(60 * time.Second)
	for {
		seenMu.Lock()
		done := true
		for p, end := range ends {
			if offs := seen[int32(p)]; end > 0 && (len(offs) == 0 || offs[len(offs)-1] != end-1) {
				done = false
			}
		}
		seenMu.Unlock()
		if done {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the consumer group did not reach the ends %v within 60s", ends)
		}
		time.Sleep(10 * time.Millisecond)
	}
	consCancel() // PollFetches waits for records that will not come
	close(consStop)
	<-consDone

	// Read everything back from the start.
	reader := newKgo(t, addr, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var total int64
	for _, e := range ends {
		total += e
	}
	log := map[int32][]string{}
	for n := int64(0); n < total; {
		fs := reader.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			t.Fatalf("read back: %v after %d of %d records (ends %v)", err, n, total, ends)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if int64(len(log[r.Partition])) != r.Offset {
				t.Fatalf("partition %d: offset %d after %d records: not dense", r.Partition, r.Offset, len(log[r.Partition]))
			}
			log[r.Partition] = append(log[r.Partition], string(r.Value))
			n++
		})
	}
	where := map[string]ack{}
	for p, vs := range log {
		for off, v := range vs {
			if prev, dup := where[v]; dup {
				t.Fatalf("record %s stored twice: %d/%d and %d/%d", v, prev.part, prev.off, p, off)
			}
			where[v] = ack{p, int64(off)}
		}
	}
	for v, a := range acked {
		if got, ok := where[v]; !ok || got != a {
			t.Fatalf("acknowledged record %s at %d/%d: found %v (%v)", v, a.part, a.off, got, ok)
		}
	}
	// The group's stream: within a fetch session a partition's offsets
	// grow by one; they step back only when the group resumed from its
	// committed offset after a crash or rebalance, never below 0 or past
	// the end, and the group saw every partition's records.
	seenMu.Lock()
	defer seenMu.Unlock()
	for p, offs := range seen {
		resumes := 0
		for i := 1; i < len(offs); i++ {
			if offs[i] < 0 || offs[i] >= ends[p] {
				t.Fatalf("partition %d: group saw offset %d outside [0, %d)", p, offs[i], ends[p])
			}
			if offs[i] <= offs[i-1] {
				resumes++
			}
		}
		t.Logf("partition %d: group saw %d records, resumed %d times, end %d", p, len(offs), resumes, ends[p])
	}
	if len(seen) == 0 {
		t.Fatal("the consumer group saw nothing")
	}
	t.Logf("%d cycles: %d records acknowledged, %d stored, none lost or duplicated", cycles, len(acked), total)
}

// ackPos is where a record was acknowledged (or found).
type ackPos struct {
	part int32
	off  int64
}

// waitAcks waits until at least n records are acknowledged.
func waitAcks(t *testing.T, mu *sync.Mutex, acked map[string]ackPos, n int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		mu.Lock()
		got := len(acked)
		mu.Unlock()
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d records acknowledged within 60s", got, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// newKgo is a kgo client of addr closed at cleanup.
func newKgo(t *testing.T, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func createTopic(t *testing.T, ctx context.Context, cl *kgo.Client, topic string, parts int32) {
	t.Helper()
	req := createTopicsReq(topic, parts, 1)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil || resp.Topics[0].ErrorCode != 0 {
		t.Fatalf("create %s: %v %+v", topic, err, resp)
	}
}

// partitionEnds lists each partition's end offset.
func partitionEnds(t *testing.T, ctx context.Context, cl *kgo.Client, topic string, parts int32) []int64 {
	t.Helper()
	req := kmsg.NewPtrListOffsetsRequest()
	req.ReplicaID = -1
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	for p := range parts {
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Partition, rp.Timestamp, rp.CurrentLeaderEpoch = p, -1, -1
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = []kmsg.ListOffsetsRequestTopic{rt}
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	ends := make([]int64, parts)
	for _, p := range resp.Topics[0].Partitions {
		if p.ErrorCode != 0 {
			t.Fatalf("list offsets %d: %v", p.Partition, kerr.ErrorForCode(p.ErrorCode))
		}
		ends[p.Partition] = p.Offset
	}
	return ends
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
