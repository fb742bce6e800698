package daemon

import (
	"time"

	"github.com/onexbus/onexbus/transport/kafka"
)

// Config is every setting of onexbusd. Each field is one row of the
// settings table (see Settings): a YAML path, an environment variable, a
// flag, a default and a validated range. Load builds one from flags,
// environment, a YAML file and the defaults; Defaults returns the last.
type Config struct {
	// DataDir (data_dir) holds the bbolt file, the lock and the node id.
	DataDir string
	// Durability (durability) is sync, interval or none; DurabilityInterval
	// (durability_interval) is the flush period of interval.
	Durability         string
	DurabilityInterval time.Duration

	// KafkaAddr (kafka.addr) is the Kafka listener; KafkaAdvertisedAddr
	// (kafka.advertised_addr) is the address given to clients in metadata
	// (empty: the bound address); KafkaNodeID (kafka.node_id) the broker id.
	KafkaAddr           string
	KafkaAdvertisedAddr string
	KafkaNodeID         int32
	// KafkaIdleTimeout (kafka.idle_timeout) closes idle client connections.
	KafkaIdleTimeout time.Duration
	// HTTPAddr (http.addr) is the HTTP API listener, opened when an API is
	// mounted (WithHTTPAPI).
	HTTPAddr string
	// AdminAddr (admin.addr) serves /livez and /readyz.
	AdminAddr string
	// Insecure (security.insecure) allows a non-loopback listener without
	// authentication.
	Insecure bool
	// Security is the principal store's content (security.users,
	// security.tokens, security.acls), the listeners' TLS, the abuse
	// limits and the SASL settings; see SecurityConfig.
	Security SecurityConfig

	// Topics created on first use: DefaultPartitions
	// (topics.default_partitions) and their retention
	// (topics.retention_messages, _bytes, _age; 0 is unbounded).
	DefaultPartitions int32
	RetentionMessages int64
	RetentionBytes    int64
	RetentionAge      time.Duration
	// Enforcement (topics.enforcement) of the ONEX topic grammar: warn,
	// reject or off.
	Enforcement string
	// TopicFormat (topics.format) is how new topics are stored: kafka
	// (Kafka v2 record batches, what Kafka clients produce and fetch) or
	// frames (the library's own frames, which Kafka clients cannot fetch).
	TopicFormat string
	// AutoCreateTopics (topics.auto_create) lets Kafka clients create
	// topics by producing to or asking metadata for them.
	AutoCreateTopics bool

	// DedupWindow (dedup.window) and DedupMaxIDs (dedup.max_ids) bound the
	// message_id dedup.
	DedupWindow time.Duration
	DedupMaxIDs int

	// Kafka transactions and idempotence (transactions.*): TxnIDExpiration
	// (id_expiration, Kafka's transactional.id.expiration.ms), TxnMaxIDs
	// (max_ids), TxnAbortedIndexMemory (aborted_index_memory, entries in
	// memory; 0 keeps none), TxnMaxTimeout (max_timeout, Kafka's
	// transaction.max.timeout.ms) and ProducerIDExpiration
	// (producer_id_expiration, Kafka's producer.id.expiration.ms). See
	// core.TxnLimits.
	TxnIDExpiration       time.Duration
	TxnMaxIDs             int
	TxnAbortedIndexMemory int
	TxnMaxTimeout         time.Duration
	ProducerIDExpiration  time.Duration

	// Retry defaults of subscriptions (retry.max_attempts, retry.base,
	// retry.max) and the breaker (breaker.threshold, breaker.reset_timeout).
	RetryMaxAttempts    int
	RetryBase           time.Duration
	RetryMax            time.Duration
	BreakerThreshold    int
	BreakerResetTimeout time.Duration

	// Limits: the largest message (limits.max_message_bytes), client
	// connections (limits.max_connections) and request bytes in flight
	// (limits.max_in_flight_bytes) on the Kafka listener.
	MaxMessageBytes  int
	MaxConnections   int
	MaxInFlightBytes int64
	// MaxRequestBytes (limits.max_request_bytes) is the largest Kafka
	// request, Kafka's socket.request.max.bytes.
	MaxRequestBytes int

	// LogLevel (log.level: trace, debug, info, warn, error) and LogJSON
	// (log.json).
	LogLevel string
	LogJSON  bool

	// ShutdownTimeout (shutdown.timeout) bounds the drain on SIGTERM.
	ShutdownTimeout time.Duration
	// LameDuck (shutdown.lame_duck) is how long /readyz answers 503 before
	// the listeners stop accepting, so load balancers stop sending first.
	LameDuck time.Duration

	// Source (source) is the source header of messages that have none.
	Source string

	// Node identity: NodeID (node.id; empty: generated once and kept in
	// the data dir), NodeName (node.name), and the heartbeat interval
	// (node.heartbeat_interval; 0 turns heartbeats off).
	NodeID                string
	NodeName              string
	NodeHeartbeatInterval time.Duration

	// Fronting an upstream Kafka: ForwardPattern (forward.pattern) selects
	// the local topics copied upstream; IngestTopics (ingest.topics) the
	// upstream topics appended locally. Both empty: standalone.
	ForwardPattern string
	IngestTopics   []string
	// Upstream is the upstream Kafka (upstream.*, the KAFKA_* variables of
	// the original system).
	Upstream kafka.Config
}

// Fronting reports whether the daemon fronts an upstream Kafka.
func (c *Config) Fronting() bool { return c.ForwardPattern != "" || len(c.IngestTopics) > 0 }

// Defaults returns the configuration with every default: standalone on
// bbolt in ./onexbus-data, every listener on 127.0.0.1.
func Defaults() Config {
	var c Config
	for _, s := range settings {
		if s.upstream {
			continue
		}
		// Every default parses: TestDefaultsParse holds the table to it.
		_ = s.set(&c, s.def)
	}
	c.Upstream = kafka.Defaults()
	return c
}
