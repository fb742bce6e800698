package daemon_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/onexbus/onexbus/core"
)

var childArgs = []string{"--kafka-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0", "--log-json", "--node-heartbeat-interval", "0s"}

// startHookChild runs the test binary as onexbusd with the test hooks.
func startHookChild(t *testing.T, dir string) *child {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return startChild(t, exe, []string{childEnv + "=1", childHooks + "=1"}, append([]string{"serve", "--data-dir", dir}, childArgs...)...)
}

func post(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Post(url, "text/plain", nil)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	_, _ = fmt.Fscan(resp.Body, &b)
	if resp.StatusCode != 200 {
		t.Fatalf("POST %s: %d", url, resp.StatusCode)
	}
	return b.String()
}

func openBus(t *testing.T, dir string) *core.Bus {
	t.Helper()
	bus, err := core.New(core.WithDataDir(dir))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bus.Close(context.Background()) })
	return bus
}

// TestSIGTERMDrainsHandlerInFlight (child process): SIGTERM turns /readyz
// 503 and closes the Kafka listener while a handler runs; the handler
// finishes and is committed, every acknowledged publish is kept, and the
// process exits 0.
func TestSIGTERMDrainsHandlerInFlight(t *testing.T) {
	dir := t.TempDir()
	c := startHookChild(t, dir)
	admin := "http://" + c.admin
	for i := range 5 {
		post(t, fmt.Sprintf("%s/test/publish?topic=onex.evt.test.kept.v1&value=v%d", admin, i))
	}
	post(t, admin+"/test/publish?topic="+slowTopic+"&value=slow")
	c.waitLine(t, "HANDLER_STARTED 0")
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	eventually(t, "/readyz 503 after SIGTERM", func() bool { code, _ := get(t, admin+"/readyz"); return code == 503 })
	eventually(t, "Kafka listener closed", func() bool {
		conn, err := net.DialTimeout("tcp", c.kafka, time.Second)
		if err == nil {
			conn.Close()
		}
		return err != nil
	})
	post(t, admin+"/test/release")
	if code := c.wait(t); code != 0 {
		t.Fatalf("exit code %d, want 0", code)
	}
	if !strings.Contains(c.output(), "HANDLER_DONE 0") || !strings.Contains(c.output(), "stopped: drained and flushed") {
		t.Errorf("log lacks the drain:\n%s", c.output())
	}
	bus := openBus(t, dir)
	if off, ok, err := bus.CommittedOffset("slow", slowTopic, 0); err != nil || !ok || off != 1 {
		t.Errorf("slow group committed %d %v %v, want 1", off, ok, err)
	}
	if end, err := bus.EndOffset("onex.evt.test.kept.v1", 0); err != nil || end != 5 {
		t.Errorf("kept topic end %d %v, want 5", end, err)
	}
}

// TestSecondSignalExitsAtOnce: a second SIGTERM while draining exits at
// once (code 1) without waiting for the handler; the unfinished message
// is not committed, so it is delivered again after a restart.
func TestSecondSignalExitsAtOnce(t *testing.T) {
	dir := t.TempDir()
	c := startHookChild(t, dir)
	post(t, "http://"+c.admin+"/test/publish?topic="+slowTopic+"&value=slow")
	c.waitLine(t, "HANDLER_STARTED 0")
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	eventually(t, "draining", func() bool { return strings.Contains(c.output(), "signal received: draining") })
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := c.wait(t); code != 1 {
		t.Fatalf("exit code %d after a second signal, want 1", code)
	}
	if !strings.Contains(c.output(), "second signal: exiting now without draining") {
		t.Errorf("log:\n%s", c.output())
	}
	c = startHookChild(t, dir)
	c.waitLine(t, "HANDLER_STARTED 0")
	post(t, "http://"+c.admin+"/test/release")
	c.waitLine(t, "HANDLER_DONE 0")
}

// TestBinaryKill9ThenSIGTERM (the built binary, Kafka clients): kill -9
// under produce load, restart: every acknowledged record is there at its
// offset; then SIGTERM exits 0 and a restart still has everything.
func TestBinaryKill9ThenSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	bin := onexbusdBinary(t)
	dir := t.TempDir()
	args := append([]string{"serve", "--data-dir", dir}, childArgs...)
	c := startChild(t, bin, nil, args...)
	const topic = "onex.evt.test.crash.v1"
	type ack struct {
		part int32
		off  int64
	}
	var mu sync.Mutex
	acked := map[string]ack{}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var clients []*kgo.Client
	for w := range 4 {
		cl := kafkaClient(t, c.kafka, kgo.DefaultProduceTopic(topic))
		clients = append(clients, cl)
		wg.Go(func() {
			for i := 0; ctx.Err() == nil && i < 5000; i++ {
				v := fmt.Sprintf("w%d-%d", w, i)
				res := cl.ProduceSync(ctx, kgo.StringRecord(v))
				if r, err := res.First(); err == nil {
					mu.Lock()
					acked[v] = ack{r.Partition, r.Offset}
					mu.Unlock()
				}
			}
		})
	}
	eventually(t, "500 acknowledged records", func() bool { mu.Lock(); defer mu.Unlock(); return len(acked) >= 500 })
	if err := c.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	c.wait(t)
	cancel()
	for _, cl := range clients {
		cl.Close() // fails what is still buffered: never acknowledged
	}
	wg.Wait()
	mu.Lock()
	n := len(acked)
	mu.Unlock()
	t.Logf("%d records acknowledged before kill -9", n)

	c = startChild(t, bin, nil, args...)
	check := func(what string) {
		t.Helper()
		recs := consumeAll(t, c.kafka, topic, n)
		at := map[ack]string{}
		for _, r := range recs {
			at[ack{r.Partition, r.Offset}] = string(r.Value)
		}
		lost := 0
		for v, a := range acked {
			if at[a] != v {
				lost++
			}
		}
		if lost > 0 {
			t.Fatalf("%s: %d of %d acknowledged records missing or moved", what, lost, n)
		}
	}
	check("after kill -9")
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := c.wait(t); code != 0 {
		t.Fatalf("SIGTERM exit code %d, want 0", code)
	}
	c = startChild(t, bin, nil, args...)
	check("after SIGTERM and restart")
}

// TestSIGHUPReloads (child process): SIGHUP re-reads the file; the
// reloadable settings apply, the others are logged as needing a restart,
// and an invalid file changes nothing and keeps the daemon running.
func TestSIGHUPReloads(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(t.TempDir(), "onexbusd.yaml")
	write := func(body string) {
		if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("log:\n  level: info\n")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	c := startChild(t, exe, []string{childEnv + "=1"}, append([]string{"serve", "--config", file, "--data-dir", dir}, childArgs...)...)
	write("log:\n  level: debug\ndedup:\n  window: 5m\n")
	if err := c.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	eventually(t, "reload logged", func() bool {
		return hasLog(c.output(), "reloaded", "log.level") &&
			hasLog(c.output(), "changed on reload, applies after a restart", "dedup.window")
	})
	write("log:\n  level: loud\n")
	if err := c.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	eventually(t, "invalid reload refused", func() bool { return strings.Contains(c.output(), "reload refused") })
	if code, _ := get(t, "http://"+c.admin+"/readyz"); code != 200 {
		t.Errorf("/readyz %d after a refused reload", code)
	}
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := c.wait(t); code != 0 {
		t.Errorf("exit %d", code)
	}
}

// hasLog reports whether a JSON log line has message msg and setting.
func hasLog(out, msg, setting string) bool {
	for _, line := range strings.Split(out, "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["@message"] == msg && m["setting"] == setting {
			return true
		}
	}
	return false
}
