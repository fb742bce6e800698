package bench

import (
	"context"
	"sync"
	"time"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/transport/memory"
)

// onexbusInstance is onexbus on the memory bus (transport/memory.New with
// its defaults), one subscriber in group "bench".
type onexbusInstance struct {
	bus   *core.Bus
	topic string
}

func openOnexbus(ctx context.Context, topic string, handled func([]byte)) (instance, error) {
	return openOnexbusWith(ctx, topic, handled)
}

// childRetention bounds every partition of the in-memory systems that
// run in a child process (the memory bus, onexbusd-kafka, the HTTP API):
// a memory bus keeps what it is not told to drop, so without a bound its
// heap (and the GC's work) would grow with the messages of a run, unlike
// GoChannel's. Each open-loop run has an instance of its own (runLoad),
// so the bound only matters within one run. It must stay above the
// backlog a run can build (retention drops unread messages too, and the
// run would wait for them): the largest run offers 1.2M messages (90% of
// a 450k msgs/s peak for 3 s), of which a subscriber falling behind would
// leave far fewer unread. About 400 MB of heap at most.
var childRetention = core.Retention{MaxMessages: 1_000_000}

// openOnexbusBounded is openOnexbus with childRetention.
func openOnexbusBounded(ctx context.Context, topic string, handled func([]byte)) (instance, error) {
	return openOnexbusWith(ctx, topic, handled, core.WithDefaultTopicConfig(core.TopicConfig{Partitions: 1, Retention: childRetention}))
}

// openOnexbusReadOnly is openOnexbus with a group of read-only handlers
// (core.SubscribeReadOnly): the harness's handler only reads the payload
// during the call, so it may take the log's bytes instead of a copy. An
// informational system, not a target row's: the rows measure the default.
func openOnexbusReadOnly(ctx context.Context, topic string, handled func([]byte)) (instance, error) {
	return openOnexbusSub(ctx, topic, handled, []core.SubscribeOption{core.SubscribeReadOnly()})
}

func openOnexbusWith(ctx context.Context, topic string, handled func([]byte), opts ...core.Option) (instance, error) {
	return openOnexbusSub(ctx, topic, handled, nil, opts...)
}

func openOnexbusSub(ctx context.Context, topic string, handled func([]byte), sub []core.SubscribeOption, opts ...core.Option) (instance, error) {
	bus, err := memory.New(opts...)
	if err != nil {
		return nil, err
	}
	if handled != nil {
		if _, err := bus.Subscribe(ctx, topic, "bench", func(_ context.Context, m *core.Message) error {
			handled(m.Value)
			return nil
		}, sub...); err != nil {
			_ = bus.Close(ctx)
			return nil, err
		}
	}
	return &onexbusInstance{bus: bus, topic: topic}, nil
}

func (o *onexbusInstance) publish(ctx context.Context, payload []byte) error {
	_, err := publishValue(ctx, o.bus, o.topic, payload)
	return err
}

// messages holds the Messages the onexbus instances publish with. The
// bus keeps no reference to a message once Publish returns (its doc), so
// a publisher reuses one, as a program publishing in a loop would;
// Watermill's GoChannel hands the published message itself to its
// subscriber and kgo keeps a record until its promise, so their
// instances allocate one per publish as their APIs require.
var messages = sync.Pool{New: func() any { return new(core.Message) }}

// publishValue publishes payload to topic on bus with a reused Message.
func publishValue(ctx context.Context, bus *core.Bus, topic string, payload []byte) (int64, error) {
	m := messages.Get().(*core.Message)
	*m = core.Message{Topic: topic, Value: payload}
	off, err := bus.Publish(ctx, m)
	*m = core.Message{}
	messages.Put(m)
	return off, err
}

func (o *onexbusInstance) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return o.bus.Close(ctx)
}
