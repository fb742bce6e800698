// Package broker serves the Kafka wire protocol on an onexbus Bus, so
// franz-go (kgo), librdkafka (kcat) and kafkajs clients work unmodified
// against the bus's log, groups and dead letters. onexbusd listens with
// it; an application that embeds the Bus can open a listener too:
//
//	srv, err := broker.New(bus, broker.WithAdvertisedAddr("127.0.0.1:9092"))
//	ln, err := net.Listen("tcp", "127.0.0.1:9092")
//	go srv.Serve(ln)
//	defer srv.Close(ctx)
//
// # Connections
//
// Each connection has a reader, which parses and executes requests in
// arrival order (it is the ordered executor), and a writer, which sends
// the responses strictly in request order. A request that waits (a produce
// for the fsync of its group commit, a long-poll fetch, a parked JoinGroup)
// completes a future, so the next requests are applied meanwhile: the five
// produce requests kgo pipelines share one fsync. At most 32 requests are
// in flight per connection, and a global budget of in-flight request bytes
// (WithMaxInFlightBytes) stops reading when spent, so TCP pushes back.
//
// A frame above WithMaxFrameBytes (100 MiB), an unknown API key, a version
// outside the table, a body that does not decode, a request before SASL
// authentication, or a panic in a handler closes that connection with one
// log line naming the client; the process and every other connection go
// on. Idle connections close after WithIdleTimeout; a frame must arrive
// within a minute of its size prefix.
//
// # Versions
//
// One table (internal/kafkawire) feeds ApiVersions and the request check.
// Its minimums are old on purpose: librdkafka 2.0.2 enables its consumer
// groups, SASL handshake, offsets by time and idempotence only if the
// ranges overlap single old versions (JoinGroup 0, SaslHandshake 0, ...).
// Transactions are not served: a transactional InitProducerId or a
// FindCoordinator for a transaction fails at once with a non-retryable
// error, and the transaction keys are not advertised.
//
// # Cluster
//
// One broker: this node (WithNodeID, default 0, at WithAdvertisedAddr) is
// the controller, and leader, only replica and ISR of every partition, at
// leader epoch 0. CreateTopics accepts replication factor -1 or 1 only.
// Unknown topics are created by Metadata and Produce while
// WithAutoCreateTopics is on (the default).
//
// # Authentication
//
// WithSASL requires SASL (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512) before any
// request but ApiVersions, SaslHandshake (v0 with bare tokens, or v1) and
// SaslAuthenticate; a failed authentication closes the connection.
// WithTLS serves TLS. Secrets never reach logs or error messages.
package broker
