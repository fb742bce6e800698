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
// The reader executes a request before it queues the request's future
// for the writer, so a response answered at once wakes the writer once.
// Produce frames and the record batches of fetch responses come from
// process-wide sync.Pools of buffers up to 1 MiB (bufpool.go): a frame
// goes back once its handler returns (AppendBatch copies the batch), a
// fetch's batches once the writer has encoded the response. What is in
// use stays within the budget and the windows; what the pools keep idle
// the collector frees, so memory grows with neither connections nor
// messages.
//
// A frame above WithMaxFrameBytes (100 MiB), an unknown API key, a version
// outside the table, a body that does not decode, a request before SASL
// authentication, or a panic in a handler closes that connection with one
// log line naming the client; the process and every other connection go
// on. Idle connections close after WithIdleTimeout; a frame must arrive
// within WithFrameTimeout (a minute) of its size prefix.
//
// # Versions
//
// One table (internal/kafkawire) feeds ApiVersions and the request check.
// Its minimums are old on purpose: librdkafka 2.0.2 enables its consumer
// groups, SASL handshake, offsets by time and idempotence only if the
// ranges overlap single old versions (JoinGroup 0, SaslHandshake 0, ...).
// The transaction keys (24, 25, 26, 28) are served at v0-v3, before
// KIP-890 (no transaction.version feature, Produce up to v11).
//
// # Cluster
//
// One broker: this node (WithNodeID, default 0, at WithAdvertisedAddr) is
// the controller, and leader, only replica and ISR of every partition, at
// leader epoch 0. CreateTopics accepts replication factor -1 or 1 only.
// Unknown topics are created by Metadata and Produce while
// WithAutoCreateTopics is on (the default).
//
// # Consumer groups
//
// The classic group protocol (JoinGroup, SyncGroup, Heartbeat, LeaveGroup)
// runs on one coordinator loop (groups.go): MEMBER_ID_REQUIRED for v4+
// dynamic members, static members (group.instance.id) replacing their old
// member id, session and rebalance timeouts, a sync barrier, generation
// checks and protocol voting. KIP-848 (ConsumerGroupHeartbeat) is not
// served; clients use the classic protocol.
//
// Committed offsets are the bus's group cursors: a Kafka consumer group
// and an embedded Subscribe group of the same name share them, so kadm
// lag works on embedded groups. An OffsetCommit is answered once its
// offsets are durable; metadata and leader epoch round-trip; offsets may
// move backwards; a simple commit (generation -1) is accepted only while
// the group has no members of either kind. Offsets never expire
// (offsets.retention.minutes is not implemented): DeleteGroups and
// OffsetDelete remove them.
//
// Membership is one kind at a time: a JoinGroup for a group with live
// embedded members gets INCONSISTENT_GROUP_PROTOCOL, and Bus.Subscribe on
// a group with Kafka members returns core.ErrGroupInUse. ListGroups and
// DescribeGroups show embedded groups with protocol type "onexbus"
// (Stable with one member per subscription, or Empty).
//
// Group metadata (generation, members, assignments) is stored at each
// Stable generation and restored on start, so members of a restarted
// broker carry on in their generation; a crash mid-rebalance falls back to
// the last Stable one and the members that moved on rejoin.
//
// # Transactions
//
// This broker is the transaction coordinator of every transactional id
// (FindCoordinator key type 1; txn.go). InitProducerId with a
// transactional id validates transaction.timeout.ms against
// WithMaxTransactionTimeout (INVALID_TRANSACTION_TIMEOUT), stores the
// id's producer id at the next epoch before answering (fencing the
// previous instance) and aborts a transaction that instance left
// ongoing. AddPartitionsToTxn, AddOffsetsToTxn, TxnOffsetCommit and EndTxn
// check the producer id and epoch: PRODUCER_FENCED from the versions that
// know it, INVALID_PRODUCER_EPOCH before. A transactional batch is stored
// only for a partition added to the producer's ongoing transaction, at
// its current epoch (INVALID_TXN_STATE, INVALID_PRODUCER_EPOCH).
//
// EndTxn writes a commit or abort control batch (one offset) on every
// partition the transaction wrote and, on a commit, its TxnOffsetCommit
// offsets, in one store transaction, and answers once it is durable:
// group offsets become visible only then (an OffsetFetch with
// RequireStable gets UNSTABLE_OFFSET_COMMIT meanwhile), and a crash keeps
// the whole end or none of it. It never answers success before that: a
// failed store write answers COORDINATOR_NOT_AVAILABLE and leaves the
// end queued; a retry answers success once it is durable (a new
// transaction or InitProducerId meanwhile gets CONCURRENT_TRANSACTIONS),
// and after a restart before that the transaction was aborted and the
// retry is fenced. An error answer is an unknown outcome, as in Kafka.
// A transaction older than its timeout is aborted with its epoch bumped,
// so its late requests are fenced. After
// a restart every transaction a crash left open is aborted (by the log,
// with the epoch bumped) before the listener serves.
//
// The log bounds the transactional ids (core.TxnLimits): an id unused
// for IDExpiry (Kafka's transactional.id.expiration.ms) is forgotten and
// starts over at a new producer id, epoch 0; a new id past MaxIDs gets
// THROTTLING_QUOTA_EXCEEDED from InitProducerId, retriable (kgo discards
// the attempt and returns the error from the produce or
// BeginTransaction that needed it; the next one tries again).
//
// Fetch under read_committed returns nothing at or past a partition's
// last stable offset (the first offset of its oldest open transaction)
// and lists the aborted transactions in the range it returns;
// ListOffsets latest under read_committed is the LSO. Embedded
// subscribers of the bus read the same way (core), so they never see an
// aborted record, a control record, or one past the LSO.
//
// DescribeProducers, DescribeTransactions and ListTransactions (KIP-664)
// show that state: each partition's producers with the first offset of
// an open transaction, each transactional id's state (Empty, Ongoing,
// CompleteCommit, CompleteAbort), producer, timeout, start and partitions
// (txn_describe.go). Not served: KIP-890 (implicit partition adds, an
// epoch bump per EndTxn).
//
// # Authentication
//
// WithSASL requires SASL (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512) before any
// request but ApiVersions, SaslHandshake (v0 with bare tokens, or v1) and
// SaslAuthenticate; NewStoreAuthenticator runs it on the principal store
// (transport/auth), which keeps salted SCRAM credentials only. The first
// failed authentication closes the connection, as Kafka does.
// WithSASLSessionLifetime bounds a session (KIP-368): SaslAuthenticate
// v1+ answers session_lifetime_ms, the client re-authenticates on the
// same connection as the same principal with the same mechanism, and a
// request after the session ended closes the connection. WithTLS serves
// TLS; with client certificates verified and no SASL the certificate's
// common name is the principal (auth.PrincipalFromCert). Secrets never
// reach logs or error messages.
//
// # Authorization
//
// WithACL enforces the store's allow rules with Kafka's error codes on
// topics, groups (the coordinator's keys), transactional ids and the
// cluster, hides topics from Metadata, and serves DescribeAcls,
// CreateAcls and DeleteAcls over the rules (acls.go has the mapping of
// Kafka bindings to rules). As in Kafka, InitProducerId needs write on
// its transactional id, or for an idempotent producer idempotent-write on
// the cluster or write on some topic; the transaction requests and a
// transactional Produce need write on the id, FindCoordinator for it
// describe (TRANSACTIONAL_ID_AUTHORIZATION_FAILED; txn_acl.go).
//
// # Limits
//
// WithMaxConnections caps connections in total, WithMaxConnectionsPerAddr
// per client IP (internal/netlimit). WithRateLimiter charges each request
// to its principal: over the rate, the response carries throttle_time_ms
// and the connection is muted for it (KIP-219). Slow clients are closed:
// WithAuthTimeout bounds the TLS handshake and SASL authentication,
// WithFrameTimeout a request frame once its size arrived, WithIdleTimeout
// a silent connection. WithMaxFrameBytes and WithMaxInFlightBytes bound
// memory.
package broker
