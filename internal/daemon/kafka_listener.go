package daemon

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/onexbus/onexbus/core"
)

// kafkaListener is the running Kafka server and its Serve result.
type kafkaListener struct {
	srv  KafkaServer
	done chan error
}

// serveKafka builds the Kafka server on bus and serves ln.
func (d *Daemon) serveKafka(bus *core.Bus, cfg Config, ln net.Listener, rt *running) error {
	if cfg.KafkaAdvertisedAddr == "" && !loopback(cfg.KafkaAddr) {
		d.log.Warn("kafka.addr is not a loopback address but kafka.advertised_addr is empty; set it (ONEXBUS_KAFKA_ADVERTISED_ADDR) to the address remote clients reach",
			"kafka.addr", cfg.KafkaAddr, "advertised", d.advertised(cfg, ln.Addr()))
	}
	ks := KafkaSettings{
		AdvertisedAddr:        d.advertised(cfg, ln.Addr()),
		NodeID:                cfg.KafkaNodeID,
		MaxFrameBytes:         cfg.MaxRequestBytes,
		MaxInFlightBytes:      cfg.MaxInFlightBytes,
		MaxConnections:        cfg.MaxConnections,
		IdleTimeout:           cfg.KafkaIdleTimeout,
		AutoCreateTopics:      cfg.AutoCreateTopics,
		DefaultPartitions:     cfg.DefaultPartitions,
		Logger:                d.log.Named("kafka"),
		RequestObserver:       d.metrics.ObserveKafkaRequest,
		RecordValidator:       schemaValidator{d.schemas},
		TLS:                   d.sec.kafka.tlsConfig(),
		AllowPlain:            cfg.Security.AllowPlain,
		ACL:                   d.sec.store,
		RateLimiter:           d.sec.limiter,
		SASLSessionLifetime:   cfg.Security.SASLSessionLifetime,
		MaxConnectionsPerAddr: cfg.Security.MaxConnectionsPerAddr,
		MaxTransactionTimeout: cfg.TxnMaxTimeout,
	}
	if len(cfg.Security.Users) > 0 {
		ks.Users = d.sec.store
	}
	srv, err := d.opts.kafka(bus, ks)
	if err != nil {
		_ = ln.Close() // not served yet
		return fmt.Errorf("onexbusd: kafka listener: %w", err)
	}
	kl := &kafkaListener{srv: srv, done: make(chan error, 1)}
	go func() { kl.done <- srv.Serve(ln) }()
	rt.kafka = kl
	d.mu.Lock()
	d.addrs.Kafka = ln.Addr()
	d.kafkaSrv = srv
	d.mu.Unlock()
	return nil
}

// close stops accepting and drains, then waits for Serve to return.
func (k *kafkaListener) close(ctx context.Context) error {
	err := k.srv.Close(ctx)
	select {
	case serr := <-k.done:
		return errors.Join(err, serr)
	case <-ctx.Done():
		return errors.Join(err, fmt.Errorf("kafka Serve still running: %w", ctx.Err()))
	}
}

// inFlighter is the optional capability of a KafkaServer that counts its
// requests in flight.
type inFlighter interface{ InFlight() int64 }

// kafkaInFlight is the Kafka requests in flight, when the server counts them.
func (d *Daemon) kafkaInFlight() int64 {
	d.mu.Lock()
	srv := d.kafkaSrv
	d.mu.Unlock()
	if f, ok := srv.(inFlighter); ok {
		return f.InFlight()
	}
	return 0
}
