package core

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/onexbus/onexbus/dlq"
	memstore "github.com/onexbus/onexbus/store/memory"
	"github.com/onexbus/onexbus/wal"
)

func memBus(t *testing.T, opts ...Option) *Bus {
	t.Helper()
	b, err := New(append([]Option{WithStore(memstore.New()), WithDurability(DurabilityNone, 0)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close(context.Background()) })
	return b
}

// A record whose bytes are intact but do not decode is dead-lettered raw,
// never skipped.
func TestUndecodableRecordIsDeadLettered(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := memBus(t)
		ctx := context.Background()
		if _, err := b.CreateTopic(ctx, "t1", TopicConfig{Partitions: 1}); err != nil {
			t.Fatal(err)
		}
		if err := b.log.Append(ctx, "t1", 0, []wal.Record{{Payload: []byte("not a message")}}); err != nil {
			t.Fatal(err)
		}
		calls := 0
		if _, err := b.Subscribe(ctx, "t1", "g", func(context.Context, *Message) error { calls++; return nil },
			SubscribeStart(StartEarliest)); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		letters, err := b.DeadLetters().List(ctx, dlq.Filter{Limit: dlq.All})
		if err != nil || len(letters) != 1 || string(letters[0].Value) != "not a message" || calls != 0 {
			t.Fatalf("letters %+v, %v, handler calls %d", letters, err, calls)
		}
		if off, _, _ := b.CommittedOffset("g", "t1", 0); off != 1 {
			t.Fatalf("cursor %d, want 1", off)
		}
	})
}

// A member that leaves from inside its handler keeps the message it
// holds: a member joining meanwhile does not get the partition until the
// old delivery is over, so no message is handled twice at once.
func TestRejoinWaitsForTheRetiredLoop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := memBus(t)
		ctx := context.Background()
		left, release := make(chan struct{}), make(chan struct{})
		var subA *Subscription
		var err error
		subA, err = b.Subscribe(ctx, "t1", "g", func(hctx context.Context, m *Message) error {
			if err := subA.Unsubscribe(hctx); err != nil {
				t.Error(err)
			}
			close(left)
			<-release
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.Publish(ctx, &Message{Topic: "t1", Value: []byte("x")}); err != nil {
			t.Fatal(err)
		}
		<-left
		gotB := make(chan *Message, 1)
		if _, err := b.Subscribe(ctx, "t1", "g", func(_ context.Context, m *Message) error { gotB <- m; return nil }); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		select {
		case m := <-gotB:
			close(release) // let the old handler return, so the bubble can end
			t.Fatalf("the new member got offset %d while the old one still held it", m.Offset)
		default:
		}
		close(release)
		synctest.Wait()
		if _, err := b.Publish(ctx, &Message{Topic: "t1", Value: []byte("y")}); err != nil {
			t.Fatal(err)
		}
		select {
		case m := <-gotB:
			if string(m.Value) != "y" {
				t.Fatalf("the new member got %q, want y (x was handled by the old one)", m.Value)
			}
		case <-time.After(time.Minute):
			t.Fatal("the new member got nothing")
		}
	})
}

// A clean Close used to leave every loop's in-flight mark behind, so each
// clean restart took up to 256 records for crash suspects (a durable
// attempt and a cursor commit each). Every ordering now clears its mark
// when it exits with no handler running.
func TestCleanCloseClearsInFlightMark(t *testing.T) {
	for _, o := range []Ordering{OrderPartition, OrderKey, OrderNone} {
		t.Run(o.String(), func(t *testing.T) {
			dir := t.TempDir()
			ctx := context.Background()
			b, err := New(WithDataDir(dir))
			if err != nil {
				t.Fatal(err)
			}
			got := make(chan struct{}, 10)
			if _, err := b.Subscribe(ctx, "t1", "g", func(context.Context, *Message) error {
				got <- struct{}{}
				return nil
			}, SubscribeStart(StartEarliest), SubscribeOrdering(o, 4)); err != nil {
				t.Fatal(err)
			}
			for range 10 {
				if _, err := b.Publish(ctx, &Message{Topic: "t1", Value: []byte("v")}); err != nil {
					t.Fatal(err)
				}
			}
			for range 10 {
				<-got
			}
			if end := b.log.InFlight("g", "t1", 0); end <= 0 {
				t.Fatalf("no in-flight mark while delivering (%d): the test proves nothing", end)
			}
			if err := b.Close(ctx); err != nil {
				t.Fatal(err)
			}
			b, err = New(WithDataDir(dir))
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close(ctx)
			if end := b.log.InFlight("g", "t1", 0); end != -1 {
				t.Fatalf("after a clean Close the in-flight mark is %d, want none (-1)", end)
			}
		})
	}
}
