package daemon_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/onexbus/onexbus/internal/daemon"
	"github.com/onexbus/onexbus/transport/kafka"
)

// relaxed keeps the fsync check from failing on a loaded test machine;
// the measurement itself is still made and reported.
var relaxed = daemon.DoctorOptions{Kafka: true, FsyncWarn: time.Minute, FsyncCrit: 2 * time.Minute}

func statusOf(r daemon.Report, name string) (daemon.Status, string) {
	for _, c := range r.Checks {
		if c.Name == name {
			return c.Status, c.Message
		}
	}
	return daemon.StatusUnknown, "no such check"
}

// writeCert writes a self-signed PEM certificate valid until notAfter.
func writeCert(t *testing.T, notAfter time.Time) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "upstream-ca"},
		NotBefore: notAfter.Add(-48 * time.Hour), NotAfter: notAfter}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestCheckHealthy: a fresh setup, and one with a data file written by a
// stopped daemon, pass every check.
func TestCheckHealthy(t *testing.T) {
	cfg := testConfig(t)
	rep := daemon.Doctor(context.Background(), cfg, relaxed)
	if rep.Status != daemon.StatusOK {
		t.Fatalf("fresh setup: %+v", rep)
	}
	r := startDaemon(t, cfg)
	// While it runs: the file is in use, and that is fine.
	rep = daemon.Doctor(context.Background(), cfg, relaxed)
	if st, msg := statusOf(rep, "integrity"); st != daemon.StatusOK || !strings.Contains(msg, "in use by a running onexbusd") {
		t.Errorf("integrity while running: %s %s", st, msg)
	}
	running := cfg
	running.KafkaAddr, running.AdminAddr = r.d.Addrs().Kafka.String(), r.d.Addrs().Admin.String()
	if rep := daemon.Doctor(context.Background(), running, relaxed); rep.Status != daemon.StatusOK {
		t.Errorf("a check of the running daemon's own config: %+v", rep)
	}
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	rep = daemon.Doctor(context.Background(), cfg, relaxed)
	if rep.Status != daemon.StatusOK {
		t.Fatalf("after a run: %+v", rep)
	}
	if st, msg := statusOf(rep, "integrity"); st != daemon.StatusOK || !strings.Contains(msg, "verified") {
		t.Errorf("integrity: %s %s", st, msg)
	}
	if st, msg := statusOf(rep, "fsync"); st != daemon.StatusOK || !strings.Contains(msg, "p99") {
		t.Errorf("fsync: %s %s", st, msg)
	}
}

// TestCheckBroken: each broken part is CRITICAL with a message saying
// what to do, and the report's status (the exit code) is 2.
func TestCheckBroken(t *testing.T) {
	cases := []struct {
		name, check, want string
		setup             func(t *testing.T, c *daemon.Config)
	}{
		{"data dir is a file", "data_dir", "not a directory", func(t *testing.T, c *daemon.Config) {
			p := filepath.Join(t.TempDir(), "file")
			if err := os.WriteFile(p, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			c.DataDir = p
		}},
		{"corrupt data file", "integrity", "restore a backup", func(t *testing.T, c *daemon.Config) {
			if err := os.WriteFile(filepath.Join(c.DataDir, daemon.DataFile), []byte(strings.Repeat("x", 9000)), 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{"port taken", "ports", "cannot be bound", func(t *testing.T, c *daemon.Config) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { ln.Close() })
			c.AdminAddr = ln.Addr().String()
		}},
		{"expired certificate", "tls", "expired", func(t *testing.T, c *daemon.Config) {
			c.Upstream = withUpstream(t, c.Upstream, map[string]string{"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_CAFILE": writeCert(t, time.Now().Add(-time.Hour))})
		}},
		{"upstream unreachable", "upstream", "does not answer", func(t *testing.T, c *daemon.Config) {
			c.ForwardPattern = "onex.evt.**"
			c.Upstream = withUpstream(t, c.Upstream, map[string]string{"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1", "KAFKA_TIMEOUT_SECONDS": "1"})
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t)
			tc.setup(t, &cfg)
			rep := daemon.Doctor(context.Background(), cfg, relaxed)
			st, msg := statusOf(rep, tc.check)
			if st != daemon.StatusCritical || !strings.Contains(msg, tc.want) {
				t.Errorf("%s: %s %q, want CRITICAL with %q", tc.check, st, msg, tc.want)
			}
			if rep.Status != daemon.StatusCritical {
				t.Errorf("report status %s, want CRITICAL", rep.Status)
			}
		})
	}
	cfg := testConfig(t)
	cfg.Upstream = withUpstream(t, cfg.Upstream, map[string]string{"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_CAFILE": writeCert(t, time.Now().Add(48*time.Hour))})
	if st, msg := statusOf(daemon.Doctor(context.Background(), cfg, relaxed), "tls"); st != daemon.StatusWarning || !strings.Contains(msg, "expires on") {
		t.Errorf("certificate expiring in 2 days: %s %s, want WARNING", st, msg)
	}
}

// withUpstream returns u with the KAFKA_* values of set (transport/kafka's
// Config is immutable).
func withUpstream(t *testing.T, u kafka.Config, set map[string]string) kafka.Config {
	t.Helper()
	u, err := u.With(set)
	if err != nil {
		t.Fatal(err)
	}
	return u
}
