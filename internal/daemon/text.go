package daemon

import (
	"strconv"
	"strings"
	"time"
)

// text returns the field of setting name in the text form its parser
// reads, so Validate holds a Config built in code to the same ranges as
// one loaded from a file. Upstream settings are checked by
// transport/kafka's own Validate.
func (c *Config) text(name string) (string, bool) {
	d := func(v time.Duration) string { return v.String() }
	i := func(n int64) string { return strconv.FormatInt(n, 10) }
	b := strconv.FormatBool
	switch name {
	case "data_dir":
		return c.DataDir, true
	case "durability":
		return c.Durability, true
	case "durability_interval":
		return d(c.DurabilityInterval), true
	case "kafka.addr":
		return c.KafkaAddr, true
	case "kafka.advertised_addr":
		return c.KafkaAdvertisedAddr, true
	case "kafka.node_id":
		return i(int64(c.KafkaNodeID)), true
	case "kafka.idle_timeout":
		return d(c.KafkaIdleTimeout), true
	case "http.addr":
		return c.HTTPAddr, true
	case "admin.addr":
		return c.AdminAddr, true
	case "security.insecure":
		return b(c.Insecure), true
	case "topics.default_partitions":
		return i(int64(c.DefaultPartitions)), true
	case "topics.retention_messages":
		return i(c.RetentionMessages), true
	case "topics.retention_bytes":
		return i(c.RetentionBytes), true
	case "topics.retention_age":
		return d(c.RetentionAge), true
	case "topics.enforcement":
		return c.Enforcement, true
	case "topics.format":
		return c.TopicFormat, true
	case "topics.auto_create":
		return b(c.AutoCreateTopics), true
	case "dedup.window":
		return d(c.DedupWindow), true
	case "dedup.max_ids":
		return i(int64(c.DedupMaxIDs)), true
	case "transactions.id_expiration":
		return d(c.TxnIDExpiration), true
	case "transactions.max_ids":
		return i(int64(c.TxnMaxIDs)), true
	case "transactions.aborted_index_memory":
		return i(int64(c.TxnAbortedIndexMemory)), true
	case "transactions.max_timeout":
		return d(c.TxnMaxTimeout), true
	case "transactions.producer_id_expiration":
		return d(c.ProducerIDExpiration), true
	case "retry.max_attempts":
		return i(int64(c.RetryMaxAttempts)), true
	case "retry.base":
		return d(c.RetryBase), true
	case "retry.max":
		return d(c.RetryMax), true
	case "breaker.threshold":
		return i(int64(c.BreakerThreshold)), true
	case "breaker.reset_timeout":
		return d(c.BreakerResetTimeout), true
	case "limits.max_message_bytes":
		return i(int64(c.MaxMessageBytes)), true
	case "limits.max_connections":
		return i(int64(c.MaxConnections)), true
	case "limits.max_in_flight_bytes":
		return i(c.MaxInFlightBytes), true
	case "limits.max_request_bytes":
		return i(int64(c.MaxRequestBytes)), true
	case "log.level":
		return c.LogLevel, true
	case "log.json":
		return b(c.LogJSON), true
	case "shutdown.timeout":
		return d(c.ShutdownTimeout), true
	case "shutdown.lame_duck":
		return d(c.LameDuck), true
	case "source":
		return c.Source, true
	case "node.id":
		return c.NodeID, true
	case "node.name":
		return c.NodeName, true
	case "node.heartbeat_interval":
		return d(c.NodeHeartbeatInterval), true
	case "forward.pattern":
		return c.ForwardPattern, true
	case "ingest.topics":
		return strings.Join(c.IngestTopics, ","), true
	}
	return c.securityText(name)
}
