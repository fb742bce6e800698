package kafka

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/onexbus/onexbus/core"
)

// produceSeq writes records from..to-1 of the sequence to topic, keyed
// k0..k7 with values seq-<i/8> and a message_id each.
func produceSeq(t testing.TB, addrs []string, topic string, from, to int) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var recs []*kgo.Record
	for i := from; i < to; i++ {
		recs = append(recs, &kgo.Record{Topic: topic, Key: fmt.Appendf(nil, "k%d", i%8), Value: fmt.Appendf(nil, "seq-%d", i/8),
			Headers: []kgo.RecordHeader{{Key: core.HeaderMessageID, Value: []byte(uuid.NewString())}}})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// assignment returns the partitions of topic each member of group owns,
// by member id (instance id where it has one).
func assignment(t testing.TB, adm *kadm.Client, group string) map[string][]int32 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	gs, err := adm.DescribeGroups(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]int32{}
	for _, m := range gs[group].Members {
		id := m.MemberID
		if m.InstanceID != nil {
			id = *m.InstanceID
		}
		ca, _ := m.Assigned.AsConsumer()
		out[id] = nil
		if ca == nil {
			continue
		}
		for _, tp := range ca.Topics {
			if tp.Topic == topic {
				out[id] = append(out[id], tp.Partitions...)
			}
		}
	}
	return out
}

// commitWatch samples, until stopped, the group's committed Kafka offsets
// and then the local log's ends: Kafka partition p is appended in order to
// local partition p, one local message per record, so a commit ahead of
// the local end is a commit before the append. It records the first such
// violation.
type commitWatch struct {
	stop   chan struct{}
	done   chan struct{}
	mu     sync.Mutex // protects bad
	bad    string
	checks atomic.Int64
}

func watchCommits(t *testing.T, adm *kadm.Client, b *core.Bus, group string, parts int32) *commitWatch {
	t.Helper()
	w := &commitWatch{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for {
			select {
			case <-w.stop:
				return
			default:
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			offs, err := adm.FetchOffsets(ctx, group)
			cancel()
			if err != nil {
				continue
			}
			for p := range parts {
				o, ok := offs.Lookup(topic, p)
				if !ok || o.Err != nil {
					continue
				}
				end, _ := b.EndOffset(topic, p)
				if o.At > end {
					w.mu.Lock()
					if w.bad == "" {
						w.bad = fmt.Sprintf("partition %d committed at %d, local end %d", p, o.At, end)
					}
					w.mu.Unlock()
				}
			}
			w.checks.Add(1)
			// Pacing, not an assertion: leave the CPUs to the members.
			time.Sleep(time.Millisecond)
		}
	}()
	t.Cleanup(w.finish)
	return w
}

func (w *commitWatch) finish() {
	select {
	case <-w.stop:
	default:
		close(w.stop)
	}
	<-w.done
}

func (w *commitWatch) check(t *testing.T) {
	t.Helper()
	w.finish()
	if w.bad != "" {
		t.Fatal("a Kafka offset was committed before its local append: " + w.bad)
	}
	t.Logf("%d samples of committed offsets against local ends", w.checks.Load())
}

// ingestedAll reports whether the group has committed every record of the
// topic and the local log holds at least want messages.
func ingestedAll(t *testing.T, adm *kadm.Client, b *core.Bus, group string, parts int32, want int) bool {
	total, _ := localCount(t, b, topic)
	if total < int64(want) {
		return false
	}
	lags, err := adm.Lag(context.Background(), group)
	if err != nil {
		return false
	}
	ls := lags[group].Lag[topic]
	for _, l := range ls {
		if l.Err != nil || l.End.Offset > 0 && l.Commit.At != l.End.Offset {
			return false
		}
	}
	return len(ls) == int(parts)
}

// checkIngested waits until the group has committed every record of the
// topic, then checks that the local log holds each once, in per-key order
// per partition.
func checkIngested(t *testing.T, adm *kadm.Client, b *core.Bus, group string, parts int32, want int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !ingestedAll(t, adm, b, group, parts, want) {
		if time.Now().After(deadline) {
			total, _ := localCount(t, b, topic)
			lags, err := adm.Lag(context.Background(), group)
			t.Fatalf("not all ingested and committed within 60s: %d of %d local; lag %+v %v", total, want, lags[group].Lag.Sorted(), err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	total, ids := localCount(t, b, topic)
	if total != int64(want) || len(ids) != want {
		t.Fatalf("%d local messages, %d distinct ids; want %d of each", total, len(ids), want)
	}
	for p := range parts {
		msgs, err := b.Fetch(context.Background(), topic, p, 0, want)
		if err != nil {
			t.Fatal(err)
		}
		next := map[string]int{}
		for _, m := range msgs {
			var seq int
			fmt.Sscanf(string(m.Value), "seq-%d", &seq)
			if seq != next[string(m.Key)] {
				t.Fatalf("partition %d key %s: seq %d, want %d", p, m.Key, seq, next[string(m.Key)])
			}
			next[string(m.Key)]++
		}
	}
}

// Two ingest members in one group: partitions move to the second when it
// joins and back to the first when the second leaves, while records keep
// arriving. Nothing is lost, the local log holds each record once and in
// order, and no Kafka offset is ever committed ahead of the local append
// (a member gives partitions up only after its batch is appended and
// committed).
func TestIngestRebalance(t *testing.T) {
	const parts = 6
	const group = "rebalance"
	c, _ := newCluster(t, kfake.SeedTopics(parts, topic))
	cfg := testConfig(t, c)
	adm := newAdm(t, c)
	b := newBus(t)
	w := watchCommits(t, adm, b, group, parts)

	produceSeq(t, c.ListenAddrs(), topic, 0, 4000)
	var polled [2]atomic.Int64
	member := func(i int) *Ingest {
		in, err := NewIngest(b, cfg, []string{topic}, WithIngestGroup(group), WithMaxPollRecords(200))
		if err != nil {
			t.Fatal(err)
		}
		in.ic.afterAppend = func(recs []*kgo.Record) error { polled[i].Add(int64(len(recs))); return nil }
		if err := in.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { in.Close(context.Background()) })
		return in
	}
	first := member(0)
	waitFor(t, 30*time.Second, "the first member owns every partition", func() bool {
		a := assignment(t, adm, group)
		return len(a) == 1 && len(slices.Concat(slices.Collect(maps.Values(a))...)) == parts
	})
	second := member(1)
	waitFor(t, 30*time.Second, "the partitions are shared by two members", func() bool {
		a := assignment(t, adm, group)
		if len(a) != 2 {
			return false
		}
		for _, ps := range a {
			if len(ps) == 0 {
				return false
			}
		}
		return true
	})
	produceSeq(t, c.ListenAddrs(), topic, 4000, 8000)
	waitFor(t, 30*time.Second, "the second member ingested some", func() bool { return polled[1].Load() > 0 })

	if err := second.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	produceSeq(t, c.ListenAddrs(), topic, 8000, 12000)
	checkIngested(t, adm, b, group, parts, 12000)
	if a := assignment(t, adm, group); len(a) != 1 {
		t.Fatalf("%d members after the second left: %v", len(a), a)
	}
	if err := first.Err(); err != nil {
		t.Fatal(err)
	}
	t.Logf("first member appended %d records, second %d (re-ingested duplicates included)", polled[0].Load(), polled[1].Load())
	w.check(t)
}

// A static member (WithInstanceID) that restarts with the same group
// instance id resumes from its committed offsets: the records published
// while it was down arrive, and nothing it had committed is read again.
func TestIngestStaticMembershipRestart(t *testing.T) {
	const parts = 3
	const group = "static"
	c, _ := newCluster(t, kfake.SeedTopics(parts, topic))
	cfg := testConfig(t, c)
	adm := newAdm(t, c)
	b := newBus(t)
	w := watchCommits(t, adm, b, group, parts)

	produceSeq(t, c.ListenAddrs(), topic, 0, 3000)
	in1 := startIngest(t, b, cfg, []string{topic}, WithIngestGroup(group), WithInstanceID("node-1"))
	checkIngested(t, adm, b, group, parts, 3000)
	if err := in1.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	// A static member does not leave on close: it still owns its
	// partitions until its session times out.
	if a := assignment(t, adm, group); len(a[("node-1")]) != parts {
		t.Fatalf("after the static member closed the group is %v", a)
	}

	produceSeq(t, c.ListenAddrs(), topic, 3000, 5000)
	var polled atomic.Int64
	in2, err := NewIngest(b, cfg, []string{topic}, WithIngestGroup(group), WithInstanceID("node-1"))
	if err != nil {
		t.Fatal(err)
	}
	in2.ic.afterAppend = func(recs []*kgo.Record) error { polled.Add(int64(len(recs))); return nil }
	if err := in2.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in2.Close(context.Background()) })
	checkIngested(t, adm, b, group, parts, 5000)
	if n := polled.Load(); n != 2000 {
		t.Fatalf("the restarted member read %d records, want the 2000 published while it was down", n)
	}
	if a := assignment(t, adm, group); len(a) != 1 || len(a["node-1"]) != parts {
		t.Fatalf("group after the restart: %v", a)
	}
	w.check(t)
}

func newAdm(t testing.TB, c *kfake.Cluster) *kadm.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return kadm.NewClient(cl)
}
