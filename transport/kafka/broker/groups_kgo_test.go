package broker

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/internal/testutil"
)

// produceN produces n records to topic (created with parts partitions)
// and returns them by value.
func produceN(t *testing.T, tb *testBroker, topic string, parts int32, n int) {
	t.Helper()
	ctx := testCtx(t)
	adm := kadm.NewClient(tb.client(t))
	if _, err := adm.CreateTopic(ctx, parts, 1, nil, topic); err != nil {
		t.Fatalf("create topic: %v", err)
	}
	prod := tb.client(t, kgo.DefaultProduceTopic(topic))
	var recs []*kgo.Record
	for i := range n {
		recs = append(recs, &kgo.Record{Key: fmt.Appendf(nil, "k%d", i), Value: fmt.Appendf(nil, "%d", i)})
	}
	if err := prod.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce: %v", err)
	}
}

// Real kgo consumer groups with each balancer: two members share the
// partitions, every record is consumed, commits are durable and visible to
// kadm (offsets, lag 0, a Stable group of two), and DeleteGroups works
// once the members are gone.
func TestKgoConsumerGroupBalancers(t *testing.T) {
	for _, bal := range []struct {
		name string
		b    kgo.GroupBalancer
	}{
		{"cooperative-sticky", kgo.CooperativeStickyBalancer()},
		{"range", kgo.RangeBalancer()},
		{"roundrobin", kgo.RoundRobinBalancer()},
	} {
		t.Run(bal.name, func(t *testing.T) {
			tb := startBroker(t)
			ctx := testCtx(t)
			const n, parts = 400, 4
			produceN(t, tb, "events", parts, n)

			var mu sync.Mutex
			seen := map[string]bool{}
			polled := make(chan struct{}, 1)
			var members []*kgo.Client
			for range 2 {
				cl := tb.client(t, kgo.ConsumerGroup("g-"+bal.name), kgo.ConsumeTopics("events"), kgo.Balancers(bal.b),
					kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(200*time.Millisecond))
				members = append(members, cl)
			}
			var wg sync.WaitGroup
			pollCtx, stop := context.WithCancel(ctx)
			for _, cl := range members {
				wg.Go(func() {
					for pollCtx.Err() == nil {
						fs := cl.PollFetches(pollCtx)
						fs.EachRecord(func(r *kgo.Record) {
							mu.Lock()
							seen[string(r.Value)] = true
							mu.Unlock()
						})
						select {
						case polled <- struct{}{}:
						default:
						}
					}
				})
			}
			testutil.Eventually(t, 20*time.Second, func() bool {
				mu.Lock()
				defer mu.Unlock()
				return len(seen) == n
			}, "every record consumed by the group")

			adm := kadm.NewClient(tb.client(t))
			testutil.Eventually(t, 20*time.Second, func() bool {
				dg, err := adm.DescribeGroups(ctx, "g-"+bal.name)
				if err != nil {
					return false
				}
				g := dg["g-"+bal.name]
				assigned := 0
				for _, m := range g.Members {
					if c, ok := m.Assigned.AsConsumer(); ok {
						for _, tp := range c.Topics {
							assigned += len(tp.Partitions)
						}
					}
				}
				return g.State == "Stable" && len(g.Members) == 2 && assigned == parts
			}, "a Stable group of two members holding all partitions")

			stop()
			wg.Wait()
			for _, cl := range members {
				if err := cl.CommitUncommittedOffsets(ctx); err != nil {
					t.Fatalf("commit: %v", err)
				}
			}
			lag, err := adm.Lag(ctx, "g-"+bal.name)
			if err != nil {
				t.Fatal(err)
			}
			if l := lag["g-"+bal.name]; l.Error() != nil || l.Lag.Total() != 0 {
				t.Fatalf("lag %+v (%v), want 0", l.Lag, l.Error())
			}
			for _, cl := range members {
				cl.Close()
			}
			offs, err := adm.FetchOffsets(ctx, "g-"+bal.name)
			if err != nil {
				t.Fatal(err)
			}
			var total int64
			offs.Each(func(o kadm.OffsetResponse) { total += o.At })
			if total != n {
				t.Fatalf("committed offsets sum to %d, want %d", total, n)
			}
			dr, err := adm.DeleteGroups(ctx, "g-"+bal.name)
			if err != nil || dr.Error() != nil {
				t.Fatalf("delete group: %v %v", err, dr.Error())
			}
			if o := tb.bus.GroupOffsets("g-" + bal.name); len(o) != 0 {
				t.Fatalf("offsets after DeleteGroups: %+v", o)
			}
		})
	}
}

// An embedded Subscribe group and a kgo consumer group of the same name
// share offsets: kadm shows the embedded group (protocol type onexbus)
// with its lag, a kgo member cannot join while it is live, and once it
// leaves the kgo group starts from its cursor and holds the name against
// Subscribe.
func TestKgoGroupSharesOffsetsWithEmbeddedGroup(t *testing.T) {
	tb := startBroker(t)
	ctx := testCtx(t)
	const n = 30
	if _, err := tb.bus.CreateTopic(ctx, "shared", core.TopicConfig{Partitions: 1}); err != nil {
		t.Fatal(err)
	}
	publish := func(from, to int) {
		for i := from; i < to; i++ {
			if _, err := tb.bus.Publish(ctx, &core.Message{Topic: "shared", Value: fmt.Appendf(nil, "%d", i)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	publish(0, 10)

	got := make(chan int64, n)
	release := make(chan struct{})
	var releaseOnce sync.Once
	defer releaseOnce.Do(func() { close(release) })
	sub, err := tb.bus.Subscribe(ctx, "shared", "mixed", func(ctx context.Context, m *core.Message) error {
		if m.Offset >= 10 {
			select {
			case <-release:
			case <-ctx.Done():
			}
			return core.ErrReleased
		}
		got <- m.Offset
		return nil
	}, core.SubscribeStart(core.StartEarliest))
	if err != nil {
		t.Fatal(err)
	}
	for range 10 {
		testutil.Receive(t, got, 10*time.Second)
	}
	testutil.Eventually(t, 10*time.Second, func() bool {
		o, ok, _ := tb.bus.GroupOffset("mixed", "shared", 0)
		return ok && o.Offset == 10
	}, "the embedded group's cursor at 10")
	publish(10, n) // held back by the handler
	adm := kadm.NewClient(tb.client(t))
	testutil.Eventually(t, 10*time.Second, func() bool {
		lag, err := adm.Lag(ctx, "mixed")
		if err != nil {
			return false
		}
		l := lag["mixed"]
		return l.Error() == nil && l.ProtocolType == "onexbus" && l.State == "Stable" && l.Lag.Total() == n-10
	}, "kadm lag of the embedded group: 20 behind")
	listed, err := adm.ListGroups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if lg, ok := listed["mixed"]; !ok || lg.ProtocolType != "onexbus" {
		t.Fatalf("ListGroups: %+v, want mixed with protocol type onexbus", listed)
	}

	// A kgo member cannot join while the embedded member is live.
	joinCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	blocked := tb.client(t, kgo.ConsumerGroup("mixed"), kgo.ConsumeTopics("shared"))
	var sawInconsistent bool
	for !sawInconsistent && joinCtx.Err() == nil {
		blocked.PollFetches(joinCtx).EachError(func(_ string, _ int32, err error) {
			sawInconsistent = sawInconsistent || errors.Is(err, kerr.InconsistentGroupProtocol)
		})
	}
	if !sawInconsistent {
		t.Fatal("kgo join of a group with embedded members: no INCONSISTENT_GROUP_PROTOCOL")
	}
	blocked.Close()

	releaseOnce.Do(func() { close(release) })
	if err := sub.Unsubscribe(ctx); err != nil {
		t.Fatal(err)
	}
	offs, err := adm.FetchOffsets(ctx, "mixed")
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := offs.Lookup("shared", 0); !ok || o.At != 10 {
		t.Fatalf("committed offset of the embedded group seen by kadm: %+v, want 10", o)
	}
	cl := tb.client(t, kgo.ConsumerGroup("mixed"), kgo.ConsumeTopics("shared"), kgo.FetchMaxWait(200*time.Millisecond))
	polling := make(chan struct{})
	go func() {
		defer close(polling)
		for ctx.Err() == nil && !cl.PollFetches(ctx).IsClientClosed() {
		}
	}()
	defer func() { cl.Close(); <-polling }()
	testutil.Eventually(t, 10*time.Second, func() bool {
		dg, err := adm.DescribeGroups(ctx, "mixed")
		return err == nil && dg["mixed"].ProtocolType == "consumer" && dg["mixed"].State == "Stable" && len(dg["mixed"].Members) == 1
	}, "the kgo member joined once the embedded member left")
	if _, err := tb.bus.Subscribe(ctx, "shared", "mixed", func(context.Context, *core.Message) error { return nil }); !errors.Is(err, core.ErrGroupInUse) {
		t.Fatalf("Subscribe with a live kgo member: %v, want ErrGroupInUse", err)
	}
}

// One offset space end to end: records produced by kgo are delivered to an
// embedded group; once it leaves, a kgo consumer of the same group
// fetches from where it stopped, and its commits move the cursor an
// embedded member resumes from.
func TestKgoGroupResumesAtEmbeddedCursor(t *testing.T) {
	tb := startBroker(t)
	ctx := testCtx(t)
	produceN(t, tb, "handover", 1, 10)

	got := make(chan int64, 10)
	sub, err := tb.bus.Subscribe(ctx, "handover", "relay", func(_ context.Context, m *core.Message) error {
		got <- m.Offset
		return nil
	}, core.SubscribeStart(core.StartEarliest))
	if err != nil {
		t.Fatal(err)
	}
	for want := int64(0); want < 10; want++ {
		if off := testutil.Receive(t, got, 10*time.Second); off != want {
			t.Fatalf("embedded member got offset %d, want %d", off, want)
		}
	}
	testutil.Eventually(t, 10*time.Second, func() bool {
		o, ok, _ := tb.bus.GroupOffset("relay", "handover", 0)
		return ok && o.Offset == 10
	}, "the embedded cursor at 10")
	if err := sub.Unsubscribe(ctx); err != nil {
		t.Fatal(err)
	}
	prod := tb.client(t, kgo.DefaultProduceTopic("handover"))
	var late []*kgo.Record
	for i := range 5 {
		late = append(late, &kgo.Record{Value: fmt.Appendf(nil, "late-%d", i)})
	}
	if err := prod.ProduceSync(ctx, late...).FirstErr(); err != nil {
		t.Fatal(err)
	}

	cl := tb.client(t, kgo.ConsumerGroup("relay"), kgo.ConsumeTopics("handover"), kgo.DisableAutoCommit(), kgo.FetchMaxWait(200*time.Millisecond))
	var offsets []int64
	for len(offsets) < 5 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("kgo got %v before the deadline: %v", offsets, fs.Errors())
		}
		fs.EachRecord(func(r *kgo.Record) { offsets = append(offsets, r.Offset) })
	}
	if offsets[0] != 10 || len(offsets) != 5 {
		t.Fatalf("kgo member fetched offsets %v, want 10..14 (from the embedded cursor)", offsets)
	}
	if err := cl.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatal(err)
	}
	cl.Close() // leaves the group

	got2 := make(chan int64, 1)
	sub, err = tb.bus.Subscribe(ctx, "handover", "relay", func(_ context.Context, m *core.Message) error {
		got2 <- m.Offset
		return nil
	})
	if err != nil {
		t.Fatalf("subscribe after the kgo member left: %v", err)
	}
	defer sub.Unsubscribe(ctx)
	if _, err := prod.ProduceSync(ctx, &kgo.Record{Value: []byte("after")}).First(); err != nil {
		t.Fatal(err)
	}
	if off := testutil.Receive(t, got2, 10*time.Second); off != 15 {
		t.Fatalf("embedded member resumed at %d, want 15 (the kgo commit)", off)
	}
}
