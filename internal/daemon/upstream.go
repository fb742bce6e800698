package daemon

import (
	"strconv"
	"strings"
	"time"

	"github.com/onexbus/onexbus/transport/kafka"
)

// upstreamText returns the value of variable env in c, in the text form
// transport/kafka parses (for the defaults column and `config print`).
func upstreamText(c kafka.Config, env string) string {
	ms := func(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }
	sec := func(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'g', -1, 64) }
	switch env {
	case "KAFKA_BOOTSTRAP_SERVERS":
		return strings.Join(c.BootstrapServers, ",")
	case "KAFKA_ENVIRONMENT":
		return c.Environment
	case "KAFKA_GROUP":
		return c.Group
	case "KAFKA_TIMEOUT_SECONDS":
		return strconv.FormatInt(int64(c.Timeout/time.Second), 10)
	case "KAFKA_MAX_RETRY_ATTEMPTS":
		return strconv.Itoa(c.MaxRetryAttempts)
	case "KAFKA_RETRY_BACKOFF_BASE":
		return sec(c.RetryBackoffBase)
	case "KAFKA_CIRCUIT_BREAKER_THRESHOLD":
		return strconv.Itoa(c.CircuitBreakerThreshold)
	case "KAFKA_CIRCUIT_BREAKER_RESET_TIMEOUT":
		return sec(c.CircuitBreakerResetTimeout)
	case "KAFKA_CONSUMER_SLEEP_INTERVAL":
		return sec(c.ConsumerSleepInterval)
	case "KAFKA_ACKS":
		return c.Acks
	case "KAFKA_ENABLE_IDEMPOTENCE":
		return strconv.FormatBool(c.EnableIdempotence)
	case "KAFKA_AUTO_OFFSET_RESET":
		return c.AutoOffsetReset
	case "KAFKA_ENABLE_AUTO_COMMIT":
		return strconv.FormatBool(c.EnableAutoCommit)
	case "KAFKA_DEAD_LETTER_TOPIC":
		return c.DeadLetterTopic
	case "KAFKA_SESSION_TIMEOUT_MS":
		return ms(c.SessionTimeout)
	case "KAFKA_HEARTBEAT_INTERVAL_MS":
		return ms(c.HeartbeatInterval)
	case "KAFKA_MAX_POLL_INTERVAL_MS":
		return ms(c.MaxPollInterval)
	case "KAFKA_MAX_REQUEST_SIZE":
		return strconv.Itoa(c.MaxRequestSize)
	case "KAFKA_RECONNECT_BACKOFF_MS":
		return ms(c.ReconnectBackoff)
	case "KAFKA_RECONNECT_BACKOFF_MAX_MS":
		return ms(c.ReconnectBackoffMax)
	case "KAFKA_SECURITY_PROTOCOL":
		return c.SecurityProtocol
	case "KAFKA_SASL_MECHANISM":
		return c.SASLMechanism
	case "KAFKA_SASL_USERNAME":
		return c.SASLUsername
	case "KAFKA_SASL_PASSWORD":
		return c.SASLPassword
	case "KAFKA_SSL_CAFILE":
		return c.TLSCAFile
	case "KAFKA_SSL_CERTFILE":
		return c.TLSCertFile
	case "KAFKA_SSL_KEYFILE":
		return c.TLSKeyFile
	case "KAFKA_COMPRESSION_TYPE":
		return c.Compression
	case "KAFKA_LINGER_MS":
		return ms(c.Linger)
	case "KAFKA_BATCH_SIZE":
		return strconv.Itoa(c.BatchSize)
	case "KAFKA_BACKLOG_BUDGET_BYTES":
		return strconv.FormatInt(c.BacklogBudget, 10)
	case "KAFKA_BACKLOG_POLICY":
		return c.BacklogPolicy
	}
	// A variable added to transport/kafka after this switch: its default
	// is whatever transport/kafka says; TestUpstreamDefaultsKnown flags it.
	return ""
}
