package kafka

import (
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Security protocols of KAFKA_SECURITY_PROTOCOL, as Kafka names them.
const (
	ProtocolPlaintext     = "PLAINTEXT"
	ProtocolSSL           = "SSL"
	ProtocolSASLPlaintext = "SASL_PLAINTEXT"
	ProtocolSASLSSL       = "SASL_SSL"
)

// SASL mechanisms of KAFKA_SASL_MECHANISM.
const (
	MechanismPlain       = "PLAIN"
	MechanismScramSHA256 = "SCRAM-SHA-256"
	MechanismScramSHA512 = "SCRAM-SHA-512"
)

// Backlog policies of KAFKA_BACKLOG_POLICY.
const (
	BacklogBlock  = "block"
	BacklogReject = "reject"
)

// Config is the Kafka configuration of the original system: one value per
// KAFKA_* variable of the table that Settings describes, each parsed and
// range-checked, and the rules between them checked, when the Config is
// built. It is the one configuration surface of NewForwarder, NewIngest
// and NewAdmin for what the table covers; their options only say what the
// table does not (which topics, which group, a logger).
//
// A Config is an immutable value: build it with Load, LoadEnv or LoadYAML
// (environment over YAML over defaults), derive one with With, read a
// value with Value. The zero Config is Defaults().
type Config struct {
	v      values
	loaded bool // false in the zero Config, which means the defaults
}

// Setting describes one variable of the configuration table, for tools
// that print, document or merge configuration (onexbusd's upstream
// section). The fields are text, as the loaders read them.
type Setting struct {
	// Name is the environment variable: KAFKA_ACKS.
	Name string
	// Key is the YAML key: the name without KAFKA_, lower case (acks).
	Key string
	// Default is the default in the form Load parses; empty for none.
	Default string
	// Range says what values are accepted: "1..3600", "all, -1, 1, 0",
	// "host:port list", or "text".
	Range string
	// Secret marks a value that is never printed or logged.
	Secret bool
	// Doc is what the setting does, in a sentence.
	Doc string
}

// Settings returns the configuration table, one Setting per variable in a
// stable order; the slice is the caller's.
func Settings() []Setting {
	def := defaultValues()
	out := make([]Setting, len(settings))
	for i, s := range settings {
		info := settingInfo[s.env]
		out[i] = Setting{Name: s.env, Key: s.yamlKey(), Default: def.value(s.env), Range: info.rng, Secret: info.secret, Doc: info.doc}
	}
	return out
}

// EnvVars returns the names of every environment variable Config reads,
// in the order of Settings.
func EnvVars() []string {
	out := make([]string, len(settings))
	for i, s := range settings {
		out[i] = s.env
	}
	return out
}

// Defaults returns the configuration with every default.
func Defaults() Config { return Config{v: defaultValues(), loaded: true} }

// resolved returns c, or the defaults for the zero Config.
func (c Config) resolved() Config {
	if !c.loaded {
		return Defaults()
	}
	return c
}

// LoadEnv returns the defaults overridden by the environment variables
// getenv returns non-empty (os.Getenv in production), validated. Every
// problem is reported at once, each naming its variable, joined with
// errors.Join and wrapping ErrInvalidConfig.
func LoadEnv(getenv func(string) string) (Config, error) {
	return Load("", getenv)
}

// LoadYAML returns the defaults overridden by the YAML file at path,
// validated. Keys are the variable names without KAFKA_, lower case
// (bootstrap_servers, acks, session_timeout_ms ...); bootstrap_servers may
// be a list. An unknown key, a missing file or malformed YAML is an error
// wrapping ErrInvalidConfig.
func LoadYAML(path string) (Config, error) {
	return Load(path, func(string) string { return "" })
}

// Load merges, in increasing precedence, the defaults, the YAML file at
// path (none if path is empty) and the environment (getenv; nil reads
// none), then validates. Every problem is reported at once. On an error
// the Config returned holds the defaults where a value was refused.
func Load(path string, getenv func(string) string) (Config, error) {
	v := defaultValues()
	var errs []error
	if path != "" {
		errs = append(errs, v.applyYAML(path)...)
	}
	if getenv != nil {
		errs = append(errs, v.applyEnv(getenv)...)
	}
	if err := v.validate(); err != nil {
		errs = append(errs, err)
	}
	return Config{v: v, loaded: true}, errors.Join(errs...)
}

// With returns a copy of c with the variables of set (name to text, as
// the environment gives them) changed, validated as Load validates: every
// problem at once, each naming its variable, wrapping ErrInvalidConfig;
// an unknown name is one of them. c itself never changes. On an error
// the Config returned is c.
func (c Config) With(set map[string]string) (Config, error) {
	c = c.resolved()
	v := c.v
	v.BootstrapServers = slices.Clone(v.BootstrapServers)
	var errs []error
	names := make([]string, 0, len(set))
	for name := range set {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		s, ok := settingByName(name)
		if !ok {
			errs = append(errs, fmt.Errorf("%w: %s: unknown variable", ErrInvalidConfig, strconv.Quote(name)))
			continue
		}
		if err := s.parse(&v, set[name]); err != nil {
			errs = append(errs, settingError(name, err))
		}
	}
	if err := v.validate(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return c, errors.Join(errs...)
	}
	return Config{v: v, loaded: true}, nil
}

// Value returns the value of variable name in the form Load parses (the
// text of a secret too: the caller redacts what Setting.Secret marks),
// and false for a name that is not in the table.
func (c Config) Value(name string) (string, bool) {
	if _, ok := settingByName(name); !ok {
		return "", false
	}
	c = c.resolved()
	return c.v.value(name), true
}

// BootstrapServers returns the seed brokers (KAFKA_BOOTSTRAP_SERVERS); the
// slice is the caller's.
func (c Config) BootstrapServers() []string {
	return slices.Clone(c.resolved().v.BootstrapServers)
}

// Validate reports every problem of c, as Load does: nil for any Config
// the loaders, Defaults or With returned without an error.
func (c Config) Validate() error { return c.resolved().v.validate() }

// ClientOptions returns the kgo options every client of this package
// shares: seed brokers, TLS and SASL, retry backoff (the jittered backoff
// of internal/backoff), request size, and the producer's acks,
// idempotence, compression, linger and batch size. It reads the TLS files;
// an unreadable or invalid file is an error naming its variable.
func (c Config) ClientOptions() ([]kgo.Opt, error) { return c.resolved().v.clientOptions() }

// settingByName returns the table's entry for an environment variable.
func settingByName(name string) (setting, bool) {
	for _, s := range settings {
		if s.env == name {
			return s, true
		}
	}
	return setting{}, false
}
