package kafka

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/transport/memory"
)

// gate sits in kfake's listener: cut closes every connection and refuses
// new ones (accepts and closes them at once) until restore, which is how
// an unreachable Kafka looks to a client.
type gate struct {
	mu    sync.Mutex // protects down and conns
	down  bool
	conns []net.Conn
}

type gateListener struct {
	net.Listener
	g *gate
}

func (g *gate) listen(network, addr string) (net.Listener, error) {
	l, err := net.Listen(network, addr)
	if err != nil {
		return nil, err
	}
	return &gateListener{l, g}, nil
}

func (l *gateListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		l.g.mu.Lock()
		if l.g.down {
			l.g.mu.Unlock()
			c.Close()
			continue
		}
		l.g.conns = append(l.g.conns, c)
		l.g.mu.Unlock()
		return c, nil
	}
}

func (g *gate) cut() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.down = true
	for _, c := range g.conns {
		c.Close()
	}
	g.conns = nil
}

func (g *gate) restore() {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.down = false
}

// newCluster starts a one-broker kfake on 127.0.0.1 behind a gate.
func newCluster(t testing.TB, opts ...kfake.Opt) (*kfake.Cluster, *gate) {
	t.Helper()
	g := &gate{}
	opts = append([]kfake.Opt{kfake.NumBrokers(1), kfake.ListenFn(g.listen)}, opts...)
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c, g
}

// testConfig is Config for c with short timeouts.
func testConfig(t testing.TB, c *kfake.Cluster) Config {
	t.Helper()
	return with(t, Defaults(),
		"KAFKA_BOOTSTRAP_SERVERS", strings.Join(c.ListenAddrs(), ","),
		"KAFKA_TIMEOUT_SECONDS", "1",
		"KAFKA_RETRY_BACKOFF_BASE", "0.02",
		"KAFKA_CIRCUIT_BREAKER_THRESHOLD", "2",
		"KAFKA_CIRCUIT_BREAKER_RESET_TIMEOUT", "0.2",
		"KAFKA_CONSUMER_SLEEP_INTERVAL", "0.01",
		"KAFKA_RECONNECT_BACKOFF_MAX_MS", "100",
		"KAFKA_SESSION_TIMEOUT_MS", "6000",
		"KAFKA_HEARTBEAT_INTERVAL_MS", "500",
		"KAFKA_MAX_POLL_INTERVAL_MS", "10000",
		"KAFKA_LINGER_MS", "1")
}

// with returns cfg with the variables of kv (name, value, name, value ...)
// set, as the environment would set them.
func with(t testing.TB, cfg Config, kv ...string) Config {
	t.Helper()
	set := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		set[kv[i]] = kv[i+1]
	}
	cfg, err := cfg.With(set)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// newBus returns a memory bus closed when the test ends.
func newBus(t testing.TB, opts ...core.Option) *core.Bus {
	t.Helper()
	opts = append([]core.Option{core.WithEnforcement(core.EnforceOff)}, opts...)
	b, err := memory.New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close(context.Background()) })
	return b
}

func startForwarder(t testing.TB, b *core.Bus, cfg Config, opts ...ForwarderOption) *Forwarder {
	t.Helper()
	f, err := NewForwarder(b, cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := f.Close(ctx); err != nil {
			t.Error(err)
		}
	})
	return f
}

func startIngest(t testing.TB, b *core.Bus, cfg Config, topics []string, opts ...IngestOption) *Ingest {
	t.Helper()
	in, err := NewIngest(b, cfg, topics, opts...)
	if err != nil {
		t.Fatal(err)
	}
	if err := in.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Close(context.Background()) })
	return in
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not true within %v: %s", timeout, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// consumeAll reads every record of topic from c until want records arrived.
func consumeAll(t testing.TB, c *kfake.Cluster, topic string, want int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < want {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records of %s", len(out), want, topic)
		}
		out = append(out, fs.Records()...)
	}
	return out
}

// checkPerKeyOrder checks that records hold, for every key, the sequence
// numbers 0..n-1 in order (duplicates of an earlier record allowed) and
// that total distinct records are want.
func checkPerKeyOrder(t testing.TB, recs []*kgo.Record, want int) {
	t.Helper()
	next := map[string]int{}
	seen := 0
	for _, r := range recs {
		var seq int
		if _, err := fmt.Sscanf(string(r.Value), "seq-%d", &seq); err != nil {
			t.Fatalf("value %q", r.Value)
		}
		k := string(r.Key)
		switch {
		case seq == next[k]:
			next[k]++
			seen++
		case seq < next[k]:
			// a duplicate from a retry: at least once allows it
		default:
			t.Fatalf("key %s: got seq %d, want %d (lost or reordered)", k, seq, next[k])
		}
	}
	if seen != want {
		t.Fatalf("%d distinct records, want %d", seen, want)
	}
}
