package kafka

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
	"go.yaml.in/yaml/v3"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/internal/backoff"
)

// values are the settings of a Config, one field per variable of the
// table (named in the field's doc), parsed and range-checked by the
// table's setters; only this file and config.go write them.
type values struct {
	// BootstrapServers (KAFKA_BOOTSTRAP_SERVERS, comma separated
	// host:port) are the seed brokers. Default localhost:9092; 1 to 100.
	BootstrapServers []string
	// Environment (KAFKA_ENVIRONMENT) is the env part of group ids.
	// Default dev; 1-64 of [a-zA-Z0-9_-].
	Environment string
	// Group (KAFKA_GROUP) is the ingest consumer group. Default onexbus;
	// 1-255 of [a-zA-Z0-9._-].
	Group string
	// Timeout (KAFKA_TIMEOUT_SECONDS, integer seconds) bounds one Kafka
	// operation: an admin request, a commit; a forwarded batch without its
	// ack after Timeout opens the forwarder's breaker. Default 30s; 1..3600.
	Timeout time.Duration
	// MaxRetryAttempts (KAFKA_MAX_RETRY_ATTEMPTS) is how many times ingest
	// tries a Kafka commit before it goes on without it (the batch is
	// durable locally; a restart ingests it again and dedup stores it
	// once), and how many times the forwarder produces a record Kafka
	// rejects for what it is before dead-lettering it. A failing local
	// append is retried for as long as the ingest runs, and the forwarder
	// never drops a record Kafka could take: both back off instead.
	// Default 3; 1..100.
	MaxRetryAttempts int
	// RetryBackoffBase (KAFKA_RETRY_BACKOFF_BASE, seconds, fractions
	// allowed) is the first retry delay: attempt n waits base*2^n with
	// jitter 0.5..1.5, capped at CircuitBreakerResetTimeout. Default 1s;
	// 0.001..60.
	RetryBackoffBase time.Duration
	// CircuitBreakerThreshold (KAFKA_CIRCUIT_BREAKER_THRESHOLD) is how many
	// consecutive failed produce attempts open the forwarder's breaker.
	// Default 5; 1..1000.
	CircuitBreakerThreshold int
	// CircuitBreakerResetTimeout (KAFKA_CIRCUIT_BREAKER_RESET_TIMEOUT,
	// seconds) is how long the open breaker waits before one probe.
	// Default 60s; 0.01..3600.
	CircuitBreakerResetTimeout time.Duration
	// ConsumerSleepInterval (KAFKA_CONSUMER_SLEEP_INTERVAL, seconds) is how
	// often the forwarder looks for new local topics. Default 1s;
	// 0.001..60.
	ConsumerSleepInterval time.Duration
	// Acks (KAFKA_ACKS: all, -1, 1 or 0) is the producer's required acks.
	// Default all.
	Acks string
	// EnableIdempotence (KAFKA_ENABLE_IDEMPOTENCE) makes the producer
	// idempotent; it requires Acks all. Default true.
	EnableIdempotence bool
	// AutoOffsetReset (KAFKA_AUTO_OFFSET_RESET: earliest or latest) is where
	// a new ingest group starts. Default earliest: nothing retained upstream
	// is skipped.
	AutoOffsetReset string
	// EnableAutoCommit (KAFKA_ENABLE_AUTO_COMMIT) exists for the original
	// system's configurations. onexbus never auto-commits (the original lost
	// messages that way): false is accepted, true is rejected by Validate
	// so that nobody believes they get semantics they do not. Default false.
	EnableAutoCommit bool
	// DeadLetterTopic (KAFKA_DEAD_LETTER_TOPIC) is the local topic ingest
	// writes a Kafka record to when the record cannot be appended as is
	// (an invalid topic name or a message too large). Default
	// onex.dlq.kafka.ingest.v1; a valid topic name.
	DeadLetterTopic string
	// SessionTimeout (KAFKA_SESSION_TIMEOUT_MS) of the ingest group member.
	// Default 45s; 1000..3600000 ms.
	SessionTimeout time.Duration
	// HeartbeatInterval (KAFKA_HEARTBEAT_INTERVAL_MS); less than
	// SessionTimeout. Default 3s; 100..600000 ms.
	HeartbeatInterval time.Duration
	// MaxPollInterval (KAFKA_MAX_POLL_INTERVAL_MS) is the group's rebalance
	// timeout: how long a member may take to finish its batch and commit
	// when partitions move. Default 5m; 1000..3600000 ms.
	MaxPollInterval time.Duration
	// MaxRequestSize (KAFKA_MAX_REQUEST_SIZE, bytes) caps one request to a
	// broker. Default 1 MiB; 1024..1 GiB.
	MaxRequestSize int
	// ReconnectBackoff (KAFKA_RECONNECT_BACKOFF_MS) is the first delay
	// before retrying a failed request or connection. Default 50ms;
	// 0..60000 ms.
	ReconnectBackoff time.Duration
	// ReconnectBackoffMax (KAFKA_RECONNECT_BACKOFF_MAX_MS) caps that delay;
	// at least ReconnectBackoff. Default 1s; 0..300000 ms.
	ReconnectBackoffMax time.Duration
	// SecurityProtocol (KAFKA_SECURITY_PROTOCOL): PLAINTEXT, SSL,
	// SASL_PLAINTEXT or SASL_SSL. Default PLAINTEXT.
	SecurityProtocol string
	// SASLMechanism (KAFKA_SASL_MECHANISM): PLAIN, SCRAM-SHA-256 or
	// SCRAM-SHA-512; required by the SASL_* protocols, refused otherwise.
	SASLMechanism string
	// SASLUsername (KAFKA_SASL_USERNAME), required with a mechanism.
	SASLUsername string
	// SASLPassword (KAFKA_SASL_PASSWORD), required with a mechanism.
	SASLPassword string
	// TLSCAFile (KAFKA_SSL_CAFILE) is a PEM file of CAs to trust instead of
	// the system's. Only with SSL or SASL_SSL.
	TLSCAFile string
	// TLSCertFile (KAFKA_SSL_CERTFILE) is the PEM client certificate;
	// given together with TLSKeyFile. Only with SSL or SASL_SSL.
	TLSCertFile string
	// TLSKeyFile (KAFKA_SSL_KEYFILE) is the PEM key of TLSCertFile.
	TLSKeyFile string
	// Compression (KAFKA_COMPRESSION_TYPE): none, gzip, snappy, lz4 or
	// zstd. Default none.
	Compression string
	// Linger (KAFKA_LINGER_MS) is how long the producer waits to fill a
	// batch. Default 5ms; 0..60000 ms.
	Linger time.Duration
	// BatchSize (KAFKA_BATCH_SIZE, bytes) caps one record batch; at most
	// MaxRequestSize. Default 1 MiB; 512..1 GiB.
	BatchSize int
	// BacklogBudget (KAFKA_BACKLOG_BUDGET_BYTES) bounds the bytes the
	// local log holds for the forwarder that Kafka has not acknowledged
	// yet, over every forwarded partition (counted in whole stored
	// chunks, so it may overshoot by one chunk per partition). At the
	// budget every publisher to a forwarded topic is held back as
	// BacklogPolicy says. Default 0: no budget (the disk is the limit);
	// 0..1 PiB.
	BacklogBudget int64
	// BacklogPolicy (KAFKA_BACKLOG_POLICY: block or reject) is what a
	// publish to a forwarded topic does at the budget: block waits until
	// the forwarder has drained below it (or the publisher's context
	// ends); reject fails at once with an error wrapping ErrBacklogFull.
	// Default block.
	BacklogPolicy string
}

// defaultValues returns every default.
func defaultValues() values {
	return values{
		BootstrapServers:           []string{"localhost:9092"},
		Environment:                "dev",
		Group:                      "onexbus",
		Timeout:                    30 * time.Second,
		MaxRetryAttempts:           3,
		RetryBackoffBase:           time.Second,
		CircuitBreakerThreshold:    5,
		CircuitBreakerResetTimeout: 60 * time.Second,
		ConsumerSleepInterval:      time.Second,
		Acks:                       "all",
		EnableIdempotence:          true,
		AutoOffsetReset:            "earliest",
		DeadLetterTopic:            "onex.dlq.kafka.ingest.v1",
		SessionTimeout:             45 * time.Second,
		HeartbeatInterval:          3 * time.Second,
		MaxPollInterval:            5 * time.Minute,
		MaxRequestSize:             1 << 20,
		ReconnectBackoff:           50 * time.Millisecond,
		ReconnectBackoffMax:        time.Second,
		SecurityProtocol:           ProtocolPlaintext,
		Compression:                "none",
		Linger:                     5 * time.Millisecond,
		BatchSize:                  1 << 20,
		BacklogPolicy:              BacklogBlock,
	}
}

// setting is one variable: its environment name and how it parses and
// range-checks a text value into a Config. parse errors never include the
// value of a secret.
type setting struct {
	env   string
	parse func(c *values, v string) error
}

// yamlKey is the YAML key of an environment variable: KAFKA_ACKS -> acks.
func (s setting) yamlKey() string { return strings.ToLower(strings.TrimPrefix(s.env, "KAFKA_")) }

var settings = []setting{
	{"KAFKA_BOOTSTRAP_SERVERS", func(c *values, v string) error {
		var out []string
		for _, s := range strings.Split(v, ",") {
			s = strings.TrimSpace(s)
			if s == "" {
				continue
			}
			host, port, err := net.SplitHostPort(s)
			if err != nil || host == "" {
				return fmt.Errorf("%q is not host:port", s)
			}
			if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
				return fmt.Errorf("%q: port not in 1..65535", s)
			}
			out = append(out, s)
		}
		if len(out) < 1 || len(out) > 100 {
			return fmt.Errorf("%d servers, not 1..100", len(out))
		}
		c.BootstrapServers = out
		return nil
	}},
	{"KAFKA_ENVIRONMENT", nameSetter(func(c *values) *string { return &c.Environment }, 64, false)},
	{"KAFKA_GROUP", nameSetter(func(c *values) *string { return &c.Group }, 255, true)},
	{"KAFKA_TIMEOUT_SECONDS", intSetter(func(c *values, n int) { c.Timeout = time.Duration(n) * time.Second }, 1, 3600)},
	{"KAFKA_MAX_RETRY_ATTEMPTS", intSetter(func(c *values, n int) { c.MaxRetryAttempts = n }, 1, 100)},
	{"KAFKA_RETRY_BACKOFF_BASE", secondsSetter(func(c *values) *time.Duration { return &c.RetryBackoffBase }, time.Millisecond, time.Minute)},
	{"KAFKA_CIRCUIT_BREAKER_THRESHOLD", intSetter(func(c *values, n int) { c.CircuitBreakerThreshold = n }, 1, 1000)},
	{"KAFKA_CIRCUIT_BREAKER_RESET_TIMEOUT", secondsSetter(func(c *values) *time.Duration { return &c.CircuitBreakerResetTimeout }, 10*time.Millisecond, time.Hour)},
	{"KAFKA_CONSUMER_SLEEP_INTERVAL", secondsSetter(func(c *values) *time.Duration { return &c.ConsumerSleepInterval }, time.Millisecond, time.Minute)},
	{"KAFKA_ACKS", choiceSetter(func(c *values) *string { return &c.Acks }, "all", "-1", "1", "0")},
	{"KAFKA_ENABLE_IDEMPOTENCE", boolSetter(func(c *values) *bool { return &c.EnableIdempotence })},
	{"KAFKA_AUTO_OFFSET_RESET", choiceSetter(func(c *values) *string { return &c.AutoOffsetReset }, "earliest", "latest")},
	{"KAFKA_ENABLE_AUTO_COMMIT", boolSetter(func(c *values) *bool { return &c.EnableAutoCommit })},
	{"KAFKA_DEAD_LETTER_TOPIC", func(c *values, v string) error {
		if err := core.ValidateTopic(v); err != nil {
			return err
		}
		c.DeadLetterTopic = v
		return nil
	}},
	{"KAFKA_SESSION_TIMEOUT_MS", msSetter(func(c *values) *time.Duration { return &c.SessionTimeout }, 1000, 3_600_000)},
	{"KAFKA_HEARTBEAT_INTERVAL_MS", msSetter(func(c *values) *time.Duration { return &c.HeartbeatInterval }, 100, 600_000)},
	{"KAFKA_MAX_POLL_INTERVAL_MS", msSetter(func(c *values) *time.Duration { return &c.MaxPollInterval }, 1000, 3_600_000)},
	{"KAFKA_MAX_REQUEST_SIZE", intSetter(func(c *values, n int) { c.MaxRequestSize = n }, 1024, 1<<30)},
	{"KAFKA_RECONNECT_BACKOFF_MS", msSetter(func(c *values) *time.Duration { return &c.ReconnectBackoff }, 0, 60_000)},
	{"KAFKA_RECONNECT_BACKOFF_MAX_MS", msSetter(func(c *values) *time.Duration { return &c.ReconnectBackoffMax }, 0, 300_000)},
	{"KAFKA_SECURITY_PROTOCOL", choiceSetter(func(c *values) *string { return &c.SecurityProtocol }, ProtocolPlaintext, ProtocolSSL, ProtocolSASLPlaintext, ProtocolSASLSSL)},
	{"KAFKA_SASL_MECHANISM", choiceSetter(func(c *values) *string { return &c.SASLMechanism }, MechanismPlain, MechanismScramSHA256, MechanismScramSHA512)},
	{"KAFKA_SASL_USERNAME", textSetter(func(c *values) *string { return &c.SASLUsername })},
	{"KAFKA_SASL_PASSWORD", textSetter(func(c *values) *string { return &c.SASLPassword })},
	{"KAFKA_SSL_CAFILE", textSetter(func(c *values) *string { return &c.TLSCAFile })},
	{"KAFKA_SSL_CERTFILE", textSetter(func(c *values) *string { return &c.TLSCertFile })},
	{"KAFKA_SSL_KEYFILE", textSetter(func(c *values) *string { return &c.TLSKeyFile })},
	{"KAFKA_COMPRESSION_TYPE", choiceSetter(func(c *values) *string { return &c.Compression }, "none", "gzip", "snappy", "lz4", "zstd")},
	{"KAFKA_LINGER_MS", msSetter(func(c *values) *time.Duration { return &c.Linger }, 0, 60_000)},
	{"KAFKA_BATCH_SIZE", intSetter(func(c *values, n int) { c.BatchSize = n }, 512, 1<<30)},
	{"KAFKA_BACKLOG_BUDGET_BYTES", intSetter(func(c *values, n int) { c.BacklogBudget = int64(n) }, 0, 1<<50)},
	{"KAFKA_BACKLOG_POLICY", choiceSetter(func(c *values) *string { return &c.BacklogPolicy }, BacklogBlock, BacklogReject)},
}

func intSetter(set func(*values, int), lo, hi int) func(*values, string) error {
	return func(c *values, v string) error {
		n, err := strconv.Atoi(strings.TrimSpace(v))
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

func msSetter(field func(*values) *time.Duration, lo, hi int) func(*values, string) error {
	return intSetter(func(c *values, n int) { *field(c) = time.Duration(n) * time.Millisecond }, lo, hi)
}

// secondsSetter parses seconds with an optional fraction ("1.5").
func secondsSetter(field func(*values) *time.Duration, lo, hi time.Duration) func(*values, string) error {
	return func(c *values, v string) error {
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return fmt.Errorf("%q is not a number of seconds", v)
		}
		d := time.Duration(f * float64(time.Second))
		if f*float64(time.Second) > float64(math.MaxInt64) || d < lo || d > hi {
			return fmt.Errorf("%s s not in %g..%g s", strconv.FormatFloat(f, 'g', -1, 64), lo.Seconds(), hi.Seconds())
		}
		*field(c) = d
		return nil
	}
}

func boolSetter(field func(*values) *bool) func(*values, string) error {
	return func(c *values, v string) error {
		b, err := strconv.ParseBool(strings.TrimSpace(v))
		if err != nil {
			return fmt.Errorf("%q is not true or false", v)
		}
		*field(c) = b
		return nil
	}
}

func choiceSetter(field func(*values) *string, choices ...string) func(*values, string) error {
	return func(c *values, v string) error {
		v = strings.TrimSpace(v)
		for _, ch := range choices {
			if strings.EqualFold(v, ch) {
				*field(c) = ch
				return nil
			}
		}
		return fmt.Errorf("%q is not one of %s", v, strings.Join(choices, ", "))
	}
}

func textSetter(field func(*values) *string) func(*values, string) error {
	return func(c *values, v string) error { *field(c) = v; return nil }
}

// nameSetter accepts 1..max characters of [a-zA-Z0-9_-] (and '.' if dots).
func nameSetter(field func(*values) *string, max int, dots bool) func(*values, string) error {
	return func(c *values, v string) error {
		if len(v) < 1 || len(v) > max {
			return fmt.Errorf("%d characters, not 1..%d", len(v), max)
		}
		for i := 0; i < len(v); i++ {
			ch := v[i]
			ok := ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '_' || ch == '-' || dots && ch == '.'
			if !ok {
				return fmt.Errorf("character %q at %d is not allowed", ch, i)
			}
		}
		*field(c) = v
		return nil
	}
}

// settingError is one variable's problem.
func settingError(name string, err error) error {
	return fmt.Errorf("%w: %s: %w", ErrInvalidConfig, name, err)
}

// applyEnv sets every variable getenv returns non-empty; it returns every
// problem, each naming its variable.
func (c *values) applyEnv(getenv func(string) string) []error {
	var errs []error
	for _, s := range settings {
		v := getenv(s.env)
		if v == "" {
			continue
		}
		if err := s.parse(c, v); err != nil {
			errs = append(errs, settingError(s.env, err))
		}
	}
	return errs
}

// applyYAML sets every key of the YAML file at path. An unknown key, a
// value that is neither a scalar nor a list of scalars, a missing file or
// malformed YAML is an error.
func (c *values) applyYAML(path string) []error {
	data, err := os.ReadFile(path)
	if err != nil {
		return []error{fmt.Errorf("%w: read YAML file: %w", ErrInvalidConfig, err)}
	}
	var doc map[string]yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return []error{fmt.Errorf("%w: YAML file %s: %w", ErrInvalidConfig, path, err)}
	}
	byKey := make(map[string]setting, len(settings))
	for _, s := range settings {
		byKey[s.yamlKey()] = s
	}
	var errs []error
	for key, node := range doc {
		s, ok := byKey[key]
		where := fmt.Sprintf("%s:%d: %s (%s)", path, node.Line, key, s.env)
		if !ok {
			errs = append(errs, fmt.Errorf("%w: %s:%d: unknown key %q", ErrInvalidConfig, path, node.Line, key))
			continue
		}
		var v string
		switch node.Kind {
		case yaml.ScalarNode:
			v = node.Value
		case yaml.SequenceNode:
			parts := make([]string, 0, len(node.Content))
			for _, n := range node.Content {
				if n.Kind != yaml.ScalarNode {
					errs = append(errs, settingError(where, errors.New("list items must be scalars")))
					parts = nil
					break
				}
				parts = append(parts, n.Value)
			}
			if parts == nil {
				continue
			}
			v = strings.Join(parts, ",")
		default:
			errs = append(errs, settingError(where, errors.New("must be a scalar or a list")))
			continue
		}
		if err := s.parse(c, v); err != nil {
			errs = append(errs, settingError(where, err))
		}
	}
	return errs
}

// validate checks every field's range and the rules between fields, and
// reports every problem at once (errors.Join), each naming its variable
// and wrapping ErrInvalidConfig.
func (c values) validate() error {
	var errs []error
	bad := func(name string, format string, args ...any) {
		errs = append(errs, settingError(name, fmt.Errorf(format, args...)))
	}
	// Ranges: re-run each setting's parser on the field's text form, so a
	// Config built in code is held to the same ranges as the environment.
	for _, s := range settings {
		v, ok := c.text(s.env)
		if !ok {
			continue
		}
		probe := c
		if err := s.parse(&probe, v); err != nil {
			errs = append(errs, settingError(s.env, err))
		}
	}
	if c.HeartbeatInterval >= c.SessionTimeout {
		bad("KAFKA_HEARTBEAT_INTERVAL_MS", "%v is not less than KAFKA_SESSION_TIMEOUT_MS %v", c.HeartbeatInterval, c.SessionTimeout)
	}
	if c.EnableIdempotence && c.Acks != "all" && c.Acks != "-1" {
		bad("KAFKA_ENABLE_IDEMPOTENCE", "idempotence needs KAFKA_ACKS=all, not %s", c.Acks)
	}
	if c.EnableAutoCommit {
		bad("KAFKA_ENABLE_AUTO_COMMIT", "onexbus never auto-commits: Kafka offsets are committed only once the local append is durable; unset it or set it to false")
	}
	if c.ReconnectBackoff > c.ReconnectBackoffMax {
		bad("KAFKA_RECONNECT_BACKOFF_MAX_MS", "%v is less than KAFKA_RECONNECT_BACKOFF_MS %v", c.ReconnectBackoffMax, c.ReconnectBackoff)
	}
	if c.BatchSize > c.MaxRequestSize {
		bad("KAFKA_BATCH_SIZE", "%d is more than KAFKA_MAX_REQUEST_SIZE %d", c.BatchSize, c.MaxRequestSize)
	}
	sasl := c.SecurityProtocol == ProtocolSASLPlaintext || c.SecurityProtocol == ProtocolSASLSSL
	tlsOn := c.SecurityProtocol == ProtocolSSL || c.SecurityProtocol == ProtocolSASLSSL
	switch {
	case sasl && c.SASLMechanism == "":
		bad("KAFKA_SASL_MECHANISM", "empty, but KAFKA_SECURITY_PROTOCOL %s needs one", c.SecurityProtocol)
	case !sasl && c.SASLMechanism != "":
		bad("KAFKA_SASL_MECHANISM", "%s is set, but KAFKA_SECURITY_PROTOCOL %s uses no SASL", c.SASLMechanism, c.SecurityProtocol)
	}
	if sasl && c.SASLMechanism != "" {
		if c.SASLUsername == "" {
			bad("KAFKA_SASL_USERNAME", "empty, but KAFKA_SASL_MECHANISM %s needs it", c.SASLMechanism)
		}
		if c.SASLPassword == "" {
			bad("KAFKA_SASL_PASSWORD", "empty, but KAFKA_SASL_MECHANISM %s needs it", c.SASLMechanism)
		}
	}
	if !tlsOn {
		for name, v := range map[string]string{"KAFKA_SSL_CAFILE": c.TLSCAFile, "KAFKA_SSL_CERTFILE": c.TLSCertFile, "KAFKA_SSL_KEYFILE": c.TLSKeyFile} {
			if v != "" {
				bad(name, "set, but KAFKA_SECURITY_PROTOCOL %s uses no TLS", c.SecurityProtocol)
			}
		}
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		bad("KAFKA_SSL_KEYFILE", "KAFKA_SSL_CERTFILE and KAFKA_SSL_KEYFILE go together")
	}
	return errors.Join(errs...)
}

// value returns the field of variable env in the form its parser reads,
// every variable included.
func (c values) value(env string) string {
	if v, ok := c.text(env); ok {
		return v
	}
	switch env {
	case "KAFKA_ENABLE_IDEMPOTENCE":
		return strconv.FormatBool(c.EnableIdempotence)
	case "KAFKA_ENABLE_AUTO_COMMIT":
		return strconv.FormatBool(c.EnableAutoCommit)
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
	}
	return ""
}

// text returns the field of variable env in the form its parser reads,
// and false for free text and boolean fields, which have no range.
func (c values) text(env string) (string, bool) {
	ms := func(d time.Duration) string { return strconv.FormatInt(d.Milliseconds(), 10) }
	sec := func(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'g', -1, 64) }
	switch env {
	case "KAFKA_BOOTSTRAP_SERVERS":
		return strings.Join(c.BootstrapServers, ","), true
	case "KAFKA_ENVIRONMENT":
		return c.Environment, true
	case "KAFKA_GROUP":
		return c.Group, true
	case "KAFKA_TIMEOUT_SECONDS":
		if c.Timeout%time.Second != 0 {
			return "not whole seconds", true
		}
		return strconv.FormatInt(int64(c.Timeout/time.Second), 10), true
	case "KAFKA_MAX_RETRY_ATTEMPTS":
		return strconv.Itoa(c.MaxRetryAttempts), true
	case "KAFKA_RETRY_BACKOFF_BASE":
		return sec(c.RetryBackoffBase), true
	case "KAFKA_CIRCUIT_BREAKER_THRESHOLD":
		return strconv.Itoa(c.CircuitBreakerThreshold), true
	case "KAFKA_CIRCUIT_BREAKER_RESET_TIMEOUT":
		return sec(c.CircuitBreakerResetTimeout), true
	case "KAFKA_CONSUMER_SLEEP_INTERVAL":
		return sec(c.ConsumerSleepInterval), true
	case "KAFKA_ACKS":
		return c.Acks, true
	case "KAFKA_AUTO_OFFSET_RESET":
		return c.AutoOffsetReset, true
	case "KAFKA_DEAD_LETTER_TOPIC":
		return c.DeadLetterTopic, true
	case "KAFKA_SESSION_TIMEOUT_MS":
		return ms(c.SessionTimeout), true
	case "KAFKA_HEARTBEAT_INTERVAL_MS":
		return ms(c.HeartbeatInterval), true
	case "KAFKA_MAX_POLL_INTERVAL_MS":
		return ms(c.MaxPollInterval), true
	case "KAFKA_MAX_REQUEST_SIZE":
		return strconv.Itoa(c.MaxRequestSize), true
	case "KAFKA_RECONNECT_BACKOFF_MS":
		return ms(c.ReconnectBackoff), true
	case "KAFKA_RECONNECT_BACKOFF_MAX_MS":
		return ms(c.ReconnectBackoffMax), true
	case "KAFKA_SECURITY_PROTOCOL":
		return c.SecurityProtocol, true
	case "KAFKA_SASL_MECHANISM":
		return c.SASLMechanism, c.SASLMechanism != ""
	case "KAFKA_COMPRESSION_TYPE":
		return c.Compression, true
	case "KAFKA_LINGER_MS":
		return ms(c.Linger), true
	case "KAFKA_BATCH_SIZE":
		return strconv.Itoa(c.BatchSize), true
	case "KAFKA_BACKLOG_BUDGET_BYTES":
		return strconv.FormatInt(c.BacklogBudget, 10), true
	case "KAFKA_BACKLOG_POLICY":
		return c.BacklogPolicy, true
	}
	return "", false
}

// clientOptions returns the kgo options every client of this package
// shares: seed brokers, TLS and SASL, retry backoff, request size, and the
// producer's acks, idempotence, compression, linger and batch size. It reads the TLS files; an unreadable or invalid file
// is an error naming its variable.
func (c values) clientOptions() ([]kgo.Opt, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	base, maxB := c.ReconnectBackoff, c.ReconnectBackoffMax
	opts := []kgo.Opt{
		kgo.SeedBrokers(c.BootstrapServers...),
		kgo.RetryBackoffFn(func(tries int) time.Duration { return backoff.Delay(base, maxB, tries-1) }),
		kgo.BrokerMaxWriteBytes(int32(c.MaxRequestSize)),
		kgo.ProducerBatchMaxBytes(int32(c.BatchSize)),
		kgo.ProducerLinger(c.Linger),
		// No record delivery timeout: kgo measures it from the record's
		// timestamp, which for a forwarded backlog is the (old) publish
		// time; and an idempotent record in flight cannot time out anyway.
		// The forwarder detects a stall itself (KAFKA_TIMEOUT_SECONDS).
	}
	switch c.Acks {
	case "all", "-1":
		opts = append(opts, kgo.RequiredAcks(kgo.AllISRAcks()))
	case "1":
		opts = append(opts, kgo.RequiredAcks(kgo.LeaderAck()))
	case "0":
		opts = append(opts, kgo.RequiredAcks(kgo.NoAck()))
	}
	if !c.EnableIdempotence {
		opts = append(opts, kgo.DisableIdempotentWrite())
	}
	switch c.Compression {
	case "gzip":
		opts = append(opts, kgo.ProducerBatchCompression(kgo.GzipCompression()))
	case "snappy":
		opts = append(opts, kgo.ProducerBatchCompression(kgo.SnappyCompression()))
	case "lz4":
		opts = append(opts, kgo.ProducerBatchCompression(kgo.Lz4Compression()))
	case "zstd":
		opts = append(opts, kgo.ProducerBatchCompression(kgo.ZstdCompression()))
	default:
		opts = append(opts, kgo.ProducerBatchCompression(kgo.NoCompression()))
	}
	if c.SecurityProtocol == ProtocolSSL || c.SecurityProtocol == ProtocolSASLSSL {
		tc, err := c.tlsConfig()
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	switch c.SASLMechanism {
	case MechanismPlain:
		opts = append(opts, kgo.SASL(plain.Auth{User: c.SASLUsername, Pass: c.SASLPassword}.AsMechanism()))
	case MechanismScramSHA256:
		opts = append(opts, kgo.SASL(scram.Auth{User: c.SASLUsername, Pass: c.SASLPassword}.AsSha256Mechanism()))
	case MechanismScramSHA512:
		opts = append(opts, kgo.SASL(scram.Auth{User: c.SASLUsername, Pass: c.SASLPassword}.AsSha512Mechanism()))
	}
	return opts, nil
}

// tlsConfig builds the client's TLS configuration from the files.
func (c values) tlsConfig() (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	var errs []error
	if c.TLSCAFile != "" {
		pem, err := os.ReadFile(c.TLSCAFile)
		switch {
		case err != nil:
			errs = append(errs, settingError("KAFKA_SSL_CAFILE", err))
		default:
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				errs = append(errs, settingError("KAFKA_SSL_CAFILE", fmt.Errorf("%s holds no PEM certificate", c.TLSCAFile)))
			}
			tc.RootCAs = pool
		}
	}
	if c.TLSCertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.TLSCertFile, c.TLSKeyFile)
		if err != nil {
			errs = append(errs, settingError("KAFKA_SSL_CERTFILE", err))
		} else {
			tc.Certificates = []tls.Certificate{cert}
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return tc, nil
}

// settingInfo is what Settings says of each variable besides its name,
// key and default; TestSettingsTable checks that every variable has one.
var settingInfo = map[string]struct {
	rng    string
	doc    string
	secret bool
}{
	"KAFKA_BOOTSTRAP_SERVERS":             {rng: "1..100 host:port, comma separated", doc: "seed brokers of the upstream cluster"},
	"KAFKA_ENVIRONMENT":                   {rng: "1..64 of [a-zA-Z0-9_-]", doc: "the env part of group ids (GroupID)"},
	"KAFKA_GROUP":                         {rng: "1..255 of [a-zA-Z0-9._-]", doc: "consumer group of the ingest"},
	"KAFKA_TIMEOUT_SECONDS":               {rng: "1..3600 (whole seconds)", doc: "bound of one Kafka operation; a forwarded batch without its ack this long opens the breaker"},
	"KAFKA_MAX_RETRY_ATTEMPTS":            {rng: "1..100", doc: "tries of an ingest's Kafka commit, and produces of a record Kafka rejects before the forwarder dead-letters it"},
	"KAFKA_RETRY_BACKOFF_BASE":            {rng: "0.001..60 s", doc: "first retry delay: base*2^n, jittered 0.5..1.5, capped at the breaker's reset timeout"},
	"KAFKA_CIRCUIT_BREAKER_THRESHOLD":     {rng: "1..1000", doc: "consecutive failed produces that open the forwarder's breaker"},
	"KAFKA_CIRCUIT_BREAKER_RESET_TIMEOUT": {rng: "0.01..3600 s", doc: "how long the open breaker waits before one probe"},
	"KAFKA_CONSUMER_SLEEP_INTERVAL":       {rng: "0.001..60 s", doc: "how often the forwarder looks for new local topics"},
	"KAFKA_ACKS":                          {rng: "all, -1, 1, 0", doc: "acks the producer requires"},
	"KAFKA_ENABLE_IDEMPOTENCE":            {rng: "true, false", doc: "idempotent producer; needs acks all"},
	"KAFKA_AUTO_OFFSET_RESET":             {rng: "earliest, latest", doc: "where a new ingest group starts"},
	"KAFKA_ENABLE_AUTO_COMMIT":            {rng: "false (true is refused)", doc: "kept for the original system's files; onexbus commits only after the local append"},
	"KAFKA_DEAD_LETTER_TOPIC":             {rng: "a topic name", doc: "local topic of Kafka records the bus refuses"},
	"KAFKA_SESSION_TIMEOUT_MS":            {rng: "1000..3600000 ms", doc: "session timeout of the ingest's group member"},
	"KAFKA_HEARTBEAT_INTERVAL_MS":         {rng: "100..600000 ms, below the session timeout", doc: "heartbeat interval of the ingest's group member"},
	"KAFKA_MAX_POLL_INTERVAL_MS":          {rng: "1000..3600000 ms", doc: "rebalance timeout: how long a member may take to finish its batch"},
	"KAFKA_MAX_REQUEST_SIZE":              {rng: "1024..1073741824 bytes", doc: "largest request to a broker"},
	"KAFKA_RECONNECT_BACKOFF_MS":          {rng: "0..60000 ms", doc: "first delay before retrying a request or connection"},
	"KAFKA_RECONNECT_BACKOFF_MAX_MS":      {rng: "0..300000 ms, at least the reconnect backoff", doc: "cap of that delay"},
	"KAFKA_SECURITY_PROTOCOL":             {rng: "PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL", doc: "transport security to the brokers"},
	"KAFKA_SASL_MECHANISM":                {rng: "PLAIN, SCRAM-SHA-256, SCRAM-SHA-512; only with SASL_*", doc: "SASL mechanism"},
	"KAFKA_SASL_USERNAME":                 {rng: "text; required with a mechanism", doc: "SASL user"},
	"KAFKA_SASL_PASSWORD":                 {rng: "text; required with a mechanism", doc: "SASL password", secret: true},
	"KAFKA_SSL_CAFILE":                    {rng: "PEM file; only with SSL, SASL_SSL", doc: "CAs to trust instead of the system's"},
	"KAFKA_SSL_CERTFILE":                  {rng: "PEM file, with the key file; only with SSL, SASL_SSL", doc: "client certificate"},
	"KAFKA_SSL_KEYFILE":                   {rng: "PEM file, with the certificate file", doc: "key of the client certificate"},
	"KAFKA_COMPRESSION_TYPE":              {rng: "none, gzip, snappy, lz4, zstd", doc: "compression of produced batches"},
	"KAFKA_LINGER_MS":                     {rng: "0..60000 ms", doc: "how long the producer waits to fill a batch"},
	"KAFKA_BATCH_SIZE":                    {rng: "512..1073741824 bytes, at most the request size", doc: "largest record batch"},
	"KAFKA_BACKLOG_BUDGET_BYTES":          {rng: "0..1125899906842624 bytes (0: none)", doc: "bytes of forwarded topics not yet acknowledged by Kafka before publishers are held"},
	"KAFKA_BACKLOG_POLICY":                {rng: "block, reject", doc: "what a publish at the budget does"},
}
