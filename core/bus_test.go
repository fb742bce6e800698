package core_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/internal/testutil"
	"github.com/onexbus/onexbus/store"
	"github.com/onexbus/onexbus/store/bolt"
	memstore "github.com/onexbus/onexbus/store/memory"
)

const wait = 10 * time.Second

// backend opens a store for a bus; reopen gives the same data again where
// the store is durable.
type backend struct {
	name    string
	durable bool
	open    func(t *testing.T, dir string) store.Store
	policy  core.Option
}

var backends = []backend{
	{name: "memory", open: func(*testing.T, string) store.Store { return memstore.New() }, policy: core.WithDurability(core.DurabilityNone, 0)},
	{name: "bolt", durable: true, open: func(t *testing.T, dir string) store.Store {
		t.Helper()
		st, err := bolt.Open(filepath.Join(dir, "bus.db"))
		if err != nil {
			t.Fatal(err)
		}
		return st
	}, policy: core.WithDurability(core.DurabilitySync, 0)},
}

// forEachBackend runs fn once per store, with a constructor of buses on it.
func forEachBackend(t *testing.T, fn func(t *testing.T, newBus func(opts ...core.Option) *core.Bus)) {
	for _, be := range backends {
		t.Run(be.name, func(t *testing.T) {
			fn(t, func(opts ...core.Option) *core.Bus {
				t.Helper()
				opts = append([]core.Option{core.WithStore(be.open(t, t.TempDir())), be.policy}, opts...)
				b, err := core.New(opts...)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = b.Close(context.Background()) })
				return b
			})
		})
	}
}

func msg(topic, value string) *core.Message {
	return &core.Message{Topic: topic, Value: []byte(value)}
}

// collector is a handler that sends every message it gets on a channel.
func collector(buf int) (core.Handler, chan *core.Message) {
	ch := make(chan *core.Message, buf)
	return func(_ context.Context, m *core.Message) error { ch <- m; return nil }, ch
}

// ACCEPTANCE 1: publish after Close fails with a matchable error; Close is
// idempotent and ten concurrent Closes are safe.
func TestPublishAfterCloseAndConcurrentClose(t *testing.T) {
	forEachBackend(t, func(t *testing.T, newBus func(...core.Option) *core.Bus) {
		b := newBus()
		ctx := context.Background()
		if _, err := b.Publish(ctx, msg("t1", "a")); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make([]error, 10)
		for i := range 10 {
			wg.Go(func() { errs[i] = b.Close(ctx) })
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("close %d: %v", i, err)
			}
		}
		if _, err := b.Publish(ctx, msg("t1", "b")); !errors.Is(err, core.ErrClosed) {
			t.Fatalf("publish after close: got %v, want ErrClosed", err)
		}
		if _, err := b.Subscribe(ctx, "t1", "g", func(context.Context, *core.Message) error { return nil }); !errors.Is(err, core.ErrClosed) {
			t.Fatalf("subscribe after close: got %v, want ErrClosed", err)
		}
		if err := b.Close(ctx); err != nil {
			t.Fatalf("second close: %v", err)
		}
	})
}

// ACCEPTANCE 2: Close waits for in-flight handlers, bounded by its context.
func TestCloseWaitsForInFlightHandler(t *testing.T) {
	forEachBackend(t, func(t *testing.T, newBus func(...core.Option) *core.Bus) {
		b := newBus()
		ctx := context.Background()
		started, release, finished := make(chan struct{}), make(chan struct{}), make(chan struct{})
		_, err := b.Subscribe(ctx, "t1", "g", func(context.Context, *core.Message) error {
			close(started)
			<-release
			close(finished)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.Publish(ctx, msg("t1", "a")); err != nil {
			t.Fatal(err)
		}
		testutil.Receive(t, started, wait)
		closed := make(chan error, 1)
		go func() { closed <- b.Close(ctx) }()
		select {
		case err := <-closed:
			t.Fatalf("Close returned (%v) while a handler was running", err)
		case <-time.After(20 * time.Millisecond):
		}
		close(release)
		if err := testutil.Receive(t, closed, wait); err != nil {
			t.Fatal(err)
		}
		select {
		case <-finished:
		default:
			t.Fatal("Close returned before the handler finished")
		}
	})
}

// ACCEPTANCE 2: when Close's context ends first, the handler's context is
// cancelled and Close reports it.
func TestCloseBoundedByContext(t *testing.T) {
	forEachBackend(t, func(t *testing.T, newBus func(...core.Option) *core.Bus) {
		b := newBus()
		started := make(chan struct{})
		_, err := b.Subscribe(context.Background(), "t1", "g", func(ctx context.Context, _ *core.Message) error {
			close(started)
			<-ctx.Done()
			return ctx.Err()
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.Publish(context.Background(), msg("t1", "a")); err != nil {
			t.Fatal(err)
		}
		testutil.Receive(t, started, wait)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
		defer cancel()
		if err := b.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Close: got %v, want DeadlineExceeded", err)
		}
	})
}

// ACCEPTANCE 3: Health reports state, subscriber and topic counts and the
// history size.
func TestHealth(t *testing.T) {
	forEachBackend(t, func(t *testing.T, newBus func(...core.Option) *core.Bus) {
		b := newBus()
		ctx := context.Background()
		h, _ := collector(10)
		if _, err := b.Subscribe(ctx, "t1", "g1", h); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Subscribe(ctx, "t2", "g2", h); err != nil {
			t.Fatal(err)
		}
		for _, tp := range []string{"t1", "t1", "t2"} {
			if _, err := b.Publish(ctx, msg(tp, "x")); err != nil {
				t.Fatal(err)
			}
		}
		got := b.Health()
		want := core.Health{Status: "started", Subscribers: 2, Groups: 2, Topics: 2, HistorySize: 3}
		if got.Status != want.Status || got.Subscribers != want.Subscribers || got.Groups != want.Groups ||
			got.Topics != want.Topics || got.HistorySize != want.HistorySize {
			t.Fatalf("Health = %+v, want %+v", got, want)
		}
		if err := b.Close(ctx); err != nil {
			t.Fatal(err)
		}
		if s := b.Health().Status; s != "stopped" {
			t.Fatalf("status after close = %q", s)
		}
	})
}

// ACCEPTANCE 4: offsets are per topic-partition, dense, from 0.
func TestOffsetsPerTopic(t *testing.T) {
	forEachBackend(t, func(t *testing.T, newBus func(...core.Option) *core.Bus) {
		b := newBus()
		ctx := context.Background()
		for i, tc := range []struct {
			topic string
			want  int64
		}{{"t1", 0}, {"t1", 1}, {"t2", 0}} {
			off, err := b.Publish(ctx, msg(tc.topic, "v"))
			if err != nil || off != tc.want {
				t.Fatalf("publish %d to %s: offset %d, %v; want %d", i, tc.topic, off, err, tc.want)
			}
		}
		for topic, want := range map[string]int64{"t1": 2, "t2": 1, "unknown": 0} {
			if end, err := b.EndOffset(topic, 0); err != nil || end != want {
				t.Errorf("EndOffset(%s) = %d, %v; want %d", topic, end, err, want)
			}
		}
	})
}

// ACCEPTANCE 5: N concurrent publishes to one partition get 0..N-1 once each.
func TestConcurrentPublishDenseOffsets(t *testing.T) {
	forEachBackend(t, func(t *testing.T, newBus func(...core.Option) *core.Bus) {
		b := newBus()
		const n = 500
		offsets := make([]int64, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				off, err := b.Publish(context.Background(), msg("t1", fmt.Sprint(i)))
				if err != nil {
					t.Error(err)
				}
				offsets[i] = off
			})
		}
		wg.Wait()
		seen := make([]bool, n)
		for _, off := range offsets {
			if off < 0 || off >= n || seen[off] {
				t.Fatalf("offset %d out of range or repeated", off)
			}
			seen[off] = true
		}
		if end, _ := b.EndOffset("t1", 0); end != n {
			t.Fatalf("end offset %d, want %d", end, n)
		}
	})
}

// ACCEPTANCE 6: omitted headers get their defaults; ACCEPTANCE 7: a given
// correlation_id is the one history and delivery carry.
func TestHeaderDefaultsAndCorrelationID(t *testing.T) {
	forEachBackend(t, func(t *testing.T, newBus func(...core.Option) *core.Bus) {
		b := newBus(core.WithSource("billing"))
		ctx := context.Background()
		h, got := collector(2)
		if _, err := b.Subscribe(ctx, "onex.evt.billing.paid.v1", "g", h); err != nil {
			t.Fatal(err)
		}
		cid := uuid.New()
		m := msg("onex.evt.billing.paid.v1", `{"amount":1}`)
		m.Headers.CorrelationID = cid
		if _, err := b.Publish(ctx, m); err != nil {
			t.Fatal(err)
		}
		d := testutil.Receive(t, got, wait)
		hd := d.Headers
		if hd.Source != "billing" || hd.EventType != "onex.evt.billing.paid.v1" || hd.ContentType != "application/json" ||
			hd.SchemaVersion != "1.0.0" || hd.Priority != core.PriorityNormal || hd.RetryCount != 0 || hd.MaxRetries != 3 {
			t.Errorf("defaults not applied: %+v", hd)
		}
		if hd.MessageID == uuid.Nil || hd.CorrelationID != cid {
			t.Errorf("message_id %v, correlation_id %v (want %v)", hd.MessageID, hd.CorrelationID, cid)
		}
		hist, err := b.History(ctx, "onex.evt.billing.paid.v1", 1)
		if err != nil || len(hist) != 1 || hist[0].Headers.CorrelationID != cid || hist[0].Headers.MessageID != hd.MessageID {
			t.Fatalf("history %v, %v", hist, err)
		}
		bad := msg("t1", "x")
		bad.Headers.EventType = ""
		// An empty event_type is defaulted to the topic, so it passes;
		// only a message whose event_type stays empty fails, which the
		// defaults make impossible through Publish.
		if _, err := b.Publish(ctx, bad); err != nil {
			t.Fatalf("publish with defaulted event_type: %v", err)
		}
	})
}

// ACCEPTANCE 9: topic names follow Kafka's rules, with the rule named.
func TestPublishTopicRules(t *testing.T) {
	forEachBackend(t, func(t *testing.T, newBus func(...core.Option) *core.Bus) {
		b := newBus(core.WithEnforcement(core.EnforceOff))
		ctx := context.Background()
		long := string(make([]byte, 255))
		for i := range []byte(long) {
			_ = i
		}
		name255 := ""
		for range 255 {
			name255 += "a"
		}
		if _, err := b.Publish(ctx, msg(name255, "x")); err != nil {
			t.Fatalf("255 characters: %v", err)
		}
		for _, bad := range []string{name255 + "a", ".", "..", "a b", "a@b", "tópico", "a\nb", "a\tb", ""} {
			_, err := b.Publish(ctx, msg(bad, "x"))
			if !errors.Is(err, core.ErrInvalidTopic) {
				t.Errorf("topic %q: got %v, want ErrInvalidTopic", bad, err)
			}
		}
		strict := newBus(core.WithEnforcement(core.EnforceReject))
		if _, err := strict.Publish(ctx, msg("orders", "x")); !errors.Is(err, core.ErrNotONEXTopic) {
			t.Errorf("reject mode, non-ONEX topic: got %v", err)
		}
		if _, err := strict.Publish(ctx, msg("onex.cmd.billing.charge.v1", "x")); err != nil {
			t.Errorf("reject mode, ONEX topic: %v", err)
		}
	})
}

// ACCEPTANCE 10: the same message_id twice within the dedup window is
// stored once.
func TestDedupMessageID(t *testing.T) {
	forEachBackend(t, func(t *testing.T, newBus func(...core.Option) *core.Bus) {
		b := newBus()
		ctx := context.Background()
		id := uuid.New()
		var offs []int64
		for range 2 {
			m := msg("t1", "x")
			m.Headers.MessageID = id
			off, err := b.Publish(ctx, m)
			if err != nil {
				t.Fatal(err)
			}
			offs = append(offs, off)
		}
		if offs[0] != 0 || offs[1] != 0 {
			t.Fatalf("offsets %v, want the first copy's offset twice", offs)
		}
		if end, _ := b.EndOffset("t1", 0); end != 1 {
			t.Fatalf("end offset %d, want 1", end)
		}
	})
}

// ACCEPTANCE 11: two groups both receive every message; a subscriber on
// another topic receives none.
func TestGroupsFanOut(t *testing.T) {
	forEachBackend(t, func(t *testing.T, newBus func(...core.Option) *core.Bus) {
		b := newBus()
		ctx := context.Background()
		h1, c1 := collector(10)
		h2, c2 := collector(10)
		h3, c3 := collector(10)
		for _, s := range []struct {
			topic, group string
			h            core.Handler
		}{{"t1", "g1", h1}, {"t1", "g2", h2}, {"t2", "g3", h3}} {
			if _, err := b.Subscribe(ctx, s.topic, s.group, s.h); err != nil {
				t.Fatal(err)
			}
		}
		for i := range 3 {
			if _, err := b.Publish(ctx, msg("t1", fmt.Sprint(i))); err != nil {
				t.Fatal(err)
			}
		}
		for _, c := range []chan *core.Message{c1, c2} {
			for i := range 3 {
				if m := testutil.Receive(t, c, wait); string(m.Value) != fmt.Sprint(i) {
					t.Fatalf("got %q, want %d", m.Value, i)
				}
			}
		}
		if err := b.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		select {
		case m := <-c3:
			t.Fatalf("subscriber of t2 got %q", m.Value)
		default:
		}
	})
}

// ACCEPTANCE 12: members of one group share the partitions: each message
// goes to exactly one member.
func TestGroupMembersShare(t *testing.T) {
	forEachBackend(t, func(t *testing.T, newBus func(...core.Option) *core.Bus) {
		b := newBus(core.WithTopic("t1", core.TopicConfig{Partitions: 4}))
		ctx := context.Background()
		got := make(chan string, 100)
		counts := [2]int{}
		var mu sync.Mutex
		for i := range 2 {
			_, err := b.Subscribe(ctx, "t1", "g", func(_ context.Context, m *core.Message) error {
				mu.Lock()
				counts[i]++
				mu.Unlock()
				got <- string(m.Value)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		const n = 40
		for i := range n {
			m := msg("t1", fmt.Sprint(i))
			m.Key = []byte(fmt.Sprint("k", i))
			if _, err := b.Publish(ctx, m); err != nil {
				t.Fatal(err)
			}
		}
		seen := map[string]bool{}
		for range n {
			v := testutil.Receive(t, got, wait)
			if seen[v] {
				t.Fatalf("%s delivered twice", v)
			}
			seen[v] = true
		}
		mu.Lock()
		defer mu.Unlock()
		if counts[0] == 0 || counts[1] == 0 {
			t.Fatalf("partitions not shared: %v", counts)
		}
	})
}

// ACCEPTANCE 13: messages with the same key arrive in publish order.
func TestKeyOrder(t *testing.T) {
	forEachBackend(t, func(t *testing.T, newBus func(...core.Option) *core.Bus) {
		b := newBus(core.WithTopic("t1", core.TopicConfig{Partitions: 3}))
		ctx := context.Background()
		h, got := collector(300)
		if _, err := b.Subscribe(ctx, "t1", "g", h); err != nil {
			t.Fatal(err)
		}
		for i := range 300 {
			m := msg("t1", fmt.Sprint(i))
			m.Key = []byte(fmt.Sprint("key", i%5))
			if _, err := b.Publish(ctx, m); err != nil {
				t.Fatal(err)
			}
		}
		last := map[string]int{}
		for range 300 {
			m := testutil.Receive(t, got, wait)
			var v int
			fmt.Sscan(string(m.Value), &v)
			if prev, ok := last[string(m.Key)]; ok && v <= prev {
				t.Fatalf("key %s: %d after %d", m.Key, v, prev)
			}
			last[string(m.Key)] = v
		}
	})
}

// ACCEPTANCE 14: Unsubscribe stops delivery; a second Unsubscribe does nothing.
func TestUnsubscribe(t *testing.T) {
	forEachBackend(t, func(t *testing.T, newBus func(...core.Option) *core.Bus) {
		b := newBus()
		ctx := context.Background()
		h, got := collector(10)
		sub, err := b.Subscribe(ctx, "t1", "g", h)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.Publish(ctx, msg("t1", "before")); err != nil {
			t.Fatal(err)
		}
		testutil.Receive(t, got, wait)
		if err := sub.Unsubscribe(ctx); err != nil {
			t.Fatal(err)
		}
		if err := sub.Unsubscribe(ctx); err != nil {
			t.Fatalf("second unsubscribe: %v", err)
		}
		// A second group proves the message after Unsubscribe was delivered
		// where it still could be.
		h2, got2 := collector(10)
		if _, err := b.Subscribe(ctx, "t1", "witness", h2, core.SubscribeStart(core.StartEarliest)); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Publish(ctx, msg("t1", "after")); err != nil {
			t.Fatal(err)
		}
		testutil.Receive(t, got2, wait)
		testutil.Receive(t, got2, wait)
		select {
		case m := <-got:
			t.Fatalf("unsubscribed handler got %q", m.Value)
		default:
		}
		if n := b.Health().Subscribers; n != 1 {
			t.Fatalf("subscribers %d, want 1", n)
		}
	})
}

// ACCEPTANCE 15: a failing handler does not affect other groups, and
// Publish does not fail because of it; the failed message is redelivered.
func TestFailingHandlerIsolatedAndRedelivered(t *testing.T) {
	forEachBackend(t, func(t *testing.T, newBus func(...core.Option) *core.Bus) {
		b := newBus(core.WithRetry(core.RetryPolicy{MaxAttempts: 5, Base: time.Millisecond, Max: 5 * time.Millisecond}))
		ctx := context.Background()
		var mu sync.Mutex
		calls := 0
		redelivered := make(chan *core.Message, 1)
		_, err := b.Subscribe(ctx, "t1", "flaky", func(_ context.Context, m *core.Message) error {
			mu.Lock()
			defer mu.Unlock()
			calls++
			if calls < 3 {
				return errors.New("not yet")
			}
			redelivered <- m
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		h, got := collector(1)
		if _, err := b.Subscribe(ctx, "t1", "healthy", h); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Publish(ctx, msg("t1", "x")); err != nil {
			t.Fatalf("publish failed because of a handler: %v", err)
		}
		testutil.Receive(t, got, wait)
		if m := testutil.Receive(t, redelivered, wait); string(m.Value) != "x" {
			t.Fatalf("redelivered %q", m.Value)
		}
	})
}

// ACCEPTANCE 16: a new group starts at earliest or latest as configured.
func TestStartPosition(t *testing.T) {
	forEachBackend(t, func(t *testing.T, newBus func(...core.Option) *core.Bus) {
		b := newBus()
		ctx := context.Background()
		if _, err := b.Publish(ctx, msg("t1", "old")); err != nil {
			t.Fatal(err)
		}
		he, early := collector(2)
		hl, late := collector(2)
		if _, err := b.Subscribe(ctx, "t1", "early", he, core.SubscribeStart(core.StartEarliest)); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Subscribe(ctx, "t1", "late", hl); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Publish(ctx, msg("t1", "new")); err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{"old", "new"} {
			if m := testutil.Receive(t, early, wait); string(m.Value) != want {
				t.Fatalf("earliest group got %q, want %q", m.Value, want)
			}
		}
		if m := testutil.Receive(t, late, wait); string(m.Value) != "new" {
			t.Fatalf("latest group got %q, want new", m.Value)
		}
	})
}

// ACCEPTANCE 17: `*` matches one segment and `**` any number.
func TestPatternSubscriptions(t *testing.T) {
	forEachBackend(t, func(t *testing.T, newBus func(...core.Option) *core.Bus) {
		b := newBus()
		ctx := context.Background()
		hs, single := collector(10)
		hm, multi := collector(10)
		if _, err := b.Subscribe(ctx, "onex.evt.*.created.v1", "single", hs); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Subscribe(ctx, "onex.**", "multi", hm); err != nil {
			t.Fatal(err)
		}
		for _, tp := range []string{"onex.evt.user.created.v1", "onex.evt.user.deleted.v1", "other.topic"} {
			if _, err := b.Publish(ctx, msg(tp, tp)); err != nil {
				t.Fatal(err)
			}
		}
		if m := testutil.Receive(t, single, wait); m.Topic != "onex.evt.user.created.v1" {
			t.Fatalf("* got %s", m.Topic)
		}
		got := map[string]bool{}
		for range 2 {
			got[testutil.Receive(t, multi, wait).Topic] = true
		}
		if !got["onex.evt.user.created.v1"] || !got["onex.evt.user.deleted.v1"] {
			t.Fatalf("** got %v", got)
		}
		if err := b.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		select {
		case m := <-single:
			t.Fatalf("* also got %s", m.Topic)
		case m := <-multi:
			t.Fatalf("** also got %s", m.Topic)
		default:
		}
	})
}

// ACCEPTANCE 27: History returns the newest limit messages oldest first;
// limit 0 none; negative is an error; offset, time and correlation queries.
func TestHistory(t *testing.T) {
	forEachBackend(t, func(t *testing.T, newBus func(...core.Option) *core.Bus) {
		b := newBus()
		ctx := context.Background()
		cid := uuid.New()
		base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		for i := range 10 {
			m := msg("t1", fmt.Sprint(i))
			m.Timestamp = base.Add(time.Duration(i) * time.Second)
			if i%3 == 0 {
				m.Headers.CorrelationID = cid
			}
			if _, err := b.Publish(ctx, m); err != nil {
				t.Fatal(err)
			}
		}
		values := func(ms []*core.Message) (out []string) {
			for _, m := range ms {
				out = append(out, string(m.Value))
			}
			return out
		}
		cases := []struct {
			name  string
			limit int
			opts  []core.HistoryOption
			want  string
		}{
			{"newest three", 3, nil, "[7 8 9]"},
			{"more than there is", 50, nil, "[0 1 2 3 4 5 6 7 8 9]"},
			{"zero is none", 0, nil, "[]"},
			{"offset range", 10, []core.HistoryOption{core.OffsetRange(2, 5)}, "[2 3 4]"},
			{"offset range newest", 2, []core.HistoryOption{core.OffsetRange(2, 5)}, "[3 4]"},
			{"time range", 10, []core.HistoryOption{core.TimeRange(base.Add(4*time.Second), base.Add(6*time.Second))}, "[4 5]"},
			{"correlation", 10, []core.HistoryOption{core.WithCorrelationID(cid)}, "[0 3 6 9]"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				got, err := b.History(ctx, "t1", tc.limit, tc.opts...)
				if err != nil {
					t.Fatal(err)
				}
				if s := fmt.Sprint(values(got)); s != tc.want {
					t.Fatalf("got %s, want %s", s, tc.want)
				}
			})
		}
		if _, err := b.History(ctx, "t1", -1); !errors.Is(err, core.ErrInvalidLimit) {
			t.Fatalf("negative limit: %v", err)
		}
		if got, err := b.History(ctx, "nope", 5); err != nil || len(got) != 0 {
			t.Fatalf("unknown topic: %v, %v", got, err)
		}
	})
}

// ACCEPTANCE 28: retention keeps the newest N: 500 concurrent writes with a
// cap of 100 leave exactly 100.
func TestRetentionCap(t *testing.T) {
	forEachBackend(t, func(t *testing.T, newBus func(...core.Option) *core.Bus) {
		b := newBus(core.WithTopic("t1", core.TopicConfig{Partitions: 1, Retention: core.Retention{MaxMessages: 100}}))
		ctx := context.Background()
		var wg sync.WaitGroup
		for i := range 500 {
			wg.Go(func() {
				if _, err := b.Publish(ctx, msg("t1", fmt.Sprint(i))); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if err := b.Sync(ctx); err != nil {
			t.Fatal(err)
		}
		hist, err := b.History(ctx, "t1", 1000)
		if err != nil {
			t.Fatal(err)
		}
		if len(hist) != 100 || hist[0].Offset != 400 || hist[99].Offset != 499 {
			t.Fatalf("kept %d messages, offsets %d..%d; want 100, 400..499", len(hist), hist[0].Offset, hist[len(hist)-1].Offset)
		}
		if h := b.Health().HistorySize; h != 100 {
			t.Fatalf("history size %d", h)
		}
	})
}

// ACCEPTANCE 16: an existing group resumes from its committed cursor after
// a restart; ACCEPTANCE 29 (in process): what Publish returned survives.
func TestGroupResumesAfterRestart(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	open := func() *core.Bus {
		b, err := core.New(core.WithDataDir(dir))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	b := open()
	h, got := collector(10)
	if _, err := b.Subscribe(ctx, "t1", "g", h); err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"a", "b"} {
		if _, err := b.Publish(ctx, msg("t1", v)); err != nil {
			t.Fatal(err)
		}
	}
	testutil.Receive(t, got, wait)
	testutil.Receive(t, got, wait)
	if err := b.Close(ctx); err != nil {
		t.Fatal(err)
	}
	b = open()
	defer b.Close(ctx)
	if _, err := b.Publish(ctx, msg("t1", "c")); err != nil {
		t.Fatal(err)
	}
	h2, got2 := collector(10)
	if _, err := b.Subscribe(ctx, "t1", "g", h2, core.SubscribeStart(core.StartEarliest)); err != nil {
		t.Fatal(err)
	}
	if m := testutil.Receive(t, got2, wait); string(m.Value) != "c" || m.Offset != 2 {
		t.Fatalf("after restart got %q at %d, want c at 2 (a and b were acknowledged)", m.Value, m.Offset)
	}
	hist, err := b.History(ctx, "t1", 10)
	if err != nil || len(hist) != 3 {
		t.Fatalf("history after restart: %d messages, %v", len(hist), err)
	}
}

// PublishAsync sets offsets at once and reports durability through done;
// what it acknowledged is there after a restart.
func TestPublishAsync(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	b, err := core.New(core.WithDataDir(dir))
	if err != nil {
		t.Fatal(err)
	}
	const n = 500
	var wg sync.WaitGroup
	wg.Add(n)
	var mu sync.Mutex
	acked := 0
	seen := make([]bool, n)
	for i := range n {
		m := msg("t1", fmt.Sprint(i))
		err := b.PublishAsync(ctx, m, func(m *core.Message, err error) {
			defer wg.Done()
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			defer mu.Unlock()
			acked++
			if m.Offset < 0 || m.Offset >= n || seen[m.Offset] || string(m.Value) != fmt.Sprint(m.Offset) {
				t.Errorf("done for %q at offset %d", m.Value, m.Offset)
				return
			}
			seen[m.Offset] = true
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	if err := b.Close(ctx); err != nil {
		t.Fatal(err)
	}
	b, err = core.New(core.WithDataDir(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close(ctx)
	if end, _ := b.EndOffset("t1", 0); end != n || acked != n {
		t.Fatalf("end %d, acked %d; want %d", end, acked, n)
	}
}

// A group whose last member leaves stops its delivery loops: short-lived
// groups leave no goroutine behind, and a member joining later resumes at
// the group's cursor.
func TestUnsubscribeStopsLoops(t *testing.T) {
	forEachBackend(t, func(t *testing.T, newBus func(...core.Option) *core.Bus) {
		b := newBus(core.WithTopic("t1", core.TopicConfig{Partitions: 4}))
		ctx := context.Background()
		base := runtime.NumGoroutine()
		for i := range 50 {
			sub, err := b.Subscribe(ctx, "t1", fmt.Sprint("short-lived-", i), func(context.Context, *core.Message) error { return nil })
			if err != nil {
				t.Fatal(err)
			}
			if err := sub.Unsubscribe(ctx); err != nil {
				t.Fatal(err)
			}
		}
		testutil.Eventually(t, wait, func() bool { return runtime.NumGoroutine() <= base+2 },
			"the loops of groups without members exit")
		h, got := collector(10)
		sub, err := b.Subscribe(ctx, "t1", "g", h)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.Publish(ctx, &core.Message{Topic: "t1", Value: []byte("a"), Partition: 0, ExplicitPartition: true}); err != nil {
			t.Fatal(err)
		}
		testutil.Receive(t, got, wait)
		if err := sub.Unsubscribe(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Publish(ctx, &core.Message{Topic: "t1", Value: []byte("b"), Partition: 0, ExplicitPartition: true}); err != nil {
			t.Fatal(err)
		}
		if _, err := b.Subscribe(ctx, "t1", "g", h); err != nil {
			t.Fatal(err)
		}
		if m := testutil.Receive(t, got, wait); string(m.Value) != "b" {
			t.Fatalf("rejoined member got %q, want b", m.Value)
		}
	})
}
