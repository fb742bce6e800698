package daemon

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/onexbus/onexbus/transport/kafka"
)

func envMap(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func writeFile(t *testing.T, name, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func flags(t *testing.T, args ...string) *pflag.FlagSet {
	t.Helper()
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	AddFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	return fs
}

// TestDefaultsParse: every default of the table parses, the defaults are
// valid, and every KAFKA_* variable has its default text.
func TestDefaultsParse(t *testing.T) {
	for _, s := range settings {
		if s.upstream {
			continue
		}
		var c Config
		if err := s.set(&c, s.def); err != nil {
			t.Errorf("%s: default %q: %v", s.name, s.def, err)
		}
	}
	c := Defaults()
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults invalid: %v", err)
	}
	if c.DataDir != "./onexbus-data" || c.KafkaAddr != "127.0.0.1:9092" || c.Enforcement != "warn" || c.Durability != "sync" {
		t.Errorf("defaults: %+v", c)
	}
	for _, k := range kafka.Settings() {
		v, ok := (&Loaded{Values: valuesOf(Settings())}).Value("upstream." + k.Key)
		if !ok || v.Default != k.Default || v.Secret != k.Secret {
			t.Errorf("%s: row %+v, transport/kafka says %+v", k.Name, v, k)
		}
	}
}

func valuesOf(ss []Setting) []Value {
	out := make([]Value, len(ss))
	for i, s := range ss {
		out[i] = Value{Setting: s, Text: s.Default}
	}
	return out
}

// TestPrecedenceAndSources: one setting from each layer (default, file,
// env, flag), flags > env > file > defaults, each with its origin.
func TestPrecedenceAndSources(t *testing.T) {
	file := writeFile(t, "onexbusd.yaml", `# settings
data_dir: /var/lib/onexbus
log:
  level: warn
kafka:
  addr: 127.0.0.1:19092
upstream:
  linger_ms: 25
`)
	env := envMap(map[string]string{
		"ONEXBUS_LOG_LEVEL":        "debug",
		"ONEXBUS_KAFKA_ADDR":       "127.0.0.1:29092",
		"KAFKA_ACKS":               "1",
		"KAFKA_ENABLE_IDEMPOTENCE": "false",
		"ONEXBUS_SOURCE":           "", // empty counts as unset
	})
	l, err := Load(Layers{Flags: flags(t, "--kafka-addr", "127.0.0.1:39092"), LookupEnv: env, File: file})
	if err != nil {
		t.Fatal(err)
	}
	c := l.Config
	if c.DataDir != "/var/lib/onexbus" || c.LogLevel != "debug" || c.KafkaAddr != "127.0.0.1:39092" || c.Source != "onexbusd" {
		t.Errorf("config %+v", c)
	}
	if upstreamText(c.Upstream, "KAFKA_ACKS") != "1" || upstreamText(c.Upstream, "KAFKA_LINGER_MS") != "25" {
		t.Errorf("upstream %+v", c.Upstream)
	}
	want := map[string]string{
		"dedup.window":       "default",
		"data_dir":           "file " + file + ":2",
		"log.level":          "env ONEXBUS_LOG_LEVEL",
		"kafka.addr":         "flag --kafka-addr",
		"upstream.acks":      "env KAFKA_ACKS",
		"upstream.linger_ms": "file " + file + ":8",
		"source":             "default",
	}
	for name, src := range want {
		v, ok := l.Value(name)
		if !ok {
			t.Fatalf("no value for %s", name)
		}
		if v.Source.String() != src {
			t.Errorf("%s from %q, want %q", name, v.Source, src)
		}
	}
}

// badValues holds, for every setting of the table, a value it refuses:
// out of its range or not parsable.
var badValues = map[string]string{
	"security.allow_plain": "perhaps", "security.sasl_session_lifetime": "1ms", "security.rate_limit": "-1",
	"security.rate_burst": "0", "limits.max_connections_per_addr": "-1", "http.max_connections": "0",
	"http.max_connections_per_addr": "x", "admin.max_connections": "0", "admin.max_connections_per_addr": "2000000",
	"kafka.tls.cert_file": "/nonexistent/cert.pem", "kafka.tls.key_file": "/nonexistent/key.pem",
	"kafka.tls.client_ca_file": "/nonexistent/ca.pem", "kafka.tls.client_auth": "always",
	"http.tls.cert_file": "/nonexistent/cert.pem", "http.tls.key_file": "/nonexistent/key.pem",
	"http.tls.client_ca_file": "/nonexistent/ca.pem", "http.tls.client_auth": "always",
	"admin.tls.cert_file": "/nonexistent/cert.pem", "admin.tls.key_file": "/nonexistent/key.pem",
	"admin.tls.client_ca_file": "/nonexistent/ca.pem", "admin.tls.client_auth": "always",
	"data_dir": " ", "durability": "sometimes", "durability_interval": "0s",
	"kafka.addr": "9092", "kafka.advertised_addr": "host:99999", "kafka.node_id": "-1", "kafka.idle_timeout": "1ms",
	"http.addr": "localhost", "admin.addr": "x:y", "security.insecure": "maybe",
	"topics.default_partitions": "0", "topics.retention_messages": "-5", "topics.retention_bytes": "2PiB",
	"topics.retention_age": "1ms", "topics.enforcement": "strict", "topics.auto_create": "yes please", "topics.format": "avro",
	"dedup.window": "48h", "dedup.max_ids": "0",
	"transactions.id_expiration": "30s", "transactions.max_ids": "0", "transactions.aborted_index_memory": "-1",
	"transactions.max_timeout": "25h", "transactions.producer_id_expiration": "soon", "retry.max_attempts": "0", "retry.base": "two seconds",
	"retry.max": "100000h", "breaker.threshold": "-1", "breaker.reset_timeout": "0s",
	"limits.max_message_bytes": "1GiB", "limits.max_connections": "0", "limits.max_in_flight_bytes": "1KiB", "limits.max_request_bytes": "2GiB",
	"log.level": "loud", "log.json": "2", "shutdown.timeout": "2h", "shutdown.lame_duck": "10m", "source": strings.Repeat("s", 256),
	"node.id": "not-a-uuid", "node.name": strings.Repeat("n", 256), "node.heartbeat_interval": "10ms",
	"forward.pattern": "a.**x.b c", "ingest.topics": "ok,bad topic",
}

// TestEveryProblemReportedTogether: a bad value for every setting, all
// reported by one Load, each with its name, variable and origin; the
// upstream section's problems too.
func TestEveryProblemReportedTogether(t *testing.T) {
	env := map[string]string{"KAFKA_ACKS": "2", "KAFKA_SESSION_TIMEOUT_MS": "100", "KAFKA_SASL_PASSWORD": "hunter2"}
	for _, s := range settings {
		if s.upstream {
			continue
		}
		bad, ok := badValues[s.name]
		if !ok {
			t.Errorf("badValues has no value for %s: add one", s.name)
			continue
		}
		env[s.env] = bad
	}
	_, err := Load(Layers{LookupEnv: envMap(env)})
	if !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("err %v", err)
	}
	msg := err.Error()
	for _, s := range settings {
		if s.upstream {
			continue
		}
		if !strings.Contains(msg, s.name+" ("+s.env+", env "+s.env+")") {
			t.Errorf("%s not reported with its variable and origin", s.name)
		}
	}
	for _, want := range []string{"upstream.acks (env KAFKA_ACKS)", "upstream.session_timeout_ms (env KAFKA_SESSION_TIMEOUT_MS)"} {
		if !strings.Contains(msg, want) {
			t.Errorf("missing %q in:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "hunter2") {
		t.Error("a secret appears in the error")
	}
}

// TestYAMLErrorsWithLines: unknown keys and bad shapes name file:line,
// all at once; a missing file and malformed YAML are clear errors.
func TestYAMLErrorsWithLines(t *testing.T) {
	file := writeFile(t, "c.yaml", "kafka:\n  addr: 127.0.0.1:9092\n  adress: x\nlog: debug\nretry:\n  base: [1, 2]\nnope: 1\n")
	_, err := Load(Layers{File: file})
	if !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("err %v", err)
	}
	for _, want := range []string{
		file + `:3: unknown key "kafka.adress"`,
		file + ":4: log is a section",
		file + `:7: unknown key "nope"`,
		"retry.base (ONEXBUS_RETRY_BASE, file " + file + ":6)",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
	if _, err := Load(Layers{File: filepath.Join(t.TempDir(), "absent.yaml")}); !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "absent.yaml") {
		t.Errorf("missing file: %v", err)
	}
	bad := writeFile(t, "bad.yaml", "kafka: [unclosed\n")
	if _, err := Load(Layers{File: bad}); !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "bad.yaml") {
		t.Errorf("malformed file: %v", err)
	}
	list := writeFile(t, "list.yaml", "- a\n- b\n")
	if _, err := Load(Layers{File: list}); !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "not a mapping") {
		t.Errorf("non-mapping file: %v", err)
	}
	ok := writeFile(t, "ok.yaml", "ingest:\n  topics: [a.b, c]\nupstream:\n  bootstrap_servers:\n    - k1:9092\n    - k2:9092\n")
	l, err := Load(Layers{File: ok})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(l.Config.IngestTopics, ",") != "a.b,c" || len(l.Config.Upstream.BootstrapServers()) != 2 {
		t.Errorf("lists: %+v %+v", l.Config.IngestTopics, l.Config.Upstream.BootstrapServers())
	}
}

// TestExposureRefused: a non-loopback listener without authentication is
// refused unless security.insecure; loopback names pass.
func TestExposureRefused(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:9092", ":9092", "10.1.2.3:9092", "[::]:9092", "example.com:9092"} {
		_, err := Load(Layers{LookupEnv: envMap(map[string]string{"ONEXBUS_KAFKA_ADDR": addr})})
		if !errors.Is(err, ErrExposed) || !strings.Contains(err.Error(), "kafka.addr") {
			t.Errorf("%s: err %v, want ErrExposed naming kafka.addr", addr, err)
		}
		if _, err := Load(Layers{LookupEnv: envMap(map[string]string{"ONEXBUS_KAFKA_ADDR": addr, "ONEXBUS_INSECURE": "true"})}); err != nil {
			t.Errorf("%s with insecure: %v", addr, err)
		}
	}
	for _, addr := range []string{"127.0.0.1:0", "localhost:9092", "[::1]:9092", "127.0.0.2:9092"} {
		if _, err := Load(Layers{LookupEnv: envMap(map[string]string{"ONEXBUS_KAFKA_ADDR": addr})}); err != nil {
			t.Errorf("%s: %v", addr, err)
		}
	}
}

// TestCrossFieldRules: rules between settings, reported together.
func TestCrossFieldRules(t *testing.T) {
	_, err := Load(Layers{LookupEnv: envMap(map[string]string{
		"ONEXBUS_RETRY_BASE": "10s", "ONEXBUS_RETRY_MAX": "5s",
		"ONEXBUS_HTTP_ADDR":       "127.0.0.1:8081", // = admin.addr
		"ONEXBUS_FORWARD_PATTERN": "onex.evt.**", "KAFKA_BOOTSTRAP_SERVERS": "localhost:9092",
		"ONEXBUS_KAFKA_ADVERTISED_ADDR": "0.0.0.0:9092",
	})})
	for _, want := range []string{"retry.max", "http.addr and admin.addr", "would loop", "kafka.advertised_addr"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in %v", want, err)
		}
	}
	c := Defaults()
	c.DefaultPartitions = 0
	err = c.Validate()
	// transport/kafka's Config is immutable: a bad value is refused where
	// it is set (With), naming its variable.
	_, uerr := c.Upstream.With(map[string]string{"KAFKA_ACKS": "7"})
	if err == nil || !strings.Contains(err.Error(), "topics.default_partitions") {
		t.Errorf("code-built config: missing topics.default_partitions in %v", err)
	}
	if uerr == nil || !strings.Contains(uerr.Error(), "KAFKA_ACKS") {
		t.Errorf("code-built upstream: missing KAFKA_ACKS in %v", uerr)
	}
}

// TestSecretRedacted: a secret's value never shows.
func TestSecretRedacted(t *testing.T) {
	l, err := Load(Layers{LookupEnv: envMap(map[string]string{"KAFKA_SASL_PASSWORD": "hunter2"})})
	if l == nil {
		t.Fatal(err)
	}
	v, _ := l.Value("upstream.sasl_password")
	if v.Shown() != Redacted || !v.Secret {
		t.Errorf("shown %q", v.Shown())
	}
	if err != nil && strings.Contains(err.Error(), "hunter2") {
		t.Error("secret in error")
	}
}
