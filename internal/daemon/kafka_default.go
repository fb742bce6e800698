package daemon

import (
	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/transport/kafka/broker"
)

// DefaultKafka is the Kafka listener New uses unless WithKafka says
// otherwise: transport/kafka/broker's Server with the daemon's settings.
var DefaultKafka KafkaFactory = func(bus *core.Bus, s KafkaSettings) (KafkaServer, error) {
	return broker.New(bus,
		broker.WithAdvertisedAddr(s.AdvertisedAddr),
		broker.WithNodeID(s.NodeID),
		broker.WithLogger(s.Logger),
		broker.WithMaxFrameBytes(s.MaxFrameBytes),
		broker.WithMaxInFlightBytes(s.MaxInFlightBytes),
		broker.WithMaxConnections(s.MaxConnections),
		broker.WithIdleTimeout(s.IdleTimeout),
		broker.WithAutoCreateTopics(s.AutoCreateTopics),
		broker.WithDefaultPartitions(s.DefaultPartitions),
		broker.WithRequestObserver(s.RequestObserver),
		broker.WithRecordValidator(s.RecordValidator),
	)
}
