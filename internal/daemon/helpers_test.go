package daemon_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/internal/cli"
	"github.com/onexbus/onexbus/internal/daemon"
)

// childEnv makes the test binary run onexbusd's command line (TestMain):
// the signal and crash tests start it as a child process. With
// childHooks set it adds the test hooks of hookSetup.
const (
	childEnv   = "ONEXBUSD_TEST_CHILD"
	childHooks = "ONEXBUSD_TEST_HOOKS"
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		var opts []daemon.Option
		if os.Getenv(childHooks) == "1" {
			opts = append(opts, daemon.WithSetup(hookSetup))
		}
		os.Exit(cli.Main(cli.Env{Args: os.Args[1:], Stdout: os.Stdout, Stderr: os.Stderr,
			LookupEnv: os.LookupEnv, Exit: os.Exit, Options: opts}))
	}
	code := m.Run()
	if builtBin != "" {
		_ = os.RemoveAll(filepath.Dir(builtBin)) // scratch build
	}
	os.Exit(code)
}

// Test hooks of a child daemon, on its admin listener: POST
// /test/publish?topic=T&value=V publishes through the bus and answers the
// offset once it is durable; a group "slow" on slowTopic whose handler
// prints "HANDLER_STARTED <offset>" on stderr and returns only once POST
// /test/release is called.
const slowTopic = "onex.evt.test.slow.v1"

func hookSetup(ctx context.Context, bus *core.Bus, admin *http.ServeMux) error {
	admin.HandleFunc("POST /test/publish", func(w http.ResponseWriter, r *http.Request) {
		off, err := bus.Publish(r.Context(), &core.Message{Topic: r.URL.Query().Get("topic"), Value: []byte(r.URL.Query().Get("value"))})
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprint(w, off)
	})
	release := make(chan struct{})
	var once sync.Once
	admin.HandleFunc("POST /test/release", func(w http.ResponseWriter, r *http.Request) {
		once.Do(func() { close(release) })
	})
	_, err := bus.Subscribe(ctx, slowTopic, "slow", func(hctx context.Context, m *core.Message) error {
		fmt.Fprintf(os.Stderr, "HANDLER_STARTED %d\n", m.Offset)
		select {
		case <-release:
			fmt.Fprintf(os.Stderr, "HANDLER_DONE %d\n", m.Offset)
			return nil
		case <-hctx.Done():
			return hctx.Err()
		}
	}, core.SubscribeStart(core.StartEarliest))
	return err
}

// testConfig is the defaults on ephemeral loopback ports and a fresh dir.
func testConfig(t *testing.T) daemon.Config {
	t.Helper()
	c := daemon.Defaults()
	c.DataDir = t.TempDir()
	c.KafkaAddr, c.AdminAddr, c.HTTPAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	c.NodeHeartbeatInterval = 0
	c.ShutdownTimeout = 20 * time.Second
	return c
}

// running is a daemon started in process.
type running struct {
	d      *daemon.Daemon
	cancel context.CancelFunc
	done   chan error
}

// startDaemon runs cfg in process and waits until it is ready.
func startDaemon(t *testing.T, cfg daemon.Config, opts ...daemon.Option) *running {
	t.Helper()
	r := tryStart(t, cfg, opts...)
	select {
	case <-r.d.Ready():
	case err := <-r.done:
		t.Fatalf("daemon did not start: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatal("daemon not ready after 30s")
	}
	t.Cleanup(func() { r.stop(t) })
	return r
}

func tryStart(t *testing.T, cfg daemon.Config, opts ...daemon.Option) *running {
	t.Helper()
	d, err := daemon.New(cfg, append([]daemon.Option{daemon.WithLogOutput(testWriter{t})}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{d: d, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- d.Run(ctx) }()
	return r
}

// stop cancels and waits for Run; it returns Run's error (once).
func (r *running) stop(t *testing.T) error {
	t.Helper()
	r.cancel()
	select {
	case err, ok := <-r.done:
		if !ok {
			return nil
		}
		close(r.done)
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("daemon did not stop within 30s")
	}
	return nil
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// eventually polls cond every 10ms until it holds or 20s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within 20s: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func kafkaClient(t *testing.T, addr string, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr), kgo.AllowAutoTopicCreation()}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// consumeAll reads every record of topic from the start until n are read.
func consumeAll(t *testing.T, addr, topic string, n int) []*kgo.Record {
	t.Helper()
	cl := kafkaClient(t, addr, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("consumed %d of %d records of %s: %v", len(out), n, topic, err)
		}
		fs.EachError(func(tp string, p int32, err error) { t.Logf("fetch %s/%d: %v", tp, p, err) })
		out = append(out, fs.Records()...)
	}
	return out
}

// child is onexbusd (the test binary in child mode, or the built binary)
// running as a process.
type child struct {
	cmd    *exec.Cmd
	lines  chan string // stderr, line by line
	exited chan struct{}
	err    error
	kafka  string
	admin  string
	mu     sync.Mutex
	log    bytes.Buffer
}

// startChild runs bin with args and waits for its "ready" log line
// (JSON), from which it reads the bound addresses.
func startChild(t *testing.T, bin string, env []string, args ...string) *child {
	t.Helper()
	c := &child{lines: make(chan string, 10_000), exited: make(chan struct{})}
	c.cmd = exec.Command(bin, args...)
	c.cmd.Env = append(os.Environ(), env...)
	stderr, err := c.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan map[string]any, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			c.mu.Lock()
			c.log.WriteString(line + "\n")
			c.mu.Unlock()
			var m map[string]any
			if json.Unmarshal([]byte(line), &m) == nil && m["@message"] == "ready" {
				ready <- m
			}
			select {
			case c.lines <- line:
			default:
			}
		}
		c.err = c.cmd.Wait()
		close(c.exited)
	}()
	t.Cleanup(func() {
		if c.cmd.ProcessState == nil {
			_ = c.cmd.Process.Kill()
			<-c.exited
		}
		if t.Failed() {
			t.Logf("child log:\n%s", c.output())
		}
	})
	select {
	case m := <-ready:
		c.kafka, _ = m["kafka"].(string)
		c.admin, _ = m["admin"].(string)
	case <-c.exited:
		t.Fatalf("child exited before ready: %v\n%s", c.err, c.output())
	case <-time.After(60 * time.Second):
		t.Fatalf("child not ready after 60s\n%s", c.output())
	}
	return c
}

func (c *child) output() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.log.String()
}

// waitLine waits for a stderr line starting with prefix.
func (c *child) waitLine(t *testing.T, prefix string) string {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case l := <-c.lines:
			if strings.HasPrefix(l, prefix) {
				return l
			}
		case <-c.exited:
			t.Fatalf("child exited waiting for %q: %v", prefix, c.err)
		case <-timeout:
			t.Fatalf("no %q line within 30s", prefix)
		}
	}
}

// wait waits for the child to exit and returns its exit code.
func (c *child) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-c.exited:
	case <-time.After(60 * time.Second):
		t.Fatal("child did not exit within 60s")
	}
	var ee *exec.ExitError
	if errors.As(c.err, &ee) {
		return ee.ExitCode()
	}
	if c.err != nil {
		t.Fatalf("child: %v", c.err)
	}
	return 0
}

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

// onexbusdBinary builds cmd/onexbusd once per test run, statically as
// `make build` does.
func onexbusdBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "onexbusd-bin-")
		if err != nil {
			buildErr = err
			return
		}
		builtBin = filepath.Join(dir, "onexbusd")
		cmd := exec.Command("go", "build", "-o", builtBin, "github.com/onexbus/onexbus/cmd/onexbusd")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

// kadmBrokers returns the host:port of the first broker in Metadata.
func kadmBrokers(ctx context.Context, cl *kgo.Client) (string, error) {
	req := kmsg.NewPtrMetadataRequest()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return "", err
	}
	if len(resp.Brokers) == 0 {
		return "", errors.New("no brokers in metadata")
	}
	return net.JoinHostPort(resp.Brokers[0].Host, fmt.Sprint(resp.Brokers[0].Port)), nil
}
