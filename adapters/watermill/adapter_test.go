package watermill_test

import (
	"context"
	"errors"
	"testing"
	"time"

	wm "github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"

	"github.com/onexbus/onexbus/adapters/watermill"
	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/transport/memory"
)

// receive waits for one message on ch and Acks it.
func receive(t *testing.T, ch <-chan *message.Message) *message.Message {
	t.Helper()
	select {
	case m, ok := <-ch:
		if !ok {
			t.Fatal("channel closed")
		}
		m.Ack()
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no message within 10s")
		return nil
	}
}

func newMemoryBus(t *testing.T, opts ...core.Option) *core.Bus {
	t.Helper()
	b, err := memory.New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.Close(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return b
}

// earliest is the subscriber config of tests that publish first.
func earliest(group string) watermill.SubscriberConfig {
	return watermill.SubscriberConfig{ConsumerGroup: group, Options: []core.SubscribeOption{core.SubscribeStart(core.StartEarliest)}}
}

// A Watermill message goes through the bus and comes back with its UUID,
// payload and metadata; in between, known metadata names fill the
// structured headers and the rest become free headers.
func TestMessageMapping(t *testing.T) {
	const corr = "0b6e8f5e-8a3c-4d5e-9f00-7d1c2b3a4e5f"
	cases := []struct {
		name  string
		uuid  string
		md    message.Metadata
		check func(t *testing.T, m *core.Message)
	}{
		{"canonical UUID is the message_id", "5f3c1d2e-0a4b-4c6d-8e9f-0123456789ab", nil, func(t *testing.T, m *core.Message) {
			if got := m.Headers.MessageID.String(); got != "5f3c1d2e-0a4b-4c6d-8e9f-0123456789ab" {
				t.Errorf("message_id %s", got)
			}
		}},
		{"other UUID travels in watermill_uuid", "order-42", nil, func(t *testing.T, m *core.Message) {
			if len(m.Headers.Extra) != 1 || m.Headers.Extra[0] != (core.Header{Key: watermill.UUIDHeader, Value: "order-42"}) {
				t.Errorf("extra %v", m.Headers.Extra)
			}
		}},
		{"upper-case UUID is kept verbatim", "5F3C1D2E-0A4B-4C6D-8E9F-0123456789AB", nil, func(t *testing.T, m *core.Message) {
			if len(m.Headers.Extra) != 1 || m.Headers.Extra[0].Value != "5F3C1D2E-0A4B-4C6D-8E9F-0123456789AB" {
				t.Errorf("extra %v", m.Headers.Extra)
			}
		}},
		{"known names fill structured headers, the rest are free", wm.NewUUID(),
			message.Metadata{"correlation_id": corr, "trace_id": "t1", "tenant": "acme", "b": "2"},
			func(t *testing.T, m *core.Message) {
				h := m.Headers
				if h.CorrelationID.String() != corr || h.TraceID != "t1" {
					t.Errorf("structured %s %q", h.CorrelationID, h.TraceID)
				}
				if len(h.Extra) != 2 || h.Extra[0] != (core.Header{Key: "b", Value: "2"}) || h.Extra[1] != (core.Header{Key: "tenant", Value: "acme"}) {
					t.Errorf("extra %v, want b and tenant in name order", h.Extra)
				}
			}},
		{"a value that does not parse comes back as sent", wm.NewUUID(), message.Metadata{"correlation_id": "not-a-uuid"}, func(t *testing.T, m *core.Message) {
			if len(m.Headers.Unparsed) != 1 || m.Headers.Unparsed[0].Value != "not-a-uuid" {
				t.Errorf("unparsed %v", m.Headers.Unparsed)
			}
		}},
		{"partition_key picks the partition", wm.NewUUID(), message.Metadata{"partition_key": "customer-7"}, func(t *testing.T, m *core.Message) {
			if want := core.KafkaPartition([]byte("customer-7"), 8); m.Partition != want {
				t.Errorf("partition %d, want %d", m.Partition, want)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			bus := newMemoryBus(t, core.WithDefaultTopicConfig(core.TopicConfig{Partitions: 8}))
			stored := make(chan *core.Message, 1)
			if _, err := bus.Subscribe(ctx, "t", "raw", func(_ context.Context, m *core.Message) error {
				stored <- m
				return nil
			}, core.SubscribeStart(core.StartEarliest)); err != nil {
				t.Fatal(err)
			}
			sub := watermill.NewSubscriber(bus, earliest("adapter"))
			defer sub.Close()
			ch, err := sub.Subscribe(ctx, "t")
			if err != nil {
				t.Fatal(err)
			}
			in := message.NewMessage(c.uuid, []byte("payload"))
			for k, v := range c.md {
				in.Metadata.Set(k, v)
			}
			if err := watermill.NewPublisher(bus).Publish("t", in); err != nil {
				t.Fatal(err)
			}
			select {
			case m := <-stored:
				c.check(t, m)
			case <-time.After(10 * time.Second):
				t.Fatal("not stored")
			}
			out := receive(t, ch)
			if out.UUID != in.UUID || string(out.Payload) != "payload" {
				t.Errorf("received %s %q, sent %s", out.UUID, out.Payload, in.UUID)
			}
			for k, v := range in.Metadata {
				if got := out.Metadata.Get(k); got != v {
					t.Errorf("metadata %s = %q, sent %q", k, got, v)
				}
			}
			if _, ok := out.Metadata[watermill.UUIDHeader]; ok {
				t.Errorf("%s shown in metadata", watermill.UUIDHeader)
			}
			if out.Metadata.Get("source") == "" || out.Metadata.Get("message_id") == "" {
				t.Errorf("bus defaults missing from metadata %v", out.Metadata)
			}
		})
	}
}

// On a bbolt bus, messages and a group's position survive a restart: a
// member of the same group after reopening goes on after the last Ack.
func TestDurableAcrossReopen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	open := func() *core.Bus {
		b, err := core.New(core.WithDataDir(dir))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	bus := open()
	sent := []*message.Message{
		message.NewMessage(wm.NewUUID(), []byte("1")),
		message.NewMessage(wm.NewUUID(), []byte("2")),
		message.NewMessage(wm.NewUUID(), []byte("3")),
	}
	if err := watermill.NewPublisher(bus).Publish("orders", sent...); err != nil {
		t.Fatal(err)
	}
	sub := watermill.NewSubscriber(bus, earliest("billing"))
	ch, err := sub.Subscribe(ctx, "orders")
	if err != nil {
		t.Fatal(err)
	}
	if got := receive(t, ch); got.UUID != sent[0].UUID {
		t.Fatalf("first message %s, want %s", got.UUID, sent[0].UUID)
	}
	// The second message is in hand, not acknowledged, when the
	// subscriber closes: it must come back after the restart.
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatal("second message not delivered")
	}
	if err := sub.Close(); err != nil {
		t.Fatal(err)
	}
	if err := bus.Close(ctx); err != nil {
		t.Fatal(err)
	}

	bus = open()
	defer bus.Close(ctx)
	sub = watermill.NewSubscriber(bus, earliest("billing"))
	defer sub.Close()
	ch, err = sub.Subscribe(ctx, "orders")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range sent[1:] {
		if got := receive(t, ch); got.UUID != want.UUID {
			t.Fatalf("after reopen got %s, want %s", got.UUID, want.UUID)
		}
	}
}

// Closing a subscriber with a message in hand is no failure of the
// message: the next member must get it, however often that happens.
// The adapter's ErrUnacked wraps core.ErrReleased, which the bus treats
// as neither success nor failure.
func TestCloseDoesNotSpendAttempts(t *testing.T) {
	ctx := context.Background()
	bus := newMemoryBus(t) // default retry policy: 3 attempts
	msg := message.NewMessage(wm.NewUUID(), []byte("x"))
	if err := watermill.NewPublisher(bus).Publish("orders", msg); err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		sub := watermill.NewSubscriber(bus, earliest("g"))
		ch, err := sub.Subscribe(ctx, "orders")
		if err != nil {
			t.Fatal(err)
		}
		select {
		case m := <-ch:
			if m.UUID != msg.UUID {
				t.Fatalf("subscriber %d got %s", i, m.UUID)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("subscriber %d got nothing: the message was dead-lettered", i)
		}
		if err := sub.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// A Nack is redelivered after the retry delay, to the same channel.
func TestNackRedelivers(t *testing.T) {
	ctx := context.Background()
	bus := newMemoryBus(t, suiteOptions...)
	sub := watermill.NewSubscriber(bus, earliest("g"))
	defer sub.Close()
	ch, err := sub.Subscribe(ctx, "orders")
	if err != nil {
		t.Fatal(err)
	}
	msg := message.NewMessage(wm.NewUUID(), []byte("x"))
	if err := watermill.NewPublisher(bus).Publish("orders", msg); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-ch:
		m.Nack()
	case <-time.After(10 * time.Second):
		t.Fatal("not delivered")
	}
	if got := receive(t, ch); got.UUID != msg.UUID {
		t.Fatalf("redelivered %s, want %s", got.UUID, msg.UUID)
	}
}

// Closed publishers and subscribers say so; Close is idempotent and
// closes every channel; the bus stays open.
func TestClose(t *testing.T) {
	ctx := context.Background()
	bus := newMemoryBus(t)
	pub := watermill.NewPublisher(bus)
	sub := watermill.NewSubscriber(bus, watermill.SubscriberConfig{})
	ch1, err := sub.Subscribe(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	ch2, err := sub.Subscribe(ctx, "b")
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := pub.Close(); err != nil {
			t.Fatal(err)
		}
		if err := sub.Close(); err != nil {
			t.Fatal(err)
		}
	}
	for _, ch := range []<-chan *message.Message{ch1, ch2} {
		if _, open := <-ch; open {
			t.Fatal("channel open after Close")
		}
	}
	if err := pub.Publish("a", message.NewMessage(wm.NewUUID(), nil)); !errors.Is(err, watermill.ErrPublisherClosed) {
		t.Fatalf("Publish after Close: %v", err)
	}
	if _, err := sub.Subscribe(ctx, "a"); !errors.Is(err, watermill.ErrSubscriberClosed) {
		t.Fatalf("Subscribe after Close: %v", err)
	}
	if _, err := bus.Publish(ctx, &core.Message{Topic: "a"}); err != nil {
		t.Fatalf("bus closed with the adapter: %v", err)
	}
}

// A batch stops when one of its messages' contexts has ended.
func TestPublishHonoursMessageContext(t *testing.T) {
	bus := newMemoryBus(t)
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	a := message.NewMessage(wm.NewUUID(), nil)
	b := message.NewMessage(wm.NewUUID(), nil)
	b.SetContext(cancelled)
	if err := watermill.NewPublisher(bus).Publish("t", a, b); !errors.Is(err, context.Canceled) {
		t.Fatalf("Publish with a cancelled message context: %v", err)
	}
}
