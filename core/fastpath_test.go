package core_test

import (
	"context"
	"errors"
	"testing"

	"github.com/onexbus/onexbus/core"
)

// Publish remembers the topic it published to last (bus.go, topicCache),
// and a change of that topic is seen by the very next publish: a topic
// grown to more partitions takes a message for a new partition at once,
// and a topic deleted and published to again starts anew at offset 0,
// with the default configuration.
func TestPublishSeesTopicChangesAtOnce(t *testing.T) {
	forEachBackend(t, func(t *testing.T, newBus func(...core.Option) *core.Bus) {
		b := newBus()
		ctx := context.Background()
		publish := func(m *core.Message) (int64, error) { return b.Publish(ctx, m) }
		for range 3 { // the topic is the last one published to
			if _, err := publish(&core.Message{Topic: "t", Value: []byte("x")}); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := publish(&core.Message{Topic: "t", Partition: 3, ExplicitPartition: true}); !errors.Is(err, core.ErrInvalidPartition) {
			t.Fatalf("partition 3 of a 1-partition topic: %v, want ErrInvalidPartition", err)
		}
		if _, err := b.CreateTopic(ctx, "t", core.TopicConfig{Partitions: 4}); err != nil {
			t.Fatal(err)
		}
		off, err := publish(&core.Message{Topic: "t", Partition: 3, ExplicitPartition: true})
		if err != nil || off != 0 {
			t.Fatalf("partition 3 after growing to 4: offset %d, %v", off, err)
		}

		if err := b.Kafka().DeleteTopic(ctx, "t"); err != nil {
			t.Fatal(err)
		}
		m := &core.Message{Topic: "t", Value: []byte("y")}
		off, err = publish(m)
		if err != nil || off != 0 || m.Partition != 0 {
			t.Fatalf("after delete: partition %d offset %d, %v; want a new topic, 0/0", m.Partition, off, err)
		}
		if _, err := publish(&core.Message{Topic: "t", Partition: 3, ExplicitPartition: true}); !errors.Is(err, core.ErrInvalidPartition) {
			t.Fatalf("partition 3 of the re-created 1-partition topic: %v, want ErrInvalidPartition", err)
		}
	})
}
