package daemon_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/core/node"
	"github.com/onexbus/onexbus/internal/daemon"
)

// TestReadyOnlyAfterRecovery: /livez answers at once, /readyz is 503
// until the log is recovered (data of the previous run readable) and
// every start-up step has run, then 200.
func TestReadyOnlyAfterRecovery(t *testing.T) {
	cfg := testConfig(t)
	r := startDaemon(t, cfg)
	cl := kafkaClient(t, r.d.Addrs().Kafka.String(), kgo.DefaultProduceTopic("onex.evt.test.recover.v1"))
	for i := range 10 {
		if err := cl.ProduceSync(context.Background(), kgo.StringRecord(fmt.Sprint(i))).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	cl.Close()
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}

	inSetup, release := make(chan *daemon.Daemon, 1), make(chan struct{})
	var d2 *running
	var recovered int64 = -1
	d2 = tryStart(t, cfg, daemon.WithSetup(func(ctx context.Context, bus *core.Bus, _ *http.ServeMux) error {
		end, err := bus.EndOffset("onex.evt.test.recover.v1", 0)
		if err != nil {
			return err
		}
		recovered = end
		inSetup <- d2.d
		<-release
		return nil
	}))
	t.Cleanup(func() { d2.stop(t) })
	select {
	case <-inSetup:
	case err := <-d2.done:
		t.Fatalf("second run: %v", err)
	}
	admin := "http://" + d2.d.Addrs().Admin.String()
	if code, _ := get(t, admin+"/livez"); code != 200 {
		t.Errorf("/livez %d during start-up, want 200", code)
	}
	if code, body := get(t, admin+"/readyz?verbose"); code != 503 || !strings.Contains(body, `"listeners up","ok":false`) {
		t.Errorf("/readyz %d %s before start-up finished, want 503", code, body)
	}
	if recovered != 10 {
		t.Errorf("end offset %d seen by start-up, want the 10 records of the previous run", recovered)
	}
	close(release)
	<-d2.d.Ready()
	if code, _ := get(t, admin+"/readyz"); code != 200 {
		t.Errorf("/readyz %d once ready, want 200", code)
	}
}

// TestDrainWithHandlerInFlight (in process): on shutdown /readyz turns
// 503 and the Kafka listener stops accepting while a handler still runs;
// the handler finishes, its cursor is committed, Run returns nil.
func TestDrainWithHandlerInFlight(t *testing.T) {
	cfg := testConfig(t)
	started, release := make(chan int64, 1), make(chan struct{})
	r := startDaemon(t, cfg, daemon.WithSetup(func(ctx context.Context, bus *core.Bus, _ *http.ServeMux) error {
		_, err := bus.Subscribe(ctx, slowTopic, "slow", func(hctx context.Context, m *core.Message) error {
			started <- m.Offset
			<-release
			return nil
		}, core.SubscribeStart(core.StartEarliest))
		return err
	}))
	a := r.d.Addrs()
	cl := kafkaClient(t, a.Kafka.String(), kgo.DefaultProduceTopic(slowTopic))
	if err := cl.ProduceSync(context.Background(), kgo.StringRecord("slow one")).FirstErr(); err != nil {
		t.Fatal(err)
	}
	cl.Close()
	<-started
	r.cancel()
	admin := "http://" + a.Admin.String()
	eventually(t, "/readyz 503 while draining", func() bool { code, _ := get(t, admin+"/readyz"); return code == 503 })
	eventually(t, "Kafka listener closed", func() bool {
		c, err := net.DialTimeout("tcp", a.Kafka.String(), time.Second)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	select {
	case err := <-r.done:
		t.Fatalf("Run returned %v with a handler in flight", err)
	default:
	}
	close(release)
	if err := r.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	bus, err := core.New(core.WithDataDir(cfg.DataDir))
	if err != nil {
		t.Fatal(err)
	}
	defer bus.Close(context.Background())
	off, ok, err := bus.CommittedOffset("slow", slowTopic, 0)
	if err != nil || !ok || off != 1 {
		t.Fatalf("committed offset %d %v %v after drain, want 1", off, ok, err)
	}
}

// TestSecondStartRefused: a second daemon on the same data dir fails at
// once with ErrDataDirLocked naming the holder.
func TestSecondStartRefused(t *testing.T) {
	cfg := testConfig(t)
	startDaemon(t, cfg)
	r := tryStart(t, cfg)
	select {
	case err := <-r.done:
		if !errors.Is(err, daemon.ErrDataDirLocked) || !strings.Contains(err.Error(), fmt.Sprintf("pid %d", os.Getpid())) || !strings.Contains(err.Error(), cfg.DataDir) {
			t.Fatalf("second start: %v, want ErrDataDirLocked naming the dir and pid %d", err, os.Getpid())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("second start neither failed nor returned")
	}
}

// TestStartupErrorsActionable: a taken port names the setting and the
// flag; a corrupt data file names itself.
func TestStartupErrorsActionable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cfg := testConfig(t)
	cfg.AdminAddr = ln.Addr().String()
	r := tryStart(t, cfg)
	err = <-r.done
	if !errors.Is(err, daemon.ErrAddrInUse) || !strings.Contains(err.Error(), "admin.addr "+ln.Addr().String()) || !strings.Contains(err.Error(), "--admin-addr") {
		t.Errorf("port in use: %v", err)
	}

	cfg = testConfig(t)
	path := filepath.Join(cfg.DataDir, daemon.DataFile)
	if err := os.WriteFile(path, []byte(strings.Repeat("not a bbolt file ", 1000)), 0o600); err != nil {
		t.Fatal(err)
	}
	r = tryStart(t, cfg)
	err = <-r.done
	if !errors.Is(err, daemon.ErrCorruptData) || !strings.Contains(err.Error(), path) {
		t.Errorf("corrupt file: %v", err)
	}
	// The lock and the listeners were released: a good config starts.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	startDaemon(t, cfg)
}

// introspections returns the node introspection events stored in bus.
func introspections(t *testing.T, bus *core.Bus) []node.Introspection {
	t.Helper()
	msgs, err := bus.History(context.Background(), node.IntrospectionTopic, 100)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]node.Introspection, len(msgs))
	for i, m := range msgs {
		if out[i], err = node.ParseIntrospection(m.Value); err != nil {
			t.Fatalf("event %d: %v: %s", i, err, m.Value)
		}
	}
	return out
}

// kafkaIntrospections fetches n introspection events with a Kafka client
// and checks each against the model and its correlation_id header.
func kafkaIntrospections(t *testing.T, addr string, n int) []node.Introspection {
	t.Helper()
	var out []node.Introspection
	for _, rec := range consumeAll(t, addr, node.IntrospectionTopic, n) {
		e, err := node.ParseIntrospection(rec.Value)
		if err != nil {
			t.Fatalf("%v: %s", err, rec.Value)
		}
		for _, h := range rec.Headers {
			if h.Key == "correlation_id" && string(h.Value) != e.CorrelationID.String() {
				t.Errorf("header correlation_id %s, event %s", h.Value, e.CorrelationID)
			}
		}
		out = append(out, e)
	}
	return out
}

// TestNodeEventsFromDaemon: startup, request (a Kafka-produced command,
// answered with its correlation id) and shutdown introspection events,
// fetched by a Kafka client and valid by the model.
func TestNodeEventsFromDaemon(t *testing.T) {
	cfg := testConfig(t)
	cfg.NodeID = "3f1c2b9e-8c4d-4e7a-9b1a-2d5e6f708192"
	r := startDaemon(t, cfg)
	addr := r.d.Addrs().Kafka.String()
	e := kafkaIntrospections(t, addr, 1)[0]
	if e.Reason != node.ReasonStartup || e.NodeID.String() != cfg.NodeID || e.NodeType != node.KindRuntimeHost ||
		e.Endpoints["kafka"] != "kafka://"+addr || e.Endpoints["admin"] != "http://"+r.d.Addrs().Admin.String() {
		t.Errorf("startup event %+v", e)
	}
	corr := "0b6a4f3e-1d6c-4b53-8f63-5d9f1f2a8f11"
	cl := kafkaClient(t, addr)
	rec := &kgo.Record{Topic: node.RequestTopic, Value: []byte(`{}`), Headers: []kgo.RecordHeader{{Key: "correlation_id", Value: []byte(corr)}}}
	if err := cl.ProduceSync(context.Background(), rec).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if e := kafkaIntrospections(t, addr, 2)[1]; e.Reason != node.ReasonRequest || e.CorrelationID.String() != corr {
		t.Fatalf("request event %+v", e)
	}
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	r = startDaemon(t, cfg)
	evs := kafkaIntrospections(t, r.d.Addrs().Kafka.String(), 4)
	want := []node.Reason{node.ReasonStartup, node.ReasonRequest, node.ReasonShutdown, node.ReasonStartup}
	for i, e := range evs[:4] {
		if e.Reason != want[i] || e.NodeID.String() != cfg.NodeID {
			t.Errorf("event %d: %+v, want %s", i, e, want[i])
		}
	}
}

// TestNodeIDKept: without node.id the daemon generates one and keeps it
// in the data dir across restarts.
func TestNodeIDKept(t *testing.T) {
	cfg := testConfig(t)
	r := startDaemon(t, cfg)
	first := introspections(t, r.d.Bus())[0].NodeID
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	r = startDaemon(t, cfg)
	evs := introspections(t, r.d.Bus())
	if evs[len(evs)-1].NodeID != first {
		t.Errorf("node id %s after restart, want %s", evs[len(evs)-1].NodeID, first)
	}
}

// TestReload: reloadable settings apply; the others are reported as
// needing a restart; an invalid configuration changes nothing.
func TestReload(t *testing.T) {
	cfg := testConfig(t)
	r := startDaemon(t, cfg)
	next := cfg
	next.LogLevel, next.NodeHeartbeatInterval, next.KafkaAddr = "debug", time.Minute, "127.0.0.1:1"
	applied, restart, err := r.d.Reload(next)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(applied, ",") != "log.level,node.heartbeat_interval" || strings.Join(restart, ",") != "kafka.addr" {
		t.Errorf("applied %v, restart %v", applied, restart)
	}
	if !r.d.Logger().IsDebug() {
		t.Error("log level not applied")
	}
	next.RetryMaxAttempts = 0
	if _, _, err := r.d.Reload(next); !errors.Is(err, daemon.ErrInvalidConfig) {
		t.Errorf("invalid reload: %v", err)
	}
}

// TestDrainTimeout: a handler that outlives shutdown.timeout has its
// context cancelled, and Run reports ErrDrainTimeout (exit 1 in the CLI)
// instead of hanging; the unfinished message stays uncommitted.
func TestDrainTimeout(t *testing.T) {
	cfg := testConfig(t)
	cfg.ShutdownTimeout = time.Second
	started := make(chan struct{}, 1)
	r := startDaemon(t, cfg, daemon.WithSetup(func(ctx context.Context, bus *core.Bus, _ *http.ServeMux) error {
		_, err := bus.Subscribe(ctx, slowTopic, "slow", func(hctx context.Context, m *core.Message) error {
			started <- struct{}{}
			<-hctx.Done()
			return hctx.Err()
		}, core.SubscribeStart(core.StartEarliest))
		return err
	}))
	if _, err := r.d.Bus().Publish(context.Background(), &core.Message{Topic: slowTopic, Value: []byte("stuck")}); err != nil {
		t.Fatal(err)
	}
	<-started
	begin := time.Now()
	err := r.stop(t)
	if !errors.Is(err, daemon.ErrDrainTimeout) {
		t.Fatalf("Run: %v, want ErrDrainTimeout", err)
	}
	if took := time.Since(begin); took > 10*time.Second {
		t.Errorf("stop took %v with a 1s shutdown.timeout", took)
	}
	bus, err := core.New(core.WithDataDir(cfg.DataDir))
	if err != nil {
		t.Fatal(err)
	}
	defer bus.Close(context.Background())
	if off, ok, _ := bus.CommittedOffset("slow", slowTopic, 0); ok && off != 0 {
		t.Errorf("unfinished message committed: %d", off)
	}
}

// TestInsecureBindAdvertisesReachable: with security.insecure a wildcard
// bind starts, and clients are told 127.0.0.1 rather than 0.0.0.0.
func TestInsecureBindAdvertisesReachable(t *testing.T) {
	cfg := testConfig(t)
	cfg.KafkaAddr, cfg.Insecure = "0.0.0.0:0", true
	r := startDaemon(t, cfg)
	cl := kafkaClient(t, r.d.Addrs().Kafka.String())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	brokers, err := kadmBrokers(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(brokers, "127.0.0.1:") {
		t.Errorf("advertised %s, want 127.0.0.1:port", brokers)
	}
}

// TestDaemonHeartbeat: with node.heartbeat_interval the daemon publishes
// heartbeats a Kafka client fetches, valid by the model.
func TestDaemonHeartbeat(t *testing.T) {
	cfg := testConfig(t)
	cfg.NodeHeartbeatInterval = time.Second
	r := startDaemon(t, cfg)
	recs := consumeAll(t, r.d.Addrs().Kafka.String(), node.HeartbeatTopic, 1)
	h, err := node.ParseHeartbeat(recs[0].Value)
	if err != nil {
		t.Fatalf("%v: %s", err, recs[0].Value)
	}
	start := introspections(t, r.d.Bus())[0]
	if h.NodeID != start.NodeID || h.NodeType != node.KindRuntimeHost || h.UptimeSeconds < 0.9 ||
		h.MemoryUsageMB == nil || *h.MemoryUsageMB <= 0 || h.CPUUsagePercent == nil {
		t.Errorf("heartbeat %+v", h)
	}
}

// TestLameDuck: during shutdown.lame_duck /readyz answers 503 while the
// Kafka listener still accepts; then it closes and Run returns nil.
func TestLameDuck(t *testing.T) {
	cfg := testConfig(t)
	cfg.LameDuck = 2 * time.Second
	r := startDaemon(t, cfg)
	a := r.d.Addrs()
	r.cancel()
	eventually(t, "/readyz 503", func() bool { code, _ := get(t, "http://"+a.Admin.String()+"/readyz"); return code == 503 })
	conn, err := net.DialTimeout("tcp", a.Kafka.String(), time.Second)
	if err != nil {
		t.Fatalf("Kafka listener closed during the lame-duck period: %v", err)
	}
	conn.Close()
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
}
