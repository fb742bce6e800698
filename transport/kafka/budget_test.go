package kafka

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/dlq"
)

// padded is a message of about 1 KiB whose value checkPerKeyOrder reads.
func padded(i int) *core.Message {
	v := append(fmt.Appendf(nil, "seq-%d ", i), bytes.Repeat([]byte("x"), 1000)...)
	return &core.Message{Topic: topic, Key: []byte("k"), Value: v}
}

// budgetSetup starts a forwarder with a budget of 16 KiB under policy,
// forwards one message so the topic is known upstream, and cuts the
// upstream.
func budgetSetup(t *testing.T, policy string) (*kfake.Cluster, *core.Bus, *Forwarder, *gate, Config) {
	t.Helper()
	c, g := newCluster(t)
	cfg := testConfig(t, c)
	cfg = with(t, cfg, "KAFKA_BACKLOG_BUDGET_BYTES", "16384", "KAFKA_BACKLOG_POLICY", policy)
	a := newBus(t)
	f := startForwarder(t, a, cfg, WithTopicPattern("onex.evt.**"))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := a.Publish(ctx, padded(0)); err != nil {
		t.Fatal(err)
	}
	if err := f.WaitAcked(ctx, topic, 0, 0); err != nil {
		t.Fatal(err)
	}
	g.cut()
	t.Cleanup(g.restore)
	return c, a, f, g, cfg
}

// checkUnderBudget checks that the backlog is within the budget, give or
// take the one publish that may race a measurement.
func checkUnderBudget(t *testing.T, f *Forwarder, cfg Config) {
	t.Helper()
	b, err := f.BacklogBytes()
	if err != nil {
		t.Fatal(err)
	}
	if b == 0 || b > cfg.v.BacklogBudget+2<<10 {
		t.Fatalf("backlog %d bytes with a budget of %d", b, cfg.v.BacklogBudget)
	}
}

// KAFKA_BACKLOG_POLICY=reject: with the upstream cut, every publisher of a
// forwarded topic (Publish, PublishBatch, PublishAsync, straight on the
// bus) is refused with ErrBacklogFull at the budget; other topics are not
// held; after the upstream returns and drains, publishes pass again; once
// the forwarder is closed its budget no longer applies.
func TestBacklogBudgetReject(t *testing.T) {
	_, a, f, g, cfg := budgetSetup(t, BacklogReject)
	ctx := context.Background()
	sent := 1
	var err error
	for ; sent < 1000; sent++ {
		if _, err = a.Publish(ctx, padded(sent)); err != nil {
			break
		}
	}
	if !errors.Is(err, ErrBacklogFull) {
		t.Fatalf("publish %d: %v, want ErrBacklogFull", sent, err)
	}
	t.Logf("refused after %d messages: %v", sent-1, err)
	checkUnderBudget(t, f, cfg)
	if err := a.PublishBatch(ctx, []*core.Message{padded(sent)}); !errors.Is(err, ErrBacklogFull) {
		t.Fatalf("PublishBatch: %v, want ErrBacklogFull", err)
	}
	if err := a.PublishAsync(ctx, padded(sent), func(*core.Message, error) {}); !errors.Is(err, ErrBacklogFull) {
		t.Fatalf("PublishAsync: %v, want ErrBacklogFull", err)
	}
	for i := range 40 {
		if _, err := a.Publish(ctx, &core.Message{Topic: "local.only", Value: bytes.Repeat([]byte("y"), 1000)}); err != nil {
			t.Fatalf("publish %d to a topic not forwarded: %v", i, err)
		}
	}

	g.restore()
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := f.WaitAcked(wctx, topic, 0, int64(sent-1)); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Publish(ctx, padded(sent)); err != nil {
		t.Fatalf("publish after the drain: %v", err)
	}
	sent++
	if err := f.WaitAcked(wctx, topic, 0, int64(sent-1)); err != nil {
		t.Fatal(err)
	}

	if err := f.Close(wctx); err != nil {
		t.Fatal(err)
	}
	g.cut()
	for i := range 40 {
		if _, err := a.Publish(ctx, padded(sent+i)); err != nil {
			t.Fatalf("publish %d after Close removed the gate: %v", i, err)
		}
	}
}

// KAFKA_BACKLOG_POLICY=block: with the upstream cut, a publish at the
// budget waits (a short context ends it with its error); one waiting with
// no deadline proceeds once the upstream returns and the forwarder's acks
// drain the backlog, and every message arrives upstream in order.
func TestBacklogBudgetBlock(t *testing.T) {
	c, a, f, g, cfg := budgetSetup(t, BacklogBlock)
	ctx := context.Background()
	sent := 1
	for ; sent < 1000; sent++ {
		// Under the budget a publish to the memory bus takes microseconds;
		// only a blocked one reaches the deadline.
		pctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		_, err := a.Publish(pctx, padded(sent))
		cancel()
		if errors.Is(err, context.DeadlineExceeded) {
			break
		}
		if err != nil {
			t.Fatalf("publish %d: %v", sent, err)
		}
	}
	if sent == 1000 {
		t.Fatal("never blocked")
	}
	t.Logf("blocked after %d messages", sent-1)
	checkUnderBudget(t, f, cfg)

	done := make(chan error, 1)
	go func() {
		_, err := a.Publish(ctx, padded(sent))
		done <- err
	}()
	g.restore()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the blocked publish never proceeded")
	}
	sent++
	checkPerKeyOrder(t, consumeAll(t, c, topic, sent), sent)
}

// Issue 9: the budget must not hold the engine's own dead letters. With
// the upstream cut and the backlog at the budget, a handler's permanent
// failure is dead-lettered at once (the queue and the dead-letter topic,
// which is forwarded too) under both policies, instead of holding the
// group's partition until Kafka returns.
func TestBacklogBudgetAdmitsDeadLetters(t *testing.T) {
	for _, policy := range []string{BacklogReject, BacklogBlock} {
		t.Run(policy, func(t *testing.T) {
			c, g := newCluster(t)
			cfg := testConfig(t, c)
			cfg = with(t, cfg, "KAFKA_BACKLOG_BUDGET_BYTES", "16384", "KAFKA_BACKLOG_POLICY", policy)
			a := newBus(t)
			f := startForwarder(t, a, cfg)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			if _, err := a.Publish(ctx, padded(0)); err != nil {
				t.Fatal(err)
			}
			if err := f.WaitAcked(ctx, topic, 0, 0); err != nil {
				t.Fatal(err)
			}
			full := make(chan struct{})
			if _, err := a.Subscribe(ctx, topic, "g", func(hctx context.Context, m *core.Message) error {
				if !bytes.HasPrefix(m.Value, []byte("poison")) {
					return nil
				}
				select {
				case <-full:
				case <-hctx.Done():
					return hctx.Err()
				}
				return core.Permanent(errors.New("poison"))
			}); err != nil {
				t.Fatal(err)
			}
			g.cut()
			t.Cleanup(g.restore)
			poison := &core.Message{Topic: topic, Key: []byte("p"), Value: []byte("poison")}
			if _, err := a.Publish(ctx, poison); err != nil {
				t.Fatal(err)
			}
			// Fill the budget.
			for i := 1; ; i++ {
				if i == 1000 {
					t.Fatal("the budget never filled")
				}
				pctx, pcancel := context.WithTimeout(ctx, 200*time.Millisecond)
				_, err := a.Publish(pctx, padded(i))
				pcancel()
				if errors.Is(err, ErrBacklogFull) || errors.Is(err, context.DeadlineExceeded) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			close(full)
			dlqTopic := "onex.dlq.orders.evt.v1"
			waitFor(t, 10*time.Second, "the dead letter published while the backlog is full and Kafka is down", func() bool {
				end, _ := a.EndOffset(dlqTopic, 0)
				return end == 1
			})
			letters, err := a.DeadLetters().List(ctx, dlq.Filter{Limit: 10})
			if err != nil || len(letters) != 1 || letters[0].Offset != poison.Offset {
				t.Fatalf("letters %+v, %v", letters, err)
			}
		})
	}
}
