package daemon

import (
	"fmt"
	"math"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/hashicorp/go-hclog"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/transport/kafka"
	"github.com/onexbus/onexbus/wal"
)

// setting is one row of the settings table.
type setting struct {
	name       string // dotted YAML path
	env        string // environment variable
	flag       string // flag name without --; empty for none
	def        string // default, in the text form set parses
	help       string // one line for --help and config print
	secret     bool   // redacted wherever it is shown
	reloadable bool   // applied by SIGHUP without a restart
	boolean    bool   // a flag given without a value means true
	upstream   bool   // a KAFKA_* variable, parsed by transport/kafka
	set        func(c *Config, v string) error
}

// Setting describes one row of the settings table, for documentation and
// `config print`.
type Setting struct {
	// Name is the dotted YAML path (kafka.addr).
	Name string
	// Env is the environment variable (ONEXBUS_KAFKA_ADDR, or KAFKA_* for
	// the upstream section).
	Env string
	// Flag is the flag without its dashes.
	Flag string
	// Default is the default value as text.
	Default string
	// Help says what it does and its range.
	Help string
	// Secret settings are printed as <redacted>.
	Secret bool
	// Reloadable settings are applied on SIGHUP; the others need a restart.
	Reloadable bool
}

// Settings returns the settings table in order.
func Settings() []Setting {
	out := make([]Setting, len(settings))
	for i, s := range settings {
		out[i] = Setting{Name: s.name, Env: s.env, Flag: s.flag, Default: s.def, Help: s.help, Secret: s.secret, Reloadable: s.reloadable}
	}
	return out
}

// settings is the table. Upstream rows are appended by init from
// transport/kafka's variables.
var settings = []setting{
	{name: "data_dir", env: "ONEXBUS_DATA_DIR", flag: "data-dir", def: "./onexbus-data",
		help: "directory of the bbolt log, its lock and the node id",
		set: func(c *Config, v string) error {
			if strings.TrimSpace(v) == "" {
				return fmt.Errorf("empty")
			}
			c.DataDir = v
			return nil
		}},
	{name: "durability", env: "ONEXBUS_DURABILITY", flag: "durability", def: "sync",
		help: "when a publish is acknowledged: sync (after its fsync), interval or none",
		set: func(c *Config, v string) error {
			p, err := wal.ParsePolicy(strings.TrimSpace(v))
			if err != nil {
				return fmt.Errorf("%q is not sync, interval or none", v)
			}
			c.Durability = p.String()
			return nil
		}},
	{name: "durability_interval", env: "ONEXBUS_DURABILITY_INTERVAL", flag: "durability-interval", def: "100ms",
		help: "fsync period under durability=interval; 1ms..1m",
		set:  durationSetter(func(c *Config) *time.Duration { return &c.DurabilityInterval }, time.Millisecond, time.Minute, false)},
	{name: "kafka.addr", env: "ONEXBUS_KAFKA_ADDR", flag: "kafka-addr", def: "127.0.0.1:9092",
		help: "Kafka wire protocol listener, host:port (port 0: any free port)",
		set:  addrSetter(func(c *Config) *string { return &c.KafkaAddr }, false)},
	{name: "kafka.advertised_addr", env: "ONEXBUS_KAFKA_ADVERTISED_ADDR", flag: "kafka-advertised-addr", def: "",
		help: "host:port given to Kafka clients in metadata; empty: the bound address",
		set:  addrSetter(func(c *Config) *string { return &c.KafkaAdvertisedAddr }, true)},
	{name: "kafka.node_id", env: "ONEXBUS_KAFKA_NODE_ID", flag: "kafka-node-id", def: "0",
		help: "broker id in Kafka metadata; 0..2147483647",
		set:  intSetter(func(c *Config, n int64) { c.KafkaNodeID = int32(n) }, 0, math.MaxInt32)},
	{name: "kafka.idle_timeout", env: "ONEXBUS_KAFKA_IDLE_TIMEOUT", flag: "kafka-idle-timeout", def: "10m",
		help: "closes a Kafka connection idle this long; 1s..24h",
		set:  durationSetter(func(c *Config) *time.Duration { return &c.KafkaIdleTimeout }, time.Second, 24*time.Hour, false)},
	{name: "http.addr", env: "ONEXBUS_HTTP_ADDR", flag: "http-addr", def: "127.0.0.1:8080",
		help: "HTTP API listener (transport/http), host:port",
		set:  addrSetter(func(c *Config) *string { return &c.HTTPAddr }, false)},
	{name: "admin.addr", env: "ONEXBUS_ADMIN_ADDR", flag: "admin-addr", def: "127.0.0.1:8081",
		help: "admin listener (/livez, /readyz, /metrics), host:port",
		set:  addrSetter(func(c *Config) *string { return &c.AdminAddr }, false)},
	{name: "security.insecure", env: "ONEXBUS_INSECURE", flag: "insecure", def: "false", boolean: true,
		help: "allow listeners on non-loopback addresses without authentication",
		set:  boolSetter(func(c *Config) *bool { return &c.Insecure })},
	{name: "topics.default_partitions", env: "ONEXBUS_TOPICS_DEFAULT_PARTITIONS", flag: "default-partitions", def: "1",
		help: "partitions of a topic created on first use; 1..10000",
		set:  intSetter(func(c *Config, n int64) { c.DefaultPartitions = int32(n) }, 1, 10_000)},
	{name: "topics.retention_messages", env: "ONEXBUS_TOPICS_RETENTION_MESSAGES", flag: "retention-messages", def: "0",
		help: "newest messages kept per partition of a new topic; 0 (unbounded)..2^62",
		set:  intSetter(func(c *Config, n int64) { c.RetentionMessages = n }, 0, 1<<62)},
	{name: "topics.retention_bytes", env: "ONEXBUS_TOPICS_RETENTION_BYTES", flag: "retention-bytes", def: "0",
		help: "bytes kept per partition of a new topic (suffixes KiB, MiB, GiB, TiB); 0 (unbounded)..1 PiB",
		set:  bytesSetter(func(c *Config, n int64) { c.RetentionBytes = n }, 0, 1<<50)},
	{name: "topics.retention_age", env: "ONEXBUS_TOPICS_RETENTION_AGE", flag: "retention-age", def: "0s",
		help: "age after which messages of a new topic are dropped; 0 (unbounded) or 1s..87600h",
		set:  durationSetter(func(c *Config) *time.Duration { return &c.RetentionAge }, time.Second, 87_600*time.Hour, true)},
	{name: "topics.enforcement", env: "ONEXBUS_TOPICS_ENFORCEMENT", flag: "topic-enforcement", def: "warn",
		help: "topics outside the ONEX grammar: warn (log), reject or off",
		set: func(c *Config, v string) error {
			if _, err := core.ParseEnforcement(strings.TrimSpace(v)); err != nil {
				return fmt.Errorf("%q is not warn, reject or off", v)
			}
			c.Enforcement = strings.TrimSpace(v)
			return nil
		}},
	{name: "topics.format", env: "ONEXBUS_TOPICS_FORMAT", flag: "topic-format", def: "kafka",
		help: "storage of new topics: kafka (record batches Kafka clients fetch as stored) or frames (library frames, not fetchable over Kafka)",
		set: func(c *Config, v string) error {
			switch v = strings.TrimSpace(v); v {
			case "kafka", "frames":
				c.TopicFormat = v
				return nil
			}
			return fmt.Errorf("%q is not kafka or frames", v)
		}},
	{name: "topics.auto_create", env: "ONEXBUS_TOPICS_AUTO_CREATE", flag: "auto-create-topics", def: "true", boolean: true,
		help: "Kafka clients create topics by using them",
		set:  boolSetter(func(c *Config) *bool { return &c.AutoCreateTopics })},
	{name: "dedup.window", env: "ONEXBUS_DEDUP_WINDOW", flag: "dedup-window", def: "2m",
		help: "a message_id published twice within it is stored once; 0 (off) or 1s..24h",
		set:  durationSetter(func(c *Config) *time.Duration { return &c.DedupWindow }, time.Second, 24*time.Hour, true)},
	{name: "dedup.max_ids", env: "ONEXBUS_DEDUP_MAX_IDS", flag: "dedup-max-ids", def: "100000",
		help: "message ids remembered per topic; 1..10000000",
		set:  intSetter(func(c *Config, n int64) { c.DedupMaxIDs = int(n) }, 1, 10_000_000)},
	{name: "transactions.id_expiration", env: "ONEXBUS_TRANSACTIONS_ID_EXPIRATION", flag: "txn-id-expiration", def: "168h",
		help: "a transactional id unused this long, with no transaction open, is forgotten (Kafka's transactional.id.expiration.ms); 1m..8760h",
		set:  durationSetter(func(c *Config) *time.Duration { return &c.TxnIDExpiration }, time.Minute, 8760*time.Hour, false)},
	{name: "transactions.max_ids", env: "ONEXBUS_TRANSACTIONS_MAX_IDS", flag: "txn-max-ids", def: "100000",
		help: "transactional ids registered at once; a new one past it gets THROTTLING_QUOTA_EXCEEDED until one expires; 1..100000000",
		set:  intSetter(func(c *Config, n int64) { c.TxnMaxIDs = int(n) }, 1, 100_000_000)},
	{name: "transactions.aborted_index_memory", env: "ONEXBUS_TRANSACTIONS_ABORTED_INDEX_MEMORY", flag: "txn-aborted-index-memory", def: "100000",
		help: "aborted-transaction entries kept in memory, all partitions together (the rest are read from the store); 0..100000000",
		set:  intSetter(func(c *Config, n int64) { c.TxnAbortedIndexMemory = int(n) }, 0, 100_000_000)},
	{name: "transactions.max_timeout", env: "ONEXBUS_TRANSACTIONS_MAX_TIMEOUT", flag: "txn-max-timeout", def: "15m",
		help: "largest transaction.timeout.ms a producer may ask for (Kafka's transaction.max.timeout.ms); 1s..24h",
		set:  durationSetter(func(c *Config) *time.Duration { return &c.TxnMaxTimeout }, time.Second, 24*time.Hour, false)},
	{name: "transactions.producer_id_expiration", env: "ONEXBUS_TRANSACTIONS_PRODUCER_ID_EXPIRATION", flag: "producer-id-expiration", def: "24h",
		help: "an idempotent producer idle this long on a partition is forgotten there (Kafka's producer.id.expiration.ms); 1m..8760h",
		set:  durationSetter(func(c *Config) *time.Duration { return &c.ProducerIDExpiration }, time.Minute, 8760*time.Hour, false)},
	{name: "retry.max_attempts", env: "ONEXBUS_RETRY_MAX_ATTEMPTS", flag: "retry-max-attempts", def: "3",
		help: "deliveries of a failing message before it is dead-lettered; 1..1000000",
		set:  intSetter(func(c *Config, n int64) { c.RetryMaxAttempts = int(n) }, 1, 1_000_000)},
	{name: "retry.base", env: "ONEXBUS_RETRY_BASE", flag: "retry-base", def: "1s",
		help: "first retry delay (doubling, jitter 0.5..1.5); 1ms..1h",
		set:  durationSetter(func(c *Config) *time.Duration { return &c.RetryBase }, time.Millisecond, time.Hour, false)},
	{name: "retry.max", env: "ONEXBUS_RETRY_MAX", flag: "retry-max", def: "30s",
		help: "cap of a retry delay; retry.base..24h",
		set:  durationSetter(func(c *Config) *time.Duration { return &c.RetryMax }, time.Millisecond, 24*time.Hour, false)},
	{name: "breaker.threshold", env: "ONEXBUS_BREAKER_THRESHOLD", flag: "breaker-threshold", def: "5",
		help: "consecutive failures that open a subscriber's breaker; 0 (off)..1000000",
		set:  intSetter(func(c *Config, n int64) { c.BreakerThreshold = int(n) }, 0, 1_000_000)},
	{name: "breaker.reset_timeout", env: "ONEXBUS_BREAKER_RESET_TIMEOUT", flag: "breaker-reset-timeout", def: "30s",
		help: "how long an open breaker waits before one probe; 1ms..24h",
		set:  durationSetter(func(c *Config) *time.Duration { return &c.BreakerResetTimeout }, time.Millisecond, 24*time.Hour, false)},
	{name: "limits.max_message_bytes", env: "ONEXBUS_LIMITS_MAX_MESSAGE_BYTES", flag: "max-message-bytes", def: "1MiB",
		help: "largest message accepted; 1..256MiB",
		set:  bytesSetter(func(c *Config, n int64) { c.MaxMessageBytes = int(n) }, 1, 256<<20)},
	{name: "limits.max_connections", env: "ONEXBUS_LIMITS_MAX_CONNECTIONS", flag: "max-connections", def: "1024",
		help: "Kafka client connections at once; 1..1000000",
		set:  intSetter(func(c *Config, n int64) { c.MaxConnections = int(n) }, 1, 1_000_000)},
	{name: "limits.max_in_flight_bytes", env: "ONEXBUS_LIMITS_MAX_IN_FLIGHT_BYTES", flag: "max-in-flight-bytes", def: "256MiB",
		help: "request bytes the Kafka listener holds at once; 1MiB..64GiB",
		set:  bytesSetter(func(c *Config, n int64) { c.MaxInFlightBytes = n }, 1<<20, 64<<30)},
	{name: "limits.max_request_bytes", env: "ONEXBUS_LIMITS_MAX_REQUEST_BYTES", flag: "max-request-bytes", def: "100MiB",
		help: "largest Kafka request (socket.request.max.bytes); 1KiB..1GiB",
		set:  bytesSetter(func(c *Config, n int64) { c.MaxRequestBytes = int(n) }, 1<<10, 1<<30)},
	{name: "log.level", env: "ONEXBUS_LOG_LEVEL", flag: "log-level", def: "info", reloadable: true,
		help: "trace, debug, info, warn or error",
		set: func(c *Config, v string) error {
			v = strings.ToLower(strings.TrimSpace(v))
			if l := hclog.LevelFromString(v); l == hclog.NoLevel || l == hclog.Off {
				return fmt.Errorf("%q is not trace, debug, info, warn or error", v)
			}
			c.LogLevel = v
			return nil
		}},
	{name: "log.json", env: "ONEXBUS_LOG_JSON", flag: "log-json", def: "false", boolean: true,
		help: "log one JSON object a line",
		set:  boolSetter(func(c *Config) *bool { return &c.LogJSON })},
	{name: "shutdown.timeout", env: "ONEXBUS_SHUTDOWN_TIMEOUT", flag: "shutdown-timeout", def: "30s", reloadable: true,
		help: "bound on draining requests and deliveries at SIGTERM; 1s..1h",
		set:  durationSetter(func(c *Config) *time.Duration { return &c.ShutdownTimeout }, time.Second, time.Hour, false)},
	{name: "shutdown.lame_duck", env: "ONEXBUS_SHUTDOWN_LAME_DUCK", flag: "lame-duck", def: "0s", reloadable: true,
		help: "on SIGTERM, how long /readyz answers 503 before listeners stop accepting; 0 or 1ms..5m",
		set:  durationSetter(func(c *Config) *time.Duration { return &c.LameDuck }, time.Millisecond, 5*time.Minute, true)},
	{name: "source", env: "ONEXBUS_SOURCE", flag: "source", def: "onexbusd",
		help: "source header of messages published without one; 1..255 characters",
		set: func(c *Config, v string) error {
			if len(v) < 1 || len(v) > 255 {
				return fmt.Errorf("%d characters, not 1..255", len(v))
			}
			c.Source = v
			return nil
		}},
	{name: "node.id", env: "ONEXBUS_NODE_ID", flag: "node-id", def: "",
		help: "node_id (UUID) of the node events; empty: generated once, kept in the data dir",
		set: func(c *Config, v string) error {
			v = strings.TrimSpace(v)
			if v != "" {
				id, err := uuid.Parse(v)
				if err != nil || id == uuid.Nil {
					return fmt.Errorf("%q is not a UUID", v)
				}
				v = id.String()
			}
			c.NodeID = v
			return nil
		}},
	{name: "node.name", env: "ONEXBUS_NODE_NAME", flag: "node-name", def: "onexbusd",
		help: "node_name of the node events; 1..255 characters",
		set: func(c *Config, v string) error {
			if len(v) < 1 || len(v) > 255 {
				return fmt.Errorf("%d characters, not 1..255", len(v))
			}
			c.NodeName = v
			return nil
		}},
	{name: "node.heartbeat_interval", env: "ONEXBUS_NODE_HEARTBEAT_INTERVAL", flag: "node-heartbeat-interval", def: "30s", reloadable: true,
		help: "node heartbeat period; 0 (off) or 1s..24h",
		set:  durationSetter(func(c *Config) *time.Duration { return &c.NodeHeartbeatInterval }, time.Second, 24*time.Hour, true)},
	{name: "forward.pattern", env: "ONEXBUS_FORWARD_PATTERN", flag: "forward-pattern", def: "",
		help: "local topics copied to the upstream Kafka (* one segment, ** any); empty: none",
		set: func(c *Config, v string) error {
			v = strings.TrimSpace(v)
			if v != "" {
				if _, err := core.CompilePattern(v); err != nil {
					return err
				}
			}
			c.ForwardPattern = v
			return nil
		}},
	{name: "ingest.topics", env: "ONEXBUS_INGEST_TOPICS", flag: "ingest-topics", def: "",
		help: "upstream Kafka topics appended to the local log, comma separated; empty: none",
		set: func(c *Config, v string) error {
			var out []string
			for _, t := range strings.Split(v, ",") {
				t = strings.TrimSpace(t)
				if t == "" {
					continue
				}
				if err := core.ValidateTopic(t); err != nil {
					return err
				}
				out = append(out, t)
			}
			c.IngestTopics = out
			return nil
		}},
}

func init() {
	settings = append(settings, securitySettings...)
	// The upstream rows come from transport/kafka's own table, so its
	// names, defaults, ranges and secrets are the only ones.
	for _, k := range kafka.Settings() {
		flag := "upstream-" + strings.ReplaceAll(k.Key, "_", "-")
		if k.Secret {
			flag = "" // a flag would show the secret in ps; environment or file only
		}
		settings = append(settings, setting{
			name:     "upstream." + k.Key,
			env:      k.Name,
			flag:     flag,
			def:      k.Default,
			help:     "upstream Kafka (" + k.Name + "): " + strings.TrimSuffix(k.Doc, ".") + "; " + k.Range,
			secret:   k.Secret,
			upstream: true,
			// Upstream values are collected and parsed together by
			// transport/kafka (see Load), so its ranges apply unchanged.
			set: func(*Config, string) error { return nil },
		})
	}
}

func intSetter(set func(*Config, int64), lo, hi int64) func(*Config, string) error {
	return func(c *Config, v string) error {
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return fmt.Errorf("%q is not an integer", v)
		}
		if n < lo || n > hi {
			return fmt.Errorf("%d not in %d..%d", n, lo, hi)
		}
		set(c, n)
		return nil
	}
}

var byteUnits = []struct {
	suffix string
	mult   int64
}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}}

// parseBytes reads an integer with an optional binary suffix (64MiB).
func parseBytes(v string) (int64, error) {
	s := strings.TrimSpace(v)
	mult := int64(1)
	for _, u := range byteUnits {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > math.MaxInt64/mult {
		return 0, fmt.Errorf("%q is not a byte count (an integer with an optional KiB, MiB, GiB or TiB)", v)
	}
	return n * mult, nil
}

func bytesSetter(set func(*Config, int64), lo, hi int64) func(*Config, string) error {
	return func(c *Config, v string) error {
		n, err := parseBytes(v)
		if err != nil {
			return err
		}
		if n < lo || n > hi {
			return fmt.Errorf("%d bytes not in %d..%d", n, lo, hi)
		}
		set(c, n)
		return nil
	}
}

// durationSetter reads a Go duration (1.5s, 100ms, 2h45m) in lo..hi, or
// 0 when zeroOK.
func durationSetter(field func(*Config) *time.Duration, lo, hi time.Duration, zeroOK bool) func(*Config, string) error {
	return func(c *Config, v string) error {
		d, err := time.ParseDuration(strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("%q is not a duration such as 500ms, 30s or 5m", v)
		}
		if (d != 0 || !zeroOK) && (d < lo || d > hi) {
			zero := ""
			if zeroOK {
				zero = "0 or "
			}
			return fmt.Errorf("%v not %sin %v..%v", d, zero, lo, hi)
		}
		*field(c) = d
		return nil
	}
}

func boolSetter(field func(*Config) *bool) func(*Config, string) error {
	return func(c *Config, v string) error {
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("%q is not true or false", v)
		}
		*field(c) = b
		return nil
	}
}

// addrSetter reads host:port with a port in 0..65535 (emptyOK: or nothing).
func addrSetter(field func(*Config) *string, emptyOK bool) func(*Config, string) error {
	return func(c *Config, v string) error {
		v = strings.TrimSpace(v)
		if v == "" && emptyOK {
			*field(c) = ""
			return nil
		}
		_, port, err := net.SplitHostPort(v)
		if err != nil {
			return fmt.Errorf("%q is not host:port", v)
		}
		if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
			return fmt.Errorf("%q: port not in 0..65535", v)
		}
		*field(c) = v
		return nil
	}
}
