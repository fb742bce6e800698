package crash_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// onexbusd builds the real binary once per test process.
func onexbusd(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "onexbusd-crash-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "onexbusd")
		cmd := exec.Command("go", "build", "-o", binPath, "github.com/onexbus/onexbus/cmd/onexbusd")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/onexbusd: %w\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binPath != "" {
		_ = os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

// daemon is one run of onexbusd.
type daemon struct {
	cmd    *exec.Cmd
	kafka  string
	http   string
	admin  string
	exited chan struct{}
	err    error
	mu     sync.Mutex // protects log
	log    bytes.Buffer
}

// startDaemon runs onexbusd on dir with every listener on an ephemeral
// loopback port and waits for its "ready" line.
func startDaemon(t *testing.T, dir string, extra ...string) *daemon {
	t.Helper()
	args := append([]string{"serve", "--data-dir", dir, "--kafka-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0",
		"--admin-addr", "127.0.0.1:0", "--log-json", "--node-heartbeat-interval", "0s", "--default-partitions", "3"}, extra...)
	d := &daemon{cmd: exec.Command(onexbusd(t), args...), exited: make(chan struct{})}
	stderr, err := d.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan map[string]any, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			line := sc.Bytes()
			d.mu.Lock()
			d.log.Write(line)
			d.log.WriteByte('\n')
			d.mu.Unlock()
			var m map[string]any
			if json.Unmarshal(line, &m) == nil && m["@message"] == "ready" {
				ready <- m
			}
		}
		d.err = d.cmd.Wait()
		close(d.exited)
	}()
	t.Cleanup(func() {
		d.kill()
		if t.Failed() {
			t.Logf("onexbusd log (last run):\n%s", d.output())
		}
	})
	select {
	case m := <-ready:
		d.kafka, _ = m["kafka"].(string)
		d.http, _ = m["http"].(string)
		d.admin, _ = m["admin"].(string)
	case <-d.exited:
		t.Fatalf("onexbusd exited before ready: %v\n%s", d.err, d.output())
	case <-time.After(60 * time.Second):
		t.Fatalf("onexbusd not ready within 60s\n%s", d.output())
	}
	return d
}

func (d *daemon) output() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.log.String()
}

// kill sends SIGKILL (if still running) and waits for the exit.
func (d *daemon) kill() {
	select {
	case <-d.exited:
		return
	default:
	}
	_ = d.cmd.Process.Signal(syscall.SIGKILL)
	<-d.exited
}

// stop sends SIGTERM and returns the exit code.
func (d *daemon) stop(t *testing.T) int {
	t.Helper()
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-d.exited:
	case <-time.After(60 * time.Second):
		t.Fatal("onexbusd did not exit within 60s of SIGTERM")
	}
	var ee *exec.ExitError
	if errors.As(d.err, &ee) {
		return ee.ExitCode()
	}
	return 0
}
