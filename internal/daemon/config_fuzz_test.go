package daemon

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoadConfigFile loads arbitrary bytes as the YAML configuration
// file: Load never panics, and it either returns a configuration or an
// error wrapping ErrInvalidConfig (issue 20: configuration files are
// among the decoders fuzzed). Seeds: the deployed example and the shapes
// the unit tests use, the structured security lists included.
func FuzzLoadConfigFile(f *testing.F) {
	if b, err := os.ReadFile(filepath.Join("..", "..", "deploy", "onexbusd.yaml")); err == nil {
		f.Add(b)
	}
	for _, s := range []string{
		"",
		"data_dir: /var/lib/onexbus\nlog:\n  level: warn\nkafka:\n  addr: 127.0.0.1:19092\nupstream:\n  linger_ms: 25\n",
		"kafka:\n  addr: 127.0.0.1:9092\n  adress: x\nlog: debug\nretry:\n  base: [1, 2]\nnope: 1\n",
		"kafka: [unclosed\n",
		"- a\n- b\n",
		"ingest:\n  topics: [a.b, c]\nupstream:\n  bootstrap_servers:\n    - k1:9092\n    - k2:9092\n",
		"security:\n  users:\n    - name: alice\n      password: secret\n  tokens:\n    - name: t\n      token: abc\n  acls:\n    - principal: User:alice\n      resource: topic\n      name: orders\n      operation: write\n",
		"security:\n  rate_limit: 10\n  rate_burst: 5\n  sasl_session_lifetime: 1h\n",
		"a: &x [*x]\n",
		"retention:\n  max_age: -1h\n  max_bytes: 1e30\n",
	} {
		f.Add([]byte(s))
	}
	path := filepath.Join(f.TempDir(), "onexbusd.yaml")
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		l, err := Load(Layers{File: path})
		if err != nil {
			if !errors.Is(err, ErrInvalidConfig) {
				t.Fatalf("Load error does not wrap ErrInvalidConfig: %v", err)
			}
			return
		}
		if l == nil {
			t.Fatal("Load returned neither a configuration nor an error")
		}
	})
}
