package daemon

import (
	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/transport/kafka/broker"
)

// DefaultKafka is the Kafka listener New uses unless WithKafka says
// otherwise: transport/kafka/broker's Server with the daemon's settings.
var DefaultKafka KafkaFactory = func(bus *core.Bus, s KafkaSettings) (KafkaServer, error) {
	var sec []broker.Option
	if s.TLS != nil {
		sec = append(sec, broker.WithTLS(s.TLS))
	}
	if s.Users != nil {
		a, err := broker.NewStoreAuthenticator(s.Users, s.AllowPlain)
		if err != nil {
			return nil, err
		}
		sec = append(sec, broker.WithSASL(a))
	}
	if s.ACL != nil {
		sec = append(sec, broker.WithACL(s.ACL))
	}
	if s.RateLimiter != nil {
		sec = append(sec, broker.WithRateLimiter(s.RateLimiter))
	}
	sec = append(sec, broker.WithMaxConnectionsPerAddr(s.MaxConnectionsPerAddr), broker.WithSASLSessionLifetime(s.SASLSessionLifetime))
	return broker.New(bus, append([]broker.Option{
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
		broker.WithMaxTransactionTimeout(s.MaxTransactionTimeout),
	}, sec...)...)
}
