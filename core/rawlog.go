package core

import (
	"context"
	"fmt"

	"github.com/onexbus/onexbus/wal"
)

// KafkaLog is the bus's log as a Kafka protocol server sees it: topics,
// partitions and offsets with the bus's topic rules (Kafka's name rules and
// the ONEX enforcement), closed checks and auto-creation. It is a narrow
// view for transport/kafka/broker; applications use the Bus.
//
// A KafkaLog is safe for concurrent use. Its methods return ErrClosed
// (wrapped) once the bus is closing.
type KafkaLog struct {
	b *Bus
}

// Kafka returns the bus's Kafka view.
func (b *Bus) Kafka() *KafkaLog { return &KafkaLog{b: b} }

// Topics returns the names of every topic in ascending order.
func (k *KafkaLog) Topics() []string { return k.b.log.Topics() }

// Topic returns a topic's configuration and whether it exists.
func (k *KafkaLog) Topic(name string) (TopicConfig, bool) { return k.b.log.Topic(name) }

// CheckTopic applies Kafka's name rules and the bus's ONEX enforcement to
// name: ErrInvalidTopic or ErrNotONEXTopic (wrapped) when it fails. Under
// EnforceWarn (the default) a non-ONEX name passes with a logged warning.
func (k *KafkaLog) CheckTopic(name string) error {
	_, err := k.b.checkTopic(name)
	return err
}

// DefaultPartitions is the partition count of topics the bus creates on
// first use.
func (k *KafkaLog) DefaultPartitions() int32 { return k.b.cfg.defaultTopic.Partitions }

// MaxMessageBytes is the largest record batch the log stores (the bus's
// WithMaxMessageBytes), Kafka's max.message.bytes for every topic.
func (k *KafkaLog) MaxMessageBytes() int { return k.b.cfg.maxMessageBytes }

// CreateTopic creates a topic stored as Kafka batches (wal.FormatKafka)
// with tc's partitions and retention, after the topic rules. It returns
// false and no error if the topic exists already (it is left unchanged).
func (k *KafkaLog) CreateTopic(ctx context.Context, name string, tc TopicConfig) (bool, error) {
	if k.b.closed.Load() {
		return false, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return false, err
	}
	if _, ok := k.b.log.Topic(name); ok {
		return false, nil
	}
	if _, err := k.b.checkTopic(name); err != nil {
		return false, err
	}
	tc.Format = wal.FormatKafka
	k.b.mu.Lock()
	defer k.b.mu.Unlock()
	return k.b.createTopicLocked(name, tc)
}

// EnsureTopic returns the configuration of a topic, creating it with the
// bus's default partitions and retention, stored as Kafka batches, when it
// does not exist (Kafka's auto.create.topics.enable).
func (k *KafkaLog) EnsureTopic(ctx context.Context, name string) (TopicConfig, error) {
	if tc, ok := k.b.log.Topic(name); ok {
		return tc, nil
	}
	if _, err := k.CreateTopic(ctx, name, k.b.cfg.defaultTopic); err != nil {
		return TopicConfig{}, err
	}
	tc, ok := k.b.log.Topic(name)
	if !ok {
		return TopicConfig{}, fmt.Errorf("%w: %s", ErrUnknownTopic, name)
	}
	return tc, nil
}

// Offsets returns the first retained offset and the end offset (the high
// watermark: only durable records count) of a partition.
func (k *KafkaLog) Offsets(topic string, part int32) (start, end int64, err error) {
	if k.b.closed.Load() {
		return 0, 0, ErrClosed
	}
	start, end, err = k.b.log.Offsets(topic, part)
	return start, end, k.b.wrapLogErr(err)
}

// DefaultRetention is the retention of topics the bus creates on first
// use.
func (k *KafkaLog) DefaultRetention() Retention { return k.b.cfg.defaultTopic.Retention }

// ClusterID is the log's persisted random cluster id.
func (k *KafkaLog) ClusterID() string { return k.b.log.ClusterID() }

// TopicID returns a topic's persisted random id (Kafka's topic id).
func (k *KafkaLog) TopicID(name string) ([16]byte, bool) { return k.b.log.TopicID(name) }

// TopicByID returns the name of the topic with id.
func (k *KafkaLog) TopicByID(id [16]byte) (string, bool) {
	for _, name := range k.b.log.Topics() {
		if tid, ok := k.b.log.TopicID(name); ok && tid == id {
			return name, true
		}
	}
	return "", false
}
