package kafka

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/onexbus/onexbus/core"
)

// produceDirect writes n keyed records to topic with kgo.
func produceDirect(t testing.TB, addrs []string, topic string, n int, withIDs bool) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	recs := make([]*kgo.Record, n)
	for i := range n {
		r := &kgo.Record{Topic: topic, Key: fmt.Appendf(nil, "k%d", i%8), Value: fmt.Appendf(nil, "seq-%d", i/8)}
		if withIDs {
			r.Headers = []kgo.RecordHeader{{Key: core.HeaderMessageID, Value: []byte(uuid.NewString())}}
		}
		recs[i] = r
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

func localCount(t testing.TB, b *core.Bus, topic string) (total int64, ids map[uuid.UUID]int) {
	t.Helper()
	tc, _ := b.TopicConfig(topic)
	ids = map[uuid.UUID]int{}
	for p := range tc.Partitions {
		end, _ := b.EndOffset(topic, p)
		total += end
		msgs, err := b.Fetch(context.Background(), topic, p, 0, int(end))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range msgs {
			ids[m.Headers.MessageID]++
		}
	}
	return total, ids
}

// A crash between the local append and the Kafka commit: the next member
// of the group ingests the batch again, and the bus's message_id dedup
// stores each record once; nothing is lost. Records without a message_id
// get one derived from their Kafka position, so they dedup too.
func TestIngestCrashBetweenAppendAndCommit(t *testing.T) {
	for _, withIDs := range []bool{true, false} {
		t.Run(fmt.Sprintf("message_id=%v", withIDs), func(t *testing.T) {
			c, _ := newCluster(t, kfake.SeedTopics(3, topic))
			cfg := testConfig(t, c)
			const n = 2000
			produceDirect(t, c.ListenAddrs(), topic, n, withIDs)
			b := newBus(t)
			var crashed atomic.Bool
			crash := errors.New("simulated crash after the local append")
			in1, err := NewIngest(b, cfg, []string{topic}, WithIngestGroup("g"))
			if err != nil {
				t.Fatal(err)
			}
			in1.ic.afterAppend = func([]*kgo.Record) error {
				crashed.Store(true)
				return crash
			}
			if err := in1.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			waitFor(t, 30*time.Second, "first member crashed", func() bool { return in1.Err() != nil })
			if !errors.Is(in1.Err(), crash) {
				t.Fatalf("ingest stopped with %v", in1.Err())
			}
			appended, _ := localCount(t, b, topic)
			if appended == 0 {
				t.Fatal("nothing appended before the crash")
			}
			if err := in1.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			// The second member re-reads from the last commit (none).
			startIngest(t, b, cfg, []string{topic}, WithIngestGroup("g"))
			waitFor(t, 30*time.Second, "every record ingested", func() bool {
				total, _ := localCount(t, b, topic)
				return total >= n
			})
			total, ids := localCount(t, b, topic)
			if total != n || len(ids) != n {
				t.Fatalf("%d messages, %d distinct ids; want %d of each (re-ingested %d deduplicated)", total, len(ids), n, appended)
			}
			// Kafka partition p lands in local partition p, in order.
			for p := range int32(3) {
				msgs, _ := b.Fetch(context.Background(), topic, p, 0, n)
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
		})
	}
}

// A record the bus refuses (its topic breaks the ONEX grammar under
// EnforceReject) goes to the dead-letter topic with its provenance; the
// rest of the batch is appended.
func TestIngestDeadLettersRefusedRecords(t *testing.T) {
	const bad = "legacy_orders"
	c, _ := newCluster(t, kfake.SeedTopics(1, bad))
	cfg := testConfig(t, c)
	produceDirect(t, c.ListenAddrs(), bad, 3, true)
	b := newBus(t, core.WithEnforcement(core.EnforceReject))
	startIngest(t, b, cfg, []string{bad})
	waitFor(t, 30*time.Second, "dead letters", func() bool {
		end, _ := b.EndOffset(cfg.v.DeadLetterTopic, 0)
		return end == 3
	})
	msgs, err := b.Fetch(context.Background(), cfg.v.DeadLetterTopic, 0, 0, 3)
	if err != nil {
		t.Fatal(err)
	}
	var prov []string
	for _, x := range msgs[0].Headers.Extra {
		prov = append(prov, x.Key+"="+x.Value)
	}
	if got := strings.Join(prov, " "); !strings.Contains(got, "kafka_topic="+bad) || !strings.Contains(got, "kafka_offset=0") {
		t.Fatalf("provenance %q", got)
	}
}

func TestAdmin(t *testing.T) {
	c, _ := newCluster(t)
	cfg := testConfig(t, c)
	a, err := NewAdmin(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ctx := context.Background()
	if err := a.CreateTopic(ctx, "t1", 2, -1); err != nil {
		t.Fatal(err)
	}
	if err := a.CreateTopic(ctx, "t1", 2, -1); err == nil {
		t.Fatal("created t1 twice")
	}
	if err := a.SetPartitions(ctx, "t1", 4); err != nil {
		t.Fatal(err)
	}
	ts, err := a.DescribeTopics(ctx, "t1")
	if err != nil || len(ts) != 1 || ts[0].Partitions != 4 {
		t.Fatalf("%+v %v", ts, err)
	}
	produceDirect(t, c.ListenAddrs(), "t1", 40, true)
	b := newBus(t)
	in := startIngest(t, b, cfg, []string{"t1"}, WithIngestGroup("lagging"))
	waitFor(t, 30*time.Second, "ingested", func() bool { n, _ := localCount(t, b, "t1"); return n == 40 })
	var lag []PartitionLag
	waitFor(t, 30*time.Second, "lag zero after commits", func() bool {
		lag, err = a.Lag(ctx, "lagging")
		if err != nil || len(lag) != 4 {
			return false
		}
		for _, l := range lag {
			if l.Lag != 0 {
				return false
			}
		}
		return true
	})
	if err := in.Close(ctx); err != nil {
		t.Fatal(err)
	}
	produceDirect(t, c.ListenAddrs(), "t1", 8, true)
	lag, err = a.Lag(ctx, "lagging")
	var total int64
	for _, l := range lag {
		total += l.Lag
	}
	if err != nil || total != 8 {
		t.Fatalf("lag %d (%+v), want 8: %v", total, lag, err)
	}
	if err := a.DeleteTopic(ctx, "t1"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "topic gone", func() bool {
		ts, err := a.DescribeTopics(ctx, "t1")
		return err != nil || len(ts) == 0
	})
}

func TestGroupID(t *testing.T) {
	cases := []struct {
		name                                               string
		env, svc, node, purpose, version, instance, suffix string
		want                                               string
	}{
		{"base", "prod", "orders", "node1", "ingest", "v1", "", "", "prod.orders.node1.ingest.v1"},
		{"instance", "prod", "orders", "node1", "ingest", "v1", "2", "", "prod.orders.node1.ingest.v1.2"},
		{"suffix", "prod", "orders", "node1", "ingest", "v1", "", "created", "prod.orders.node1.ingest.v1.created"},
		{"both", "prod", "orders", "node1", "ingest", "v1", "2", "created", "prod.orders.node1.ingest.v1.2.created"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := GroupID(tc.env, tc.svc, tc.node, tc.purpose, tc.version, tc.instance, tc.suffix); got != tc.want {
				t.Fatalf("%q, want %q", got, tc.want)
			}
		})
	}
	t.Run("long ids are cut with a hash", func(t *testing.T) {
		long := strings.Repeat("x", 300)
		a := GroupID("prod", "orders", "node1", "ingest", "v1", "", long)
		b := GroupID("prod", "orders", "node1", "ingest", "v1", "", long+"y")
		if len(a) != MaxGroupIDLen || len(b) != MaxGroupIDLen || a == b {
			t.Fatalf("len %d %d, equal %v", len(a), len(b), a == b)
		}
		if a != GroupID("prod", "orders", "node1", "ingest", "v1", "", long) {
			t.Fatal("not deterministic")
		}
		exact := GroupID("e", "s", "n", "p", "v", "", strings.Repeat("z", MaxGroupIDLen-10))
		if len(exact) != MaxGroupIDLen || strings.ContainsAny(exact[len(exact)-17:], "0123456789abcdef.") && !strings.HasSuffix(exact, "zzz") {
			t.Fatalf("an id of exactly %d characters is kept: %q", MaxGroupIDLen, exact)
		}
	})
}

// Issue 9: a local append that fails for a while (here a publish gate
// refusing the first appends, well past KAFKA_MAX_RETRY_ATTEMPTS) must not
// stop the ingest for good while it holds its Kafka partitions: it retries
// with capped backoff until the bus takes the records, and every record
// arrives, none lost, none twice.
func TestIngestRetriesFailingAppends(t *testing.T) {
	c, _ := newCluster(t, kfake.SeedTopics(2, topic))
	cfg := testConfig(t, c)
	cfg = with(t, cfg, "KAFKA_CIRCUIT_BREAKER_RESET_TIMEOUT", "0.05") // the backoff's cap
	const n, refusals = 200, 12
	produceDirect(t, c.ListenAddrs(), topic, n, true)
	b := newBus(t)
	var refused atomic.Int32
	outage := errors.New("disk full (simulated)")
	b.AddPublishGate(func(_ context.Context, tp string, _, _ int) error {
		if tp == topic && refused.Load() < refusals {
			refused.Add(1)
			return outage
		}
		return nil
	})
	in := startIngest(t, b, cfg, []string{topic}, WithIngestGroup("g"))
	waitFor(t, 30*time.Second, "every record ingested after the outage", func() bool {
		total, _ := localCount(t, b, topic)
		return total >= n || in.Err() != nil
	})
	if err := in.Err(); err != nil {
		t.Fatalf("ingest stopped after %d refusals: %v", refused.Load(), err)
	}
	if got := refused.Load(); got != refusals {
		t.Fatalf("%d refusals, want %d", got, refusals)
	}
	total, ids := localCount(t, b, topic)
	if total != n || len(ids) != n {
		t.Fatalf("%d messages, %d distinct ids; want %d of each", total, len(ids), n)
	}
}

// Issue 9: once the bus is closed nothing can be ingested: the member
// stops with an error wrapping core.ErrClosed and leaves the group, so
// another member takes its partitions instead of the group waiting for a
// session timeout.
func TestIngestLeavesGroupWhenBusCloses(t *testing.T) {
	c, _ := newCluster(t, kfake.SeedTopics(2, topic))
	cfg := testConfig(t, c)
	// A member that stays would hold its partitions this long.
	cfg = with(t, cfg, "KAFKA_SESSION_TIMEOUT_MS", "60000", "KAFKA_MAX_POLL_INTERVAL_MS", "60000")
	b1 := newBus(t)
	in1 := startIngest(t, b1, cfg, []string{topic}, WithIngestGroup("g"))
	produceSeq(t, c.ListenAddrs(), topic, 0, 16)
	waitFor(t, 30*time.Second, "first member ingests", func() bool { n, _ := localCount(t, b1, topic); return n == 16 })
	if err := b1.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	produceSeq(t, c.ListenAddrs(), topic, 16, 64)
	waitFor(t, 30*time.Second, "first member stops", func() bool { return in1.Err() != nil })
	if !errors.Is(in1.Err(), core.ErrClosed) {
		t.Fatalf("stopped with %v, want core.ErrClosed", in1.Err())
	}
	b2 := newBus(t)
	startIngest(t, b2, cfg, []string{topic}, WithIngestGroup("g"))
	waitFor(t, 30*time.Second, "second member ingests what the first did not commit", func() bool {
		n, _ := localCount(t, b2, topic)
		return n >= 48
	})
}
