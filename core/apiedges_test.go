package core_test

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/dlq"
	memstore "github.com/onexbus/onexbus/store/memory"
)

// Regression tests of the API edges of issue 9.

// CommitOffset used to accept offsets past the end, unknown topics and bad
// partitions; the group then skipped messages published later.
func TestCommitOffsetValidates(t *testing.T) {
	b := memBusT(t)
	ctx := context.Background()
	if _, err := b.CreateTopic(ctx, "t1", core.TopicConfig{Partitions: 2}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := b.Publish(ctx, &core.Message{Topic: "t1", Partition: 0, ExplicitPartition: true}); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name  string
		topic string
		part  int32
		off   int64
		want  error
	}{
		{"past the end", "t1", 0, 4, core.ErrInvalidOffset},
		{"negative", "t1", 0, -1, core.ErrInvalidOffset},
		{"unknown topic", "nope", 0, 0, core.ErrUnknownTopic},
		{"partition past the topic", "t1", 2, 0, core.ErrInvalidPartition},
		{"negative partition", "t1", -1, 0, core.ErrInvalidPartition},
		{"at the end", "t1", 0, 3, nil},
		{"empty partition at 0", "t1", 1, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := b.CommitOffset("g", tt.topic, tt.part, tt.off)
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("CommitOffset(%s/%d, %d) = %v, want %v", tt.topic, tt.part, tt.off, err, tt.want)
			}
		})
	}
}

// ReplayDeadLetters to a group that does not exist used to remove the
// letter with nobody to get the message; a replayed letter kept an earlier
// replay's target group, so a replay "to every group" reached only that
// one.
func TestReplayTargets(t *testing.T) {
	b := memBusT(t, core.WithRetry(core.RetryPolicy{MaxAttempts: 1, Base: time.Millisecond, Max: time.Millisecond}))
	ctx := context.Background()
	var fail atomic.Bool
	fail.Store(true)
	gotA, gotB := make(chan *core.Message, 10), make(chan *core.Message, 10)
	if _, err := b.Subscribe(ctx, "t1", "a", func(_ context.Context, m *core.Message) error {
		if fail.Load() {
			return core.Permanent(errors.New("no"))
		}
		gotA <- m
		return nil
	}, core.SubscribeStart(core.StartEarliest)); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Publish(ctx, msg("t1", "v")); err != nil {
		t.Fatal(err)
	}
	letters := waitLetters(t, b, 1)
	fail.Store(false)

	_, err := b.ReplayDeadLetters(ctx, dlq.Filter{IDs: []uint64{letters[0].ID}, Limit: 1}, dlq.ReplayOptions{ToGroup: "nobody"})
	if !errors.Is(err, core.ErrUnknownGroup) {
		t.Fatalf("replay to a group that does not exist: %v, want ErrUnknownGroup", err)
	}
	if n, _ := b.DeadLetters().Count(ctx); n != 1 {
		t.Fatalf("%d letters after the refused replay, want the letter kept", n)
	}

	// Replay to a only, fail it again, then replay to every group: b
	// (which joins now, at the end) must get it too.
	if _, err := b.Subscribe(ctx, "t1", "b", func(_ context.Context, m *core.Message) error {
		gotB <- m
		return nil
	}, core.SubscribeStart(core.StartLatest)); err != nil {
		t.Fatal(err)
	}
	fail.Store(true)
	if n, err := b.ReplayDeadLetters(ctx, dlq.Filter{Limit: dlq.All}, dlq.ReplayOptions{ToGroup: "a"}); n != 1 || err != nil {
		t.Fatalf("replay to a: %d, %v", n, err)
	}
	letters = waitLetters(t, b, 1)
	fail.Store(false)
	if n, err := b.ReplayDeadLetters(ctx, dlq.Filter{Limit: dlq.All}, dlq.ReplayOptions{}); n != 1 || err != nil {
		t.Fatalf("replay to every group: %d, %v", n, err)
	}
	for name, ch := range map[string]chan *core.Message{"a": gotA, "b": gotB} {
		select {
		case m := <-ch:
			for _, h := range m.Headers.Extra {
				if h.Key == core.HeaderReplayGroup {
					t.Errorf("group %s got the replay with the old target header %q", name, h.Value)
				}
			}
		case <-time.After(wait):
			t.Fatalf("group %s did not get the replay to every group", name)
		}
	}
	_ = letters
}

// waitLetters waits until the dead-letter queue holds n letters.
func waitLetters(t *testing.T, b *core.Bus, n int) []dlq.Letter {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		letters, err := b.DeadLetters().List(context.Background(), dlq.Filter{Limit: dlq.All})
		if err != nil {
			t.Fatal(err)
		}
		if len(letters) == n {
			return letters
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d dead letters, want %d", len(letters), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// Under EnforceReject, legacy-grammar topics used to dead-letter to
// onexbus.dlq, which that mode refuses: the partition was held forever.
func TestEnforceRejectDeadLettersToAcceptedTopic(t *testing.T) {
	for _, topic := range []string{"prod.orders.events.v1", "onex.orders.commands", "onex.evt.orders.created.v1"} {
		t.Run(topic, func(t *testing.T) {
			b := memBusT(t, core.WithEnforcement(core.EnforceReject),
				core.WithRetry(core.RetryPolicy{MaxAttempts: 1, Base: time.Millisecond, Max: time.Millisecond}))
			ctx := context.Background()
			h, got := collector(10)
			if _, err := b.Subscribe(ctx, topic, "g", func(ctx context.Context, m *core.Message) error {
				if string(m.Value) == "bad" {
					return core.Permanent(errors.New("bad"))
				}
				return h(ctx, m)
			}, core.SubscribeStart(core.StartEarliest)); err != nil {
				t.Fatal(err)
			}
			for _, v := range []string{"bad", "good"} {
				if _, err := b.Publish(ctx, msg(topic, v)); err != nil {
					t.Fatal(err)
				}
			}
			select {
			case m := <-got:
				if string(m.Value) != "good" {
					t.Fatalf("got %q", m.Value)
				}
			case <-time.After(wait):
				t.Fatal("the partition is held behind the dead letter")
			}
			letters := waitLetters(t, b, 1)
			if dt := letters[0].DLQTopic; !strings.HasPrefix(dt, "onex.dlq.") {
				t.Fatalf("dead-letter topic %q, want one the ONEX grammar accepts", dt)
			}
			if hist, err := b.History(ctx, letters[0].DLQTopic, 10); err != nil || len(hist) != 1 {
				t.Fatalf("history of %s: %d, %v", letters[0].DLQTopic, len(hist), err)
			}
		})
	}
	if _, err := core.New(core.WithStore(memStore()), core.WithEnforcement(core.EnforceReject), core.WithDeadLetterTopic("onexbus.dlq")); !errors.Is(err, core.ErrInvalidConfig) {
		t.Fatalf("a dead-letter topic the mode refuses: %v, want ErrInvalidConfig", err)
	}
}

// Configuration: every option problem used to be reported one way or
// another, some unwrapped, some after the database file was created, some
// (a nil Option) as a panic. Now all are reported at once, wrapped in
// ErrInvalidConfig, before anything is written.
func TestConfigProblemsReportedAtOnceBeforeWriting(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	_, err := core.New(core.WithDataDir(dir),
		nil,
		core.WithMaxMessageBytes(300<<20),
		core.WithDedup(-time.Second, -1),
		core.WithDurability(core.DurabilityNone+1, -time.Second),
		core.WithClock(nil),
		core.WithTopic("t1", core.TopicConfig{Partitions: 0}),
		core.WithTopic("bad topic", core.TopicConfig{Partitions: 1}),
		core.WithEnforcement(core.EnforceOff+1),
		core.WithStartPosition(core.StartEarliest+1),
		core.WithDefaultTopicConfig(core.TopicConfig{Partitions: math.MaxInt32}),
	)
	if !errors.Is(err, core.ErrInvalidConfig) {
		t.Fatalf("New = %v, want ErrInvalidConfig", err)
	}
	for _, want := range []string{"nil Option", "max message bytes", "dedup window", "dedup max ids", "durability policy",
		"flush interval", "clock is nil", "topic t1", "bad topic", "enforcement", "start position", "default topic config"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not report %q:\n%v", want, err)
		}
	}
	if _, statErr := os.Stat(dir); !os.IsNotExist(statErr) {
		t.Errorf("the data dir was created by a New that failed validation: %v", statErr)
	}
	// The largest message the option accepts is one the log accepts.
	b, err := core.New(core.WithStore(memStore()), core.WithDurability(core.DurabilityNone, 0), core.WithMaxMessageBytes(core.MaxMessageBytes))
	if err != nil {
		t.Fatalf("WithMaxMessageBytes(MaxMessageBytes): %v", err)
	}
	b.Close(context.Background())
}

// History on a name that breaks the topic rules returned nothing instead
// of an error; InPartition(-2) meant all partitions.
func TestHistoryRejectsBadTopicAndPartition(t *testing.T) {
	b := memBusT(t)
	ctx := context.Background()
	if _, err := b.Publish(ctx, msg("t1", "v")); err != nil {
		t.Fatal(err)
	}
	if _, err := b.History(ctx, "bad topic", 10); !errors.Is(err, core.ErrInvalidTopic) {
		t.Errorf("History(\"bad topic\") = %v, want ErrInvalidTopic", err)
	}
	if h, err := b.History(ctx, "unknown", 10); err != nil || len(h) != 0 {
		t.Errorf("History(unknown) = %d, %v; want none, no error", len(h), err)
	}
	for _, p := range []int32{-1, -2, 1} {
		if _, err := b.History(ctx, "t1", 10, core.InPartition(p)); !errors.Is(err, core.ErrInvalidPartition) {
			t.Errorf("InPartition(%d): %v, want ErrInvalidPartition", p, err)
		}
	}
	if h, err := b.History(ctx, "t1", 10, core.InPartition(0)); err != nil || len(h) != 1 {
		t.Errorf("InPartition(0): %d, %v", len(h), err)
	}
}

func memStore() *memstore.Store { return memstore.New() }

// PublishAsync with a nil callback used to be accepted and then panic on
// the commit goroutine, killing the process; so did a callback that
// panicked.
func TestPublishAsyncCallbackEdges(t *testing.T) {
	forEachBackend(t, func(t *testing.T, newBus func(opts ...core.Option) *core.Bus) {
		b := newBus()
		ctx := context.Background()
		if err := b.PublishAsync(ctx, msg("t1", "v"), nil); !errors.Is(err, core.ErrNilCallback) {
			t.Fatalf("nil callback: %v, want ErrNilCallback", err)
		}
		called := make(chan struct{})
		if err := b.PublishAsync(ctx, msg("t1", "panics"), func(*core.Message, error) {
			close(called)
			panic("callback bug")
		}); err != nil {
			t.Fatal(err)
		}
		<-called
		if off, err := b.Publish(ctx, msg("t1", "after")); err != nil || off != 1 {
			t.Fatalf("publish after the panicking callback: %d, %v", off, err)
		}
	})
}
