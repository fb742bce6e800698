package core

import (
	"encoding/json"
	"fmt"

	"github.com/onexbus/onexbus/store"
)

// kafkaSettingsBucket holds, per topic name, the Kafka topic configs the
// log itself does not model (max.message.bytes): a JSON object of strings.
var kafkaSettingsBucket = []byte("kafka-topic-settings")

// TopicSettings returns the Kafka configs stored for a topic by
// SetTopicSettings (nil when none). They outlive restarts and go with the
// topic in DeleteTopic.
func (k *KafkaLog) TopicSettings(name string) (map[string]string, error) {
	if k.b.closed.Load() {
		return nil, ErrClosed
	}
	var out map[string]string
	err := k.b.cfg.store.View(func(tx store.Tx) error {
		bk := tx.Bucket(kafkaSettingsBucket)
		if bk == nil {
			return nil
		}
		v := bk.Get([]byte(name))
		if v == nil {
			return nil
		}
		return json.Unmarshal(v, &out)
	})
	if err != nil {
		return nil, fmt.Errorf("onexbus: kafka settings of %s: %w", name, err)
	}
	return out, nil
}

// SetTopicSettings replaces the Kafka configs stored for a topic; an empty
// map removes them. The write is durable when it returns (one store
// transaction).
func (k *KafkaLog) SetTopicSettings(name string, settings map[string]string) error {
	if k.b.closed.Load() {
		return ErrClosed
	}
	var val []byte
	if len(settings) > 0 {
		v, err := json.Marshal(settings)
		if err != nil {
			return fmt.Errorf("onexbus: encode kafka settings of %s: %w", name, err)
		}
		val = v
	}
	err := k.b.cfg.store.Update(func(tx store.Tx) error {
		bk, err := tx.CreateBucket(kafkaSettingsBucket)
		if err != nil {
			return err
		}
		if val == nil {
			return bk.Delete([]byte(name))
		}
		return bk.Put([]byte(name), val)
	})
	if err != nil {
		return fmt.Errorf("onexbus: store kafka settings of %s: %w", name, err)
	}
	return nil
}
