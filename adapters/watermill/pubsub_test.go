package watermill_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/tests"

	"github.com/onexbus/onexbus/adapters/watermill"
	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/transport/memory"
)

// suiteOptions configure the bus for the suite's Nack-heavy tests
// (TestResendOnError; TestContinueAfterErrors Nacks 3 x 100 times in a
// row and expects the next subscriber to go on at once). To the bus a Nack
// is a handler failure, so with its defaults the third Nack would
// dead-letter the message (3 attempts) and the fifth in a row would open
// the circuit breaker for 30 s, past the suite's 15 s timeouts. Here:
//   - retries from 1 ms, capped at 10 ms, and no practical limit on
//     attempts, so a Nacked message comes back within milliseconds and is
//     never dead-lettered;
//   - breakers off (Threshold 0): the suite's Nacks are the test, not a
//     sick subscriber.
var suiteOptions = []core.Option{
	core.WithRetry(core.RetryPolicy{MaxAttempts: 1_000_000, Base: time.Millisecond, Max: 10 * time.Millisecond}),
	core.WithBreaker(core.BreakerPolicy{Threshold: 0}),
}

// backend opens a bus for one suite test.
type backend struct {
	name string
	open func(t *testing.T, opts ...core.Option) (*core.Bus, error)
}

var backends = []backend{
	{"memory", func(_ *testing.T, opts ...core.Option) (*core.Bus, error) { return memory.New(opts...) }},
	{"bbolt", func(t *testing.T, opts ...core.Option) (*core.Bus, error) {
		return core.New(append(opts, core.WithDataDir(t.TempDir()))...)
	}},
}

// sharedBuses gives every constructor call of one suite test the same bus,
// as every instance of a Kafka pub/sub talks to the same brokers: that is
// what the suite's Persistent feature means. The bus is closed when the
// test ends.
type sharedBuses struct {
	backend backend
	opts    []core.Option

	mu    sync.Mutex // protects buses
	buses map[*testing.T]*core.Bus
}

func newSharedBuses(b backend, opts ...core.Option) *sharedBuses {
	return &sharedBuses{backend: b, opts: opts, buses: make(map[*testing.T]*core.Bus)}
}

func (s *sharedBuses) bus(t *testing.T) *core.Bus {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if b := s.buses[t]; b != nil {
		return b
	}
	b, err := s.backend.open(t, s.opts...)
	if err != nil {
		// The constructor may run on a goroutine of the suite's, where
		// Fatal is not allowed.
		t.Errorf("open %s bus: %v", s.backend.name, err)
		panic(err)
	}
	s.buses[t] = b
	t.Cleanup(func() {
		// Bounded: a handler still waiting for an Ack the test never sent
		// (TestMessageCtx closes its pub/sub on a goroutine) is cancelled.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := b.Close(ctx); err != nil {
			t.Errorf("close %s bus: %v", s.backend.name, err)
		}
		s.mu.Lock()
		delete(s.buses, t)
		s.mu.Unlock()
	})
	return b
}

// constructor returns the suite's pub/sub constructor for group: a
// Publisher and a Subscriber on the test's shared bus. New groups start at
// the oldest message, as in the Kafka adapter's run of the suite: the
// suite publishes before it subscribes.
func (s *sharedBuses) constructor(group string) tests.PubSubConstructor {
	return func(t *testing.T) (message.Publisher, message.Subscriber) {
		b := s.bus(t)
		return watermill.NewPublisher(b), watermill.NewSubscriber(b, watermill.SubscriberConfig{
			ConsumerGroup: group,
			Options:       []core.SubscribeOption{core.SubscribeStart(core.StartEarliest)},
		})
	}
}

func (s *sharedBuses) groupConstructor(t *testing.T, group string) (message.Publisher, message.Subscriber) {
	return s.constructor(group)(t)
}

// features are what the bus really offers through the adapter.
func features(orderGuaranteed bool) tests.Features {
	return tests.Features{
		// Named groups are bus consumer groups: members share partitions,
		// every group gets every message.
		ConsumerGroups: true,
		// At least once: a message in hand when a member leaves, or
		// whose Ack was not yet committed, is delivered again.
		ExactlyOnceDelivery: false,
		// A partition goes to one member at a time and waits for each
		// Ack; the suite's messages have no key, so this holds for
		// one-partition topics (the bus default) only.
		GuaranteedOrder: orderGuaranteed,
		// Not needed: order holds with ten members of a group too.
		GuaranteedOrderWithSingleSubscriber: false,
		// Messages and group positions live in the bus's log, shared by
		// every Publisher and Subscriber on the bus (and, on bbolt,
		// across restarts: TestDurableAcrossReopen).
		Persistent: true,
		// Embedded: there is no broker process to restart, so
		// TestReconnect is skipped.
		RestartServiceCommand: nil,
		// Any number of Publishers and Subscribers share a bus.
		RequireSingleInstance: false,
		// Not with a named group: a new member of the same group goes on
		// from the group's position. Subscribers without a group do
		// receive old messages: TestNewSubscriberReceivesOldMessages
		// below runs the suite's test on them.
		NewSubscriberReceivesOldMessages: false,
		// Contexts do not travel through the log.
		ContextPreserved: false,
	}
}

// TestPubSub runs Watermill's universal pub/sub suite on the adapter, on
// the memory bus and on the bbolt bus, with one-partition topics (order
// guaranteed) and with four partitions per topic (members of a group
// share partitions; order per partition only).
func TestPubSub(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			s := newSharedBuses(b, suiteOptions...)
			tests.TestPubSub(t, features(true), s.constructor("test"), s.groupConstructor)
		})
		t.Run(b.name+"-4-partitions", func(t *testing.T) {
			t.Parallel()
			s := newSharedBuses(b, slices.Concat(suiteOptions, []core.Option{core.WithDefaultTopicConfig(core.TopicConfig{Partitions: 4})})...)
			tests.TestPubSub(t, features(false), s.constructor("test"), s.groupConstructor)
		})
	}
}

// Without a consumer group, each Subscribe call is a group of its own: a
// new subscriber starting at the oldest message receives everything
// published before it, as the suite's NewSubscriberReceivesOldMessages
// feature asks.
func TestNewSubscriberReceivesOldMessages(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			s := newSharedBuses(b, suiteOptions...)
			f := features(true)
			f.NewSubscriberReceivesOldMessages = true
			tests.TestNewSubscriberReceivesOldMessages(t, tests.TestContext{TestID: tests.NewTestID(), Features: f}, s.constructor(""))
		})
	}
}
