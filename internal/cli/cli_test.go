package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/onexbus/onexbus/internal/cli"
	"github.com/onexbus/onexbus/internal/daemon"
)

func run(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := cli.Main(cli.Env{Args: args, Stdout: &out, Stderr: &errb,
		LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
		Exit:      func(int) { t.Fatal("Exit called") }})
	return code, out.String(), errb.String()
}

// TestConfigPrintSources: each value with its origin; secrets redacted.
func TestConfigPrintSources(t *testing.T) {
	file := filepath.Join(t.TempDir(), "onexbusd.yaml")
	if err := os.WriteFile(file, []byte("data_dir: /srv/onexbus\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := run(t, map[string]string{"ONEXBUS_CONFIG": file, "ONEXBUS_LOG_LEVEL": "debug", "KAFKA_SASL_PASSWORD": "hunter2"},
		"config", "print", "--sources", "--kafka-addr", "127.0.0.1:1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{
		"data_dir = /srv/onexbus", "# file " + file + ":1",
		"log.level = debug", "# env ONEXBUS_LOG_LEVEL",
		"kafka.addr = 127.0.0.1:1", "# flag --kafka-addr",
		"dedup.window = 2m", "upstream.sasl_password = <redacted>",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
	if strings.Contains(out+errOut, "hunter2") {
		t.Error("secret printed")
	}
	code, out, _ = run(t, nil, "config", "print", "-o", "json")
	var vals []map[string]any
	if code != 0 || json.Unmarshal([]byte(out), &vals) != nil || len(vals) < 60 {
		t.Errorf("json: exit %d, %d values", code, len(vals))
	}
}

// TestConfigCheckAndServeCheck: problems listed at once with exit 2; a
// good file passes.
func TestConfigCheckAndServeCheck(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("kafka:\n  adress: x\nretry:\n  max_attempts: 0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := run(t, nil, "config", "check", bad)
	if code != cli.ExitConfig || !strings.Contains(errOut, bad+":2: unknown key") || !strings.Contains(errOut, "retry.max_attempts") {
		t.Errorf("exit %d: %s", code, errOut)
	}
	good := filepath.Join(dir, "good.yaml")
	if err := os.WriteFile(good, []byte("log:\n  level: warn\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := run(t, nil, "config", "check", good); code != 0 || !strings.Contains(out, "configuration OK") {
		t.Errorf("good file: exit %d %s %s", code, out, errOut)
	}
	if code, _, errOut := run(t, map[string]string{"ONEXBUS_KAFKA_ADDR": "0.0.0.0:9092"}, "serve", "--check"); code != cli.ExitConfig || !strings.Contains(errOut, "not a loopback address") {
		t.Errorf("serve --check exposed: exit %d %s", code, errOut)
	}
	if code, out, _ := run(t, nil, "serve", "--check", "--data-dir", dir); code != 0 || !strings.Contains(out, "configuration OK") {
		t.Errorf("serve --check: exit %d %s", code, out)
	}
}

// TestCheckCommand: Nagios exit codes; UNKNOWN for a configuration that
// does not load; JSON output.
func TestCheckCommand(t *testing.T) {
	dir := t.TempDir()
	code, out, _ := run(t, nil, "check", "--json", "--fsync-warn", "1m", "--fsync-crit", "2m", "--data-dir", dir, "--kafka-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0")
	var rep struct{ Status string }
	if code != 0 || json.Unmarshal([]byte(out), &rep) != nil || rep.Status != "OK" {
		t.Errorf("healthy: exit %d %s", code, out)
	}
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if code, out, _ := run(t, nil, "check", "--data-dir", file, "--kafka-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0"); code != 2 || !strings.Contains(out, "CRITICAL") {
		t.Errorf("broken: exit %d %s", code, out)
	}
	if code, out, _ := run(t, nil, "check", "--retry-max-attempts", "x"); code != 3 || !strings.Contains(out, "UNKNOWN") {
		t.Errorf("bad config: exit %d %s", code, out)
	}
}

// TestVersionAndCompletion: version prints; cobra's completion works.
func TestVersionAndCompletion(t *testing.T) {
	if code, out, _ := run(t, nil, "version"); code != 0 || !strings.HasPrefix(out, "onexbusd ") {
		t.Errorf("version: %d %s", code, out)
	}
	if code, out, _ := run(t, nil, "completion", "bash"); code != 0 || !strings.Contains(out, "onexbusd") {
		t.Errorf("completion: %d", code)
	}
	if code, _, _ := run(t, nil, "serve", "extra"); code != cli.ExitConfig {
		t.Errorf("usage error exit %d", code)
	}
}

// TestDeployConfigValid: the example configuration under deploy/ passes
// config check.
func TestDeployConfigValid(t *testing.T) {
	if code, _, errOut := run(t, nil, "config", "check", "../../deploy/onexbusd.yaml"); code != 0 {
		t.Fatalf("deploy/onexbusd.yaml: exit %d: %s", code, errOut)
	}
}

// TestServeStartupErrorExit1: serve on a data dir another daemon holds
// exits 1 with a message naming the dir and the holder's pid.
func TestServeStartupErrorExit1(t *testing.T) {
	dir := t.TempDir()
	cfg := daemon.Defaults()
	cfg.DataDir, cfg.KafkaAddr, cfg.HTTPAddr, cfg.AdminAddr = dir, "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.NodeHeartbeatInterval = 0
	d, err := daemon.New(cfg, daemon.WithLogOutput(io.Discard))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	defer func() { cancel(); <-done }()
	<-d.Ready()
	code, _, errOut := run(t, nil, "serve", "--data-dir", dir, "--kafka-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0")
	if code != cli.ExitError || !strings.Contains(errOut, dir+" is in use by another onexbusd (pid "+strconv.Itoa(os.Getpid())+")") {
		t.Errorf("exit %d: %s", code, errOut)
	}
}
