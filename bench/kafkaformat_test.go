package bench

import (
	"context"
	"os"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/transport/memory"
)

// ONEXBUS_BENCH_KAFKA=1 adds the memory bus with every topic in the Kafka
// storage format (core.FormatKafka: each publish is a v2 record batch) as
// the peer "onexbus-kafka" of the end-to-end comparison. Off by default,
// so the report's columns stay as they are.
func init() {
	if os.Getenv("ONEXBUS_BENCH_KAFKA") != "1" {
		return
	}
	peers = append(peers, peer{name: "onexbus-kafka", open: openOnexbusKafka})
}

func openOnexbusKafka(ctx context.Context, topic string, handled func([]byte)) (instance, error) {
	bus, err := memory.New(core.WithDefaultTopicConfig(core.TopicConfig{Partitions: 1, Format: core.FormatKafka}))
	if err != nil {
		return nil, err
	}
	if handled != nil {
		if _, err := bus.Subscribe(ctx, topic, "bench", func(_ context.Context, m *core.Message) error {
			handled(m.Value)
			return nil
		}); err != nil {
			_ = bus.Close(ctx)
			return nil, err
		}
	}
	return &onexbusInstance{bus: bus, topic: topic}, nil
}
