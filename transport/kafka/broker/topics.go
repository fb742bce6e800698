package broker

import (
	"fmt"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/onexbus/onexbus/core"
)

// Kafka topic configs the broker understands. The log keeps retention
// (retention.ms, retention.bytes and onexbus.retention.messages map onto
// core.Retention); max.message.bytes is kept as a topic setting beside it.
// The rest are fixed by what onexbus is (one node, delete policy, the
// producer's compression and timestamps) and are reported read-only.
const (
	cfgRetentionMs       = "retention.ms"
	cfgRetentionBytes    = "retention.bytes"
	cfgRetentionMessages = "onexbus.retention.messages"
	cfgMaxMessageBytes   = "max.message.bytes"
	cfgCleanupPolicy     = "cleanup.policy"
	cfgCompressionType   = "compression.type"
	cfgTimestampType     = "message.timestamp.type"
	cfgMinInsync         = "min.insync.replicas"
)

// fixedTopicConfigs are accepted only with their one value.
var fixedTopicConfigs = map[string]string{
	cfgCleanupPolicy:   "delete",
	cfgCompressionType: "producer",
	cfgTimestampType:   "CreateTime",
	cfgMinInsync:       "1",
}

// topicConfigNames is the order DescribeConfigs lists them in.
var topicConfigNames = []string{
	cfgCleanupPolicy, cfgCompressionType, cfgMaxMessageBytes, cfgTimestampType,
	cfgMinInsync, cfgRetentionBytes, cfgRetentionMessages, cfgRetentionMs,
}

// topicSettings is a topic's Kafka-visible configuration.
type topicSettings struct {
	retention       core.Retention
	maxMessageBytes int  // 0: the bus's maximum
	maxMessageSet   bool // set on the topic (DYNAMIC_TOPIC_CONFIG)
}

// parseTopicConfigs applies CreateTopics configs onto st, failing on the
// first unknown name or bad value with a message for the client.
func parseTopicConfigs(st *topicSettings, cfgs []kmsg.CreateTopicsRequestTopicConfig, busMax int) error {
	for _, c := range cfgs {
		if c.Value == nil {
			continue // null: the default
		}
		if err := applyTopicConfig(st, c.Name, *c.Value, busMax); err != nil {
			return err
		}
	}
	return nil
}

func applyTopicConfig(st *topicSettings, name, val string, busMax int) error {
	if fixed, ok := fixedTopicConfigs[name]; ok {
		if val != fixed {
			return fmt.Errorf("%s=%s is not supported (only %s)", name, val, fixed)
		}
		return nil
	}
	n, err := strconv.ParseInt(val, 10, 64)
	if err != nil {
		return fmt.Errorf("%s=%q is not an integer", name, val)
	}
	switch name {
	case cfgRetentionMs:
		if n < -1 {
			return fmt.Errorf("%s=%d below -1", name, n)
		}
		st.retention.MaxAge = 0
		if n > 0 {
			st.retention.MaxAge = time.Duration(n) * time.Millisecond
		}
	case cfgRetentionBytes:
		if n < -1 {
			return fmt.Errorf("%s=%d below -1", name, n)
		}
		st.retention.MaxBytes = max(n, 0)
	case cfgRetentionMessages:
		if n < -1 {
			return fmt.Errorf("%s=%d below -1", name, n)
		}
		st.retention.MaxMessages = max(n, 0)
	case cfgMaxMessageBytes:
		if n < 1 || n > int64(busMax) {
			return fmt.Errorf("%s=%d not in [1, %d] (the bus's maximum message size)", name, n, busMax)
		}
		st.maxMessageBytes, st.maxMessageSet = int(n), true
	default:
		return fmt.Errorf("unknown topic config %q", name)
	}
	return nil
}

// loadTopicSettings reads a topic's settings from the log.
func (s *Server) loadTopicSettings(name string, tc core.TopicConfig) (topicSettings, error) {
	st := topicSettings{retention: tc.Retention}
	m, err := s.kl.TopicSettings(name)
	if err != nil {
		return st, err
	}
	if v, ok := m[cfgMaxMessageBytes]; ok {
		if n, err := strconv.Atoi(v); err == nil && n > 0 {
			st.maxMessageBytes, st.maxMessageSet = n, true
		}
	}
	return st, nil
}

// kafkaDefaultMaxMessageBytes is Kafka's message.max.bytes default, the
// max.message.bytes of a topic that does not set it (capped by the bus's
// maximum message size, which bounds what a topic may set).
const kafkaDefaultMaxMessageBytes = 1048588

// defaultMaxMessageBytes is max.message.bytes for a topic without its own.
func (s *Server) defaultMaxMessageBytes() int {
	return min(s.kl.MaxMessageBytes(), kafkaDefaultMaxMessageBytes)
}

// maxMessageBytes is the largest batch a topic accepts.
func (s *Server) maxMessageBytes(topic string) int {
	busMax := s.kl.MaxMessageBytes()
	m, err := s.kl.TopicSettings(topic)
	if err != nil {
		return s.defaultMaxMessageBytes()
	}
	if v, ok := m[cfgMaxMessageBytes]; ok {
		if n, err := strconv.Atoi(v); err == nil && n > 0 {
			return min(n, busMax)
		}
	}
	return s.defaultMaxMessageBytes()
}

// describeTopicConfigs lists every topic config with its value and source.
func (s *Server) describeTopicConfigs(st topicSettings) []kmsg.DescribeConfigsResponseResourceConfig {
	var out []kmsg.DescribeConfigsResponseResourceConfig
	add := func(name, val string, source kmsg.ConfigSource, readOnly bool) {
		c := kmsg.NewDescribeConfigsResponseResourceConfig()
		c.Name = name
		c.Value = &val
		c.ReadOnly = readOnly
		c.Source = source
		c.IsDefault = source == kmsg.ConfigSourceDefaultConfig
		c.ConfigType = kmsg.ConfigTypeString
		out = append(out, c)
	}
	dflt := s.kl.DefaultRetention()
	src := func(set bool) kmsg.ConfigSource {
		if set {
			return kmsg.ConfigSourceDynamicTopicConfig
		}
		return kmsg.ConfigSourceDefaultConfig
	}
	for _, name := range topicConfigNames {
		switch name {
		case cfgRetentionMs:
			v := int64(-1)
			if st.retention.MaxAge > 0 {
				v = st.retention.MaxAge.Milliseconds()
			}
			add(name, strconv.FormatInt(v, 10), src(st.retention.MaxAge != dflt.MaxAge), false)
		case cfgRetentionBytes:
			v := int64(-1)
			if st.retention.MaxBytes > 0 {
				v = st.retention.MaxBytes
			}
			add(name, strconv.FormatInt(v, 10), src(st.retention.MaxBytes != dflt.MaxBytes), false)
		case cfgRetentionMessages:
			v := int64(-1)
			if st.retention.MaxMessages > 0 {
				v = st.retention.MaxMessages
			}
			add(name, strconv.FormatInt(v, 10), src(st.retention.MaxMessages != dflt.MaxMessages), false)
		case cfgMaxMessageBytes:
			v := s.defaultMaxMessageBytes()
			if st.maxMessageSet {
				v = st.maxMessageBytes
			}
			add(name, strconv.Itoa(v), src(st.maxMessageSet), false)
		default:
			add(name, fixedTopicConfigs[name], kmsg.ConfigSourceDefaultConfig, true)
		}
	}
	return out
}
