package kafka

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// ACCEPTANCE 31: every environment variable has a default and a validated
// range; an out-of-range or unparsable value is reported with the
// variable's name.
func TestConfigEveryVariableDefaultRangeUnparsable(t *testing.T) {
	cases := []struct {
		env        string
		def        string // the default in the field's text form ("" for none)
		outOfRange string // "" where the variable has no numeric range
		unparsable string
		good       string // a valid non-default value (with the default rest)
	}{
		{"KAFKA_BOOTSTRAP_SERVERS", "localhost:9092", "h:70000", "no-port", "a:1, b:2"},
		{"KAFKA_ENVIRONMENT", "dev", strings.Repeat("e", 65), "pr od", "prod"},
		{"KAFKA_GROUP", "onexbus", strings.Repeat("g", 256), "g@1", "my.group"},
		{"KAFKA_TIMEOUT_SECONDS", "30", "0", "3O", "3600"},
		{"KAFKA_MAX_RETRY_ATTEMPTS", "3", "101", "three", "1"},
		{"KAFKA_RETRY_BACKOFF_BASE", "1", "61", "1s", "0.25"},
		{"KAFKA_CIRCUIT_BREAKER_THRESHOLD", "5", "0", "5.5", "1000"},
		{"KAFKA_CIRCUIT_BREAKER_RESET_TIMEOUT", "60", "3601", "NaN", "0.5"},
		{"KAFKA_CONSUMER_SLEEP_INTERVAL", "1", "0", "fast", "0.1"},
		{"KAFKA_ACKS", "all", "", "2", "-1"},
		{"KAFKA_ENABLE_IDEMPOTENCE", "true", "", "yes please", "false"},
		{"KAFKA_AUTO_OFFSET_RESET", "earliest", "", "smallest", "latest"},
		{"KAFKA_ENABLE_AUTO_COMMIT", "false", "", "maybe", "false"},
		{"KAFKA_DEAD_LETTER_TOPIC", "onex.dlq.kafka.ingest.v1", strings.Repeat("d", 256), "bad topic", "dead.letters"},
		{"KAFKA_SESSION_TIMEOUT_MS", "45000", "999", "45s", "10000"},
		{"KAFKA_HEARTBEAT_INTERVAL_MS", "3000", "99", "3s", "1000"},
		{"KAFKA_MAX_POLL_INTERVAL_MS", "300000", "3600001", "5m", "60000"},
		{"KAFKA_MAX_REQUEST_SIZE", "1048576", "1023", "1MiB", "2097152"},
		{"KAFKA_RECONNECT_BACKOFF_MS", "50", "60001", "-", "0"},
		{"KAFKA_RECONNECT_BACKOFF_MAX_MS", "1000", "300001", "1e3x", "5000"},
		{"KAFKA_SECURITY_PROTOCOL", "PLAINTEXT", "", "TLS", "SSL"},
		{"KAFKA_SASL_MECHANISM", "", "", "GSSAPI", ""},
		{"KAFKA_COMPRESSION_TYPE", "none", "", "brotli", "zstd"},
		{"KAFKA_LINGER_MS", "5", "60001", "5ms", "0"},
		{"KAFKA_BATCH_SIZE", "1048576", "511", "big", "16384"},
		{"KAFKA_BACKLOG_BUDGET_BYTES", "0", "1125899906842625", "10GiB", "10737418240"},
		{"KAFKA_BACKLOG_POLICY", "block", "", "drop", "reject"},
	}
	covered := map[string]bool{}
	for _, tc := range cases {
		covered[tc.env] = true
		t.Run(tc.env, func(t *testing.T) {
			t.Run("default", func(t *testing.T) {
				c, err := LoadEnv(envOf(nil))
				if err != nil {
					t.Fatal(err)
				}
				if got, _ := c.Value(tc.env); got != tc.def {
					t.Fatalf("default %q, want %q", got, tc.def)
				}
			})
			if tc.good != "" {
				t.Run("good", func(t *testing.T) {
					if _, err := LoadEnv(envOf(map[string]string{tc.env: tc.good})); err != nil {
						t.Fatalf("%s=%q: %v", tc.env, tc.good, err)
					}
				})
			}
			for kind, v := range map[string]string{"out of range": tc.outOfRange, "unparsable": tc.unparsable} {
				if v == "" {
					continue
				}
				t.Run(kind, func(t *testing.T) {
					_, err := LoadEnv(envOf(map[string]string{tc.env: v}))
					if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tc.env) {
						t.Fatalf("%s=%q: error %v does not name the variable", tc.env, v, err)
					}
				})
			}
		})
	}
	// Free-text variables have no range; their cross-field rules are in
	// TestConfigCrossFieldRules.
	for _, free := range []string{"KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD", "KAFKA_SSL_CAFILE", "KAFKA_SSL_CERTFILE", "KAFKA_SSL_KEYFILE"} {
		covered[free] = true
	}
	for _, env := range EnvVars() {
		if !covered[env] {
			t.Errorf("%s has no test case", env)
		}
	}
}

func TestConfigCrossFieldRules(t *testing.T) {
	cases := []struct {
		name string
		env  map[string]string
		want []string // variable names the error must name
	}{
		{"SASL without a mechanism", map[string]string{"KAFKA_SECURITY_PROTOCOL": "SASL_SSL"}, []string{"KAFKA_SASL_MECHANISM"}},
		{"mechanism without SASL", map[string]string{"KAFKA_SASL_MECHANISM": "PLAIN"}, []string{"KAFKA_SASL_MECHANISM"}},
		{"mechanism without credentials", map[string]string{"KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512"},
			[]string{"KAFKA_SASL_USERNAME", "KAFKA_SASL_PASSWORD"}},
		{"heartbeat equal to session", map[string]string{"KAFKA_SESSION_TIMEOUT_MS": "6000", "KAFKA_HEARTBEAT_INTERVAL_MS": "6000"}, []string{"KAFKA_HEARTBEAT_INTERVAL_MS"}},
		{"heartbeat above session", map[string]string{"KAFKA_SESSION_TIMEOUT_MS": "6000", "KAFKA_HEARTBEAT_INTERVAL_MS": "7000"}, []string{"KAFKA_HEARTBEAT_INTERVAL_MS"}},
		{"idempotence with acks 1", map[string]string{"KAFKA_ACKS": "1"}, []string{"KAFKA_ENABLE_IDEMPOTENCE"}},
		{"auto-commit", map[string]string{"KAFKA_ENABLE_AUTO_COMMIT": "true"}, []string{"KAFKA_ENABLE_AUTO_COMMIT"}},
		{"backoff above its max", map[string]string{"KAFKA_RECONNECT_BACKOFF_MS": "2000"}, []string{"KAFKA_RECONNECT_BACKOFF_MAX_MS"}},
		{"batch above request", map[string]string{"KAFKA_BATCH_SIZE": "4096", "KAFKA_MAX_REQUEST_SIZE": "2048"}, []string{"KAFKA_BATCH_SIZE"}},
		{"TLS files without TLS", map[string]string{"KAFKA_SSL_CAFILE": "ca.pem", "KAFKA_SSL_CERTFILE": "c.pem", "KAFKA_SSL_KEYFILE": "k.pem"},
			[]string{"KAFKA_SSL_CAFILE", "KAFKA_SSL_CERTFILE", "KAFKA_SSL_KEYFILE"}},
		{"cert without key", map[string]string{"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_CERTFILE": "c.pem"}, []string{"KAFKA_SSL_KEYFILE"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadEnv(envOf(tc.env))
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("error %v, want ErrInvalidConfig", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %s", err, w)
				}
			}
		})
	}
	t.Run("acks 1 without idempotence is fine", func(t *testing.T) {
		if _, err := LoadEnv(envOf(map[string]string{"KAFKA_ACKS": "1", "KAFKA_ENABLE_IDEMPOTENCE": "false"})); err != nil {
			t.Fatal(err)
		}
	})
}

// Every problem is reported at once, not only the first.
func TestConfigReportsAllProblemsAtOnce(t *testing.T) {
	env := map[string]string{
		"KAFKA_TIMEOUT_SECONDS":           "0",
		"KAFKA_ACKS":                      "lots",
		"KAFKA_SECURITY_PROTOCOL":         "SASL_PLAINTEXT",
		"KAFKA_HEARTBEAT_INTERVAL_MS":     "50000",
		"KAFKA_CIRCUIT_BREAKER_THRESHOLD": "x",
	}
	_, err := LoadEnv(envOf(env))
	if err == nil {
		t.Fatal("no error")
	}
	for _, name := range []string{"KAFKA_TIMEOUT_SECONDS", "KAFKA_ACKS", "KAFKA_SASL_MECHANISM", "KAFKA_HEARTBEAT_INTERVAL_MS", "KAFKA_CIRCUIT_BREAKER_THRESHOLD"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error does not name %s:\n%v", name, err)
		}
	}
}

// A Config changed in code (With) is held to the same ranges and rules,
// every problem at once, and the Config it derives from never changes.
func TestConfigWith(t *testing.T) {
	base := Defaults()
	_, err := base.With(map[string]string{
		"KAFKA_TIMEOUT_SECONDS":           "1.5",
		"KAFKA_CIRCUIT_BREAKER_THRESHOLD": "0",
		"KAFKA_BOOTSTRAP_SERVERS":         "",
		"KAFKA_HEARTBEAT_INTERVAL_MS":     "60000",
		"KAFKA_NO_SUCH":                   "1",
	})
	for _, name := range []string{"KAFKA_TIMEOUT_SECONDS", "KAFKA_CIRCUIT_BREAKER_THRESHOLD", "KAFKA_BOOTSTRAP_SERVERS", "KAFKA_HEARTBEAT_INTERVAL_MS", "KAFKA_NO_SUCH"} {
		if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), name) {
			t.Errorf("error %v does not name %s", err, name)
		}
	}
	c, err := base.With(map[string]string{"KAFKA_BOOTSTRAP_SERVERS": "a:1,b:2", "KAFKA_ACKS": "1", "KAFKA_ENABLE_IDEMPOTENCE": "false"})
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := c.Value("KAFKA_ACKS"); v != "1" || strings.Join(c.BootstrapServers(), ",") != "a:1,b:2" {
		t.Fatalf("acks %q, servers %v", v, c.BootstrapServers())
	}
	c.BootstrapServers()[0] = "changed:1"
	if v, _ := c.Value("KAFKA_BOOTSTRAP_SERVERS"); v != "a:1,b:2" {
		t.Fatalf("a returned slice changed the Config: %q", v)
	}
	if v, _ := base.Value("KAFKA_ACKS"); v != "all" {
		t.Fatalf("With changed the Config it derives from: acks %q", v)
	}
	var zero Config
	if v, _ := zero.Value("KAFKA_GROUP"); v != "onexbus" || zero.Validate() != nil {
		t.Fatalf("the zero Config is not the defaults: group %q, %v", v, zero.Validate())
	}
	if _, ok := zero.Value("KAFKA_NO_SUCH"); ok {
		t.Fatal("Value knows a variable that is not in the table")
	}
}

// Settings is the table as data: every variable once, with its YAML key,
// its default (what Value reports for the defaults), a range, a doc and
// the secret flag on the password only.
func TestSettingsTable(t *testing.T) {
	def := Defaults()
	seen := map[string]bool{}
	for _, s := range Settings() {
		if seen[s.Name] {
			t.Errorf("%s twice", s.Name)
		}
		seen[s.Name] = true
		if want, _ := def.Value(s.Name); s.Default != want {
			t.Errorf("%s: default %q, Value says %q", s.Name, s.Default, want)
		}
		if s.Key != strings.ToLower(strings.TrimPrefix(s.Name, "KAFKA_")) || s.Range == "" || s.Doc == "" {
			t.Errorf("%s: key %q, range %q, doc %q", s.Name, s.Key, s.Range, s.Doc)
		}
		if s.Secret != (s.Name == "KAFKA_SASL_PASSWORD") {
			t.Errorf("%s: secret %v", s.Name, s.Secret)
		}
	}
	if len(seen) != len(EnvVars()) || len(settingInfo) != len(EnvVars()) {
		t.Errorf("%d settings, %d infos, %d variables", len(seen), len(settingInfo), len(EnvVars()))
	}
	Settings()[0].Default = "changed"
	if Settings()[0].Default == "changed" {
		t.Error("Settings returns the table itself")
	}
}

func writeFile(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestConfigYAML(t *testing.T) {
	t.Run("missing file", func(t *testing.T) {
		_, err := LoadYAML(filepath.Join(t.TempDir(), "nope.yaml"))
		if !errors.Is(err, ErrInvalidConfig) || !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("error %v", err)
		}
	})
	t.Run("malformed file", func(t *testing.T) {
		_, err := LoadYAML(writeFile(t, "bad.yaml", "acks: [all\n  linger_ms: : 3\n"))
		if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "bad.yaml") {
			t.Fatalf("error %v", err)
		}
	})
	t.Run("unknown key", func(t *testing.T) {
		_, err := LoadYAML(writeFile(t, "c.yaml", "acks: all\nlinger: 5\n"))
		if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), `unknown key "linger"`) || !strings.Contains(err.Error(), ":2") {
			t.Fatalf("error %v", err)
		}
	})
	t.Run("nested value", func(t *testing.T) {
		_, err := LoadYAML(writeFile(t, "c.yaml", "acks:\n  x: 1\n"))
		if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "KAFKA_ACKS") {
			t.Fatalf("error %v", err)
		}
	})
	t.Run("out of range names key and variable", func(t *testing.T) {
		_, err := LoadYAML(writeFile(t, "c.yaml", "timeout_seconds: 0\n"))
		if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "timeout_seconds") || !strings.Contains(err.Error(), "KAFKA_TIMEOUT_SECONDS") {
			t.Fatalf("error %v", err)
		}
	})
	t.Run("empty file is the defaults", func(t *testing.T) {
		c, err := LoadYAML(writeFile(t, "c.yaml", ""))
		if v, _ := c.Value("KAFKA_ACKS"); err != nil || v != "all" {
			t.Fatalf("%+v, %v", c, err)
		}
	})
	t.Run("values, lists and env precedence", func(t *testing.T) {
		p := writeFile(t, "c.yaml", "bootstrap_servers: [a:1, b:2]\ncompression_type: zstd\nlinger_ms: 20\nacks: all\n")
		c, err := Load(p, envOf(map[string]string{"KAFKA_LINGER_MS": "7"}))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(c.BootstrapServers(), ",") != "a:1,b:2" || c.v.Compression != "zstd" || c.v.Linger != 7*time.Millisecond {
			t.Fatalf("%+v", c)
		}
	})
}

// selfSigned writes a CA-signed server certificate for 127.0.0.1 and the
// CA's PEM; it returns the server TLS config and the CA file path.
func selfSigned(t *testing.T) (*tls.Config, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "onexbus test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca := writeFile(t, "ca.pem", string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}, ca
}

func pingWith(t *testing.T, c Config) error {
	t.Helper()
	opts, err := c.ClientOptions()
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return cl.Ping(ctx)
}

// ClientOptions connects over TLS with the CA file, and with each SASL
// mechanism, to kfake.
func TestConfigClientOptionsTLSAndSASL(t *testing.T) {
	t.Run("TLS", func(t *testing.T) {
		srv, ca := selfSigned(t)
		cl, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.TLS(srv))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		c, err := LoadEnv(envOf(map[string]string{
			"KAFKA_BOOTSTRAP_SERVERS": cl.ListenAddrs()[0],
			"KAFKA_SECURITY_PROTOCOL": "SSL",
			"KAFKA_SSL_CAFILE":        ca,
		}))
		if err != nil {
			t.Fatal(err)
		}
		if err := pingWith(t, c); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("TLS bad CA file", func(t *testing.T) {
		c := with(t, Defaults(), "KAFKA_SECURITY_PROTOCOL", ProtocolSSL, "KAFKA_SSL_CAFILE", writeFile(t, "ca.pem", "not pem"))
		if _, err := c.ClientOptions(); !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), "KAFKA_SSL_CAFILE") {
			t.Fatalf("error %v", err)
		}
	})
	for _, mech := range []string{MechanismPlain, MechanismScramSHA256, MechanismScramSHA512} {
		t.Run(mech, func(t *testing.T) {
			cl, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.EnableSASL(), kfake.Superuser(mech, "u", "p"))
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			env := map[string]string{
				"KAFKA_BOOTSTRAP_SERVERS": cl.ListenAddrs()[0],
				"KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
				"KAFKA_SASL_MECHANISM":    mech,
				"KAFKA_SASL_USERNAME":     "u",
				"KAFKA_SASL_PASSWORD":     "p",
			}
			c, err := LoadEnv(envOf(env))
			if err != nil {
				t.Fatal(err)
			}
			if err := pingWith(t, c); err != nil {
				t.Fatal(err)
			}
			c = with(t, c, "KAFKA_SASL_PASSWORD", "wrong")
			if err := pingWith(t, c); err == nil {
				t.Fatal("a wrong password authenticated")
			}
		})
	}
}

// Issue 9 (shape): every option problem of NewForwarder and NewIngest is
// reported at once, wrapping ErrInvalidConfig, before anything connects;
// IngestOption is validated as ForwarderOption is.
func TestNewReportsEveryOptionProblem(t *testing.T) {
	b := newBus(t)
	t.Run("forwarder", func(t *testing.T) {
		_, err := NewForwarder(b, Defaults(), WithTopicPattern("a.**.**.["), WithBatch(0, 100), WithForwarderGroup(""), nil)
		if !errors.Is(err, ErrInvalidConfig) {
			t.Fatalf("error %v, want ErrInvalidConfig", err)
		}
		for _, want := range []string{"topic pattern", "batch 0", "forwarder group", "option 3 is nil"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error does not name %q:\n%v", want, err)
			}
		}
	})
	t.Run("ingest", func(t *testing.T) {
		_, err := NewIngest(b, Defaults(), []string{"ok", "bad topic"},
			WithIngestGroup(strings.Repeat("g", 256)), WithInstanceID("i\x00"), WithMaxPollRecords(0), nil)
		if !errors.Is(err, ErrInvalidConfig) {
			t.Fatalf("error %v, want ErrInvalidConfig", err)
		}
		for _, want := range []string{`topic "bad topic"`, "group:", "instance id", "max poll records 0", "option 3 is nil"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error does not name %q:\n%v", want, err)
			}
		}
	})
}
