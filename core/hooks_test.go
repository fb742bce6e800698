package core_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/onexbus/onexbus/core"
)

// recorder implements every hook and keeps what it was told.
type recorder struct {
	mu        sync.Mutex
	publishes []core.PublishEvent
	commits   []core.CommitEvent
	evictions []core.RetentionEvent
	delivers  []core.DeliverEvent
	dones     []core.HandlerEvent
	breakers  []core.BreakerEvent
	dead      []core.DeadLetterEvent
}

func (r *recorder) OnPublish(e core.PublishEvent) {
	r.mu.Lock()
	r.publishes = append(r.publishes, e)
	r.mu.Unlock()
}
func (r *recorder) OnCommit(e core.CommitEvent) {
	r.mu.Lock()
	r.commits = append(r.commits, e)
	r.mu.Unlock()
}
func (r *recorder) OnRetentionEviction(e core.RetentionEvent) {
	r.mu.Lock()
	r.evictions = append(r.evictions, e)
	r.mu.Unlock()
}
func (r *recorder) OnDeliver(e core.DeliverEvent) {
	r.mu.Lock()
	r.delivers = append(r.delivers, e)
	r.mu.Unlock()
}
func (r *recorder) OnHandlerDone(e core.HandlerEvent) {
	r.mu.Lock()
	r.dones = append(r.dones, e)
	r.mu.Unlock()
}
func (r *recorder) OnBreakerTransition(e core.BreakerEvent) {
	r.mu.Lock()
	r.breakers = append(r.breakers, e)
	r.mu.Unlock()
}
func (r *recorder) OnDeadLetter(e core.DeadLetterEvent) {
	r.mu.Lock()
	r.dead = append(r.dead, e)
	r.mu.Unlock()
}

// Each hook fires with the right values, on fake time.
func TestHooksFire(t *testing.T) {
	inBubbles(t, func(t *testing.T, be backend) {
		rec := &recorder{}
		b := busOn(t, be, nil, core.WithHooks(rec),
			core.WithRetry(core.RetryPolicy{MaxAttempts: 2, Base: time.Second, Max: time.Second}),
			core.WithBreaker(core.BreakerPolicy{Threshold: 2, ResetTimeout: time.Minute}),
			core.WithTopic("capped", core.TopicConfig{Partitions: 1, Retention: core.Retention{MaxMessages: 2}}))
		ctx := context.Background()
		if _, err := b.Subscribe(ctx, "orders", "g", func(ctx context.Context, m *core.Message) error {
			time.Sleep(3 * time.Millisecond) // a handler that takes 3 ms of fake time
			switch string(m.Value) {
			case "bad":
				return errors.New("nope")
			case "poison":
				return core.Permanent(errors.New("never"))
			}
			return nil
		}, core.SubscribeStart(core.StartEarliest)); err != nil {
			t.Fatal(err)
		}
		published := time.Now()
		if _, err := b.Publish(ctx, &core.Message{Topic: "orders", Key: []byte("k"), Value: []byte("good")}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if err := b.PublishBatch(ctx, []*core.Message{{Topic: "orders", Value: []byte("bad")}}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		for i := range 3 {
			if _, err := b.Publish(ctx, &core.Message{Topic: "capped", Value: []byte{byte(i)}}); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(time.Second) // past a flush interval: the none policy commits then
		synctest.Wait()

		rec.mu.Lock()
		defer rec.mu.Unlock()
		// Five publishes of the test and the engine's own publish of the
		// dead letter to the DLQ topic.
		if len(rec.publishes) != 6 || rec.publishes[2].Topic != "onexbus.dlq" || rec.publishes[0].Topic != "orders" || rec.publishes[0].Messages != 1 ||
			rec.publishes[0].Bytes != len("k")+len("good") || rec.publishes[0].Err != nil {
			t.Fatalf("publishes %+v", rec.publishes)
		}
		if len(rec.delivers) != 3 || rec.delivers[0].Group != "g" || rec.delivers[0].Attempt != 1 || rec.delivers[0].Age != 0 ||
			rec.delivers[2].Attempt != 2 {
			t.Fatalf("delivers %+v (published at %v)", rec.delivers, published)
		}
		if len(rec.dones) != 3 || rec.dones[0].Outcome != core.OutcomeAck || rec.dones[0].Duration != 3*time.Millisecond ||
			rec.dones[1].Outcome != core.OutcomeRetry || rec.dones[2].Outcome != core.OutcomeRetry {
			t.Fatalf("dones %+v", rec.dones)
		}
		if len(rec.dead) != 1 || rec.dead[0].Reason != core.ReasonMaxAttempts || rec.dead[0].Attempts != 2 || rec.dead[0].Offset != 1 {
			t.Fatalf("dead letters %+v", rec.dead)
		}
		if len(rec.breakers) == 0 || rec.breakers[0].To != core.BreakerOpen || rec.breakers[0].From != core.BreakerClosed ||
			rec.breakers[0].Topic != "orders" || rec.breakers[0].Group != "g" {
			t.Fatalf("breaker transitions %+v", rec.breakers)
		}
		if be.durable {
			var msgs int64
			for _, c := range rec.commits {
				msgs += c.Messages
			}
			if msgs < 5 {
				t.Fatalf("commits counted %d messages: %+v", msgs, rec.commits)
			}
		}
		var evicted int64
		for _, e := range rec.evictions {
			if e.Topic == "capped" {
				evicted += e.Messages
			}
		}
		if evicted != 1 {
			t.Fatalf("evictions %+v", rec.evictions)
		}
	})
}

// A value that implements no hook is a configuration error.
func TestWithHooksRejectsNonHooks(t *testing.T) {
	_, err := core.New(core.WithStore(backends[0].open(t, t.TempDir())), core.WithHooks(42))
	if !errors.Is(err, core.ErrInvalidConfig) {
		t.Fatalf("New with a non-hook: %v", err)
	}
}
