package cli_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/internal/daemon"
	httpapi "github.com/onexbus/onexbus/transport/http"
)

// binary is onexbusd built once for the tests that run it.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "onexbusd-cli")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "onexbusd")
	build := exec.Command("go", "build", "-o", binary, "../../cmd/onexbusd")
	if out, err := build.CombinedOutput(); err != nil {
		os.Stderr.Write(out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// startTestDaemon runs a daemon in process on ephemeral loopback ports.
func startTestDaemon(t *testing.T) *daemon.Daemon {
	t.Helper()
	c := daemon.Defaults()
	c.DataDir = t.TempDir()
	c.KafkaAddr, c.AdminAddr, c.HTTPAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	c.NodeHeartbeatInterval = 0
	d, err := daemon.New(c, daemon.WithLogOutput(&bytes.Buffer{}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	select {
	case <-d.Ready():
	case err := <-done:
		t.Fatalf("daemon: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("daemon not ready")
	}
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return d
}

// runBinary runs the built binary against d with stdin and returns its exit
// code, stdout and stderr. Its stdout is a pipe, not a terminal.
func runBinary(t *testing.T, d *daemon.Daemon, stdin string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), "ONEXBUS_URL=http://"+d.Addrs().HTTP.String(), "ONEXBUS_CONTEXTS="+filepath.Join(t.TempDir(), "none.yaml"))
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatal(err)
	}
	return cmd.ProcessState.ExitCode(), out.String(), errb.String()
}

func jsonLines[T any](t *testing.T, s string) []T {
	t.Helper()
	var out []T
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		var v T
		if err := json.Unmarshal(sc.Bytes(), &v); err != nil {
			t.Fatalf("not a JSON line: %q: %v", sc.Text(), err)
		}
		out = append(out, v)
	}
	return out
}

func TestProduceConsumeAndTopics(t *testing.T) {
	d := startTestDaemon(t)
	code, out, errOut := runBinary(t, d, "k1:one\nk2:two\nk1:three\n", "produce", "orders", "-K", ":", "-H", "event_type=order.placed")
	if code != 0 {
		t.Fatalf("produce: %d %s", code, errOut)
	}
	results := jsonLines[httpapi.PublishResult](t, out)
	if len(results) != 3 || results[2].Offset != 2 || results[0].Error != nil {
		t.Fatalf("produce results %s", out)
	}
	code, out, _ = runBinary(t, d, "", "consume", "orders", "-e", "-f", `%k=%s@%o\n`)
	if code != 0 || out != "k1=one@0\nk2=two@1\nk1=three@2\n" {
		t.Fatalf("consume with a format: %d %q", code, out)
	}
	// Piped without a format: JSON lines with every header.
	code, out, _ = runBinary(t, d, "", "consume", "orders", "-e", "--from", "1")
	msgs := jsonLines[httpapi.MessageOut](t, out)
	if code != 0 || len(msgs) != 2 || msgs[0].Offset != 1 || msgs[0].Headers["event_type"] != "order.placed" {
		t.Fatalf("consume as JSON lines: %d %s", code, out)
	}
	code, out, _ = runBinary(t, d, "", "consume", "orders", "-c", "1", "--from", "end", "-e")
	if code != 0 || out != "" {
		t.Fatalf("consume from the end with -e: %d %q", code, out)
	}
	code, out, _ = runBinary(t, d, "", "topic", "list", "-o", "json")
	var topics []httpapi.TopicSummary
	if err := json.Unmarshal([]byte(out), &topics); code != 0 || err != nil || len(topics) == 0 {
		t.Fatalf("topic list -o json: %d %q %v", code, out, err)
	}
	code, out, _ = runBinary(t, d, "", "topic", "describe", "orders", "-o", "table")
	if code != 0 || !strings.Contains(out, "PARTITION") || !strings.Contains(out, " 3 ") {
		t.Fatalf("topic describe: %d %q", code, out)
	}
	code, _, errOut = runBinary(t, d, "", "topic", "describe", "nope")
	if code != 1 || !strings.Contains(errOut, "topic_not_found") {
		t.Fatalf("describe of a missing topic: %d %q", code, errOut)
	}
	code, _, errOut = runBinary(t, d, "", "topic", "list", "--url", "http://127.0.0.1:1")
	if code != 1 || !strings.Contains(errOut, "cannot reach onexbusd") {
		t.Fatalf("unreachable daemon: %d %q", code, errOut)
	}
}

func TestDLQCommandsDryRunByDefault(t *testing.T) {
	d := startTestDaemon(t)
	bus := d.Bus()
	if _, err := bus.Subscribe(context.Background(), "jobs", "workers", func(context.Context, *core.Message) error {
		return core.Permanent(errors.New("cannot parse"))
	}, core.SubscribeStart(core.StartEarliest)); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := runBinary(t, d, "a\nb\nc\n", "produce", "jobs"); code != 0 {
		t.Fatalf("produce: %s", errOut)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if n, _ := bus.DeadLetters().Count(context.Background()); n == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("letters did not arrive")
		}
		time.Sleep(5 * time.Millisecond)
	}
	code, out, _ := runBinary(t, d, "", "dlq", "list")
	letters := jsonLines[httpapi.LetterOut](t, out)
	if code != 0 || len(letters) != 3 || letters[0].Group != "workers" || !strings.Contains(letters[0].Error, "cannot parse") {
		t.Fatalf("dlq list: %d %s", code, out)
	}
	code, out, _ = runBinary(t, d, "", "dlq", "purge", "--limit", "all", "-o", "table")
	if code != 0 || !strings.Contains(out, "dry run: 3 letters would be purged") {
		t.Fatalf("purge dry run: %d %q", code, out)
	}
	if n, _ := bus.DeadLetters().Count(context.Background()); n != 3 {
		t.Fatalf("a dry run purged: %d left", n)
	}
	code, _, errOut := runBinary(t, d, "", "dlq", "purge")
	if code == 0 || !strings.Contains(errOut, "limit") {
		t.Fatalf("purge without --limit: %d %q", code, errOut)
	}
	code, out, _ = runBinary(t, d, "", "dlq", "purge", "--limit", "2", "--execute")
	ops := jsonLines[httpapi.Operation](t, out)
	if code != 0 || len(ops) != 1 || ops[0].Status != "succeeded" || ops[0].Done != 2 {
		t.Fatalf("purge --execute: %d %s", code, out)
	}
	if n, _ := bus.DeadLetters().Count(context.Background()); n != 1 {
		t.Fatalf("%d letters after purging 2 of 3", n)
	}
	// Ids 1 and 2 went (oldest first); 3 is left.
	code, out, _ = runBinary(t, d, "", "dlq", "show", "3", "-o", "json")
	var l httpapi.LetterOut
	if err := json.Unmarshal([]byte(out), &l); code != 0 || err != nil || l.ID != 3 || l.Topic != "jobs" {
		t.Fatalf("dlq show: %d %q %v", code, out, err)
	}
	if code, _, _ := runBinary(t, d, "", "dlq", "show", "1"); code != 1 {
		t.Fatalf("dlq show of a purged letter: exit %d", code)
	}
	code, out, _ = runBinary(t, d, "", "breaker", "list")
	if code != 0 || len(jsonLines[httpapi.BreakerInfo](t, out)) != 1 {
		t.Fatalf("breaker list: %d %q", code, out)
	}
	code, out, _ = runBinary(t, d, "", "group", "describe", "workers", "-o", "json")
	var g httpapi.GroupDetail
	if err := json.Unmarshal([]byte(out), &g); code != 0 || err != nil || g.State != "Stable" {
		t.Fatalf("group describe: %d %q %v", code, out, err)
	}
}

func TestContexts(t *testing.T) {
	d := startTestDaemon(t)
	file := filepath.Join(t.TempDir(), "contexts.yaml")
	run := func(args ...string) (int, string, string) {
		cmd := exec.Command(binary, args...)
		cmd.Env = append(os.Environ(), "ONEXBUS_CONTEXTS="+file)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		_ = cmd.Run()
		return cmd.ProcessState.ExitCode(), out.String(), errb.String()
	}
	if code, _, errOut := run("context", "add", "local", "--url", "http://"+d.Addrs().HTTP.String(), "--token", "s3cret"); code != 0 {
		t.Fatalf("context add: %s", errOut)
	}
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("contexts file: %v %v", fi, err)
	}
	code, out, _ := run("context", "list")
	if code != 0 || !strings.Contains(out, "*") || !strings.Contains(out, "local") || strings.Contains(out, "s3cret") {
		t.Fatalf("context list: %q", out)
	}
	// The current context is used without --url.
	if code, out, errOut := run("topic", "list"); code != 0 {
		t.Fatalf("topic list through the context: %d %q %q", code, out, errOut)
	}
	if code, _, _ := run("context", "use", "nope"); code == 0 {
		t.Fatal("context use of an unknown context succeeded")
	}
}
