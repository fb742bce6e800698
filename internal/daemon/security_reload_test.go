package daemon_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/onexbus/onexbus/internal/daemon"
)

// readyAddr reads a listener's address from the child's "ready" line.
func readyAddr(t *testing.T, c *child, key string) string {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(c.output()))
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil && m["@message"] == "ready" {
			s, _ := m[key].(string)
			return s
		}
	}
	t.Fatalf("no ready line with %s", key)
	return ""
}

func statusWith(t *testing.T, url, authz string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", authz)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestSIGHUPReloadsPrincipals (child process): `onexbusd user add` and
// `token revoke` edit the file of a running daemon; SIGHUP makes the new
// user authenticate over Kafka (SCRAM) and the revoked token fail over
// HTTP, without a restart. A reload of a file with a broken credential
// is refused with a log line and changes nothing.
func TestSIGHUPReloadsPrincipals(t *testing.T) {
	file := filepath.Join(t.TempDir(), "onexbusd.yaml")
	if code, _, errs := runCLI(t, "alice-pw-1\n", nil, "user", "add", "alice", "--password-stdin", "--config", file); code != 0 {
		t.Fatal(errs)
	}
	code, out, errs := runCLI(t, "", nil, "token", "create", "alice", "--config", file)
	if code != 0 {
		t.Fatal(errs)
	}
	tok := strings.TrimSpace(out)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	c := startChild(t, exe, []string{childEnv + "=1"}, "serve", "--config", file, "--data-dir", t.TempDir(),
		"--kafka-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--log-json", "--node-heartbeat-interval", "0s")
	api := "http://" + readyAddr(t, c, "http") + "/v1/topics"
	if s := statusWith(t, api, "Bearer "+tok); s != 200 {
		t.Fatalf("token before reload: %d", s)
	}
	dave := func() error {
		cl, err := kgo.NewClient(kgo.SeedBrokers(c.kafka), kgo.SASL(scram.Auth{User: "dave", Pass: "dave-pw-2"}.AsSha256Mechanism()), kgo.RequestRetries(0))
		if err != nil {
			return err
		}
		defer cl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return cl.Ping(ctx)
	}
	if dave() == nil {
		t.Fatal("dave authenticated before he was added")
	}
	if code, _, errs := runCLI(t, "dave-pw-2\n", nil, "user", "add", "dave", "--password-stdin", "--config", file); code != 0 {
		t.Fatal(errs)
	}
	if code, _, errs := runCLI(t, "", nil, "token", "revoke", tokenID(tok), "--config", file); code != 0 {
		t.Fatal(errs)
	}
	if err := c.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	eventually(t, "revoked token refused after SIGHUP", func() bool { return statusWith(t, api, "Bearer "+tok) == 401 })
	if err := dave(); err != nil {
		t.Fatalf("dave after SIGHUP: %v", err)
	}
	// A broken credential: the reload is refused, dave still logs in.
	raw, _ := os.ReadFile(file)
	broken := strings.Replace(string(raw), "iterations: 4096", "iterations: 12", 1)
	if err := os.WriteFile(file, []byte(broken), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	eventually(t, "refused reload logged", func() bool { return strings.Contains(c.output(), "reload refused") })
	if err := dave(); err != nil {
		t.Fatalf("dave after a refused reload: %v", err)
	}
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := c.wait(t); code != 0 {
		t.Fatalf("exit %d", code)
	}
	if strings.Contains(c.output(), "dave-pw-2") || strings.Contains(c.output(), tok) {
		t.Error("a secret in the log")
	}
}

// TestInsecureBindRefusedAndWarned: a non-loopback listener without
// authentication is refused (ErrExposed naming it); with users and a
// token configured it is accepted; with security.insecure the daemon
// starts and warns about each exposed listener.
func TestInsecureBindRefusedAndWarned(t *testing.T) {
	env := map[string]string{"ONEXBUS_KAFKA_ADDR": "0.0.0.0:0", "ONEXBUS_HTTP_ADDR": "0.0.0.0:0"}
	_, err := daemon.Load(daemon.Layers{LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }})
	if !errors.Is(err, daemon.ErrExposed) || !strings.Contains(err.Error(), "kafka.addr") || !strings.Contains(err.Error(), "http.addr") {
		t.Fatalf("unauthenticated 0.0.0.0: %v, want ErrExposed naming kafka.addr and http.addr", err)
	}
	file := filepath.Join(t.TempDir(), "onexbusd.yaml")
	if code, _, errs := runCLI(t, "pw-123456\n", nil, "user", "add", "alice", "--password-stdin", "--config", file); code != 0 {
		t.Fatal(errs)
	}
	if _, err := daemon.Load(daemon.Layers{File: file, LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }}); err != nil {
		t.Fatalf("authenticated 0.0.0.0 refused: %v", err)
	}
	cfg := testConfig(t)
	cfg.KafkaAddr, cfg.Insecure = "0.0.0.0:0", true
	logs := &logBuffer{t: t}
	startDaemon(t, cfg, daemon.WithLogOutput(logs))
	if !strings.Contains(logs.String(), "security.insecure is set") || !strings.Contains(logs.String(), "setting=kafka.addr") {
		t.Errorf("no insecure warning naming kafka.addr in:\n%s", logs)
	}
}
