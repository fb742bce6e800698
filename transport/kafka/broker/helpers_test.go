package broker

import (
	"context"
	"net"
	"os"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/transport/auth"
)

// testBroker is a bus on a bbolt file in a temp dir with a broker on a
// loopback port.
type testBroker struct {
	bus  *core.Bus
	srv  *Server
	addr string
	dir  string
}

func newTestBus(t testing.TB, dir string, opts ...core.Option) *core.Bus {
	t.Helper()
	bus, err := core.New(append([]core.Option{core.WithDataDir(dir), core.WithLogger(hclog.NewNullLogger())}, opts...)...)
	if err != nil {
		t.Fatalf("core.New: %v", err)
	}
	return bus
}

// startBroker starts a broker on a fresh bus; both close at cleanup.
func startBroker(t testing.TB, opts ...Option) *testBroker {
	t.Helper()
	dir := t.TempDir()
	return startBrokerOn(t, newTestBus(t, dir), dir, opts...)
}

func startBrokerOn(t testing.TB, bus *core.Bus, dir string, opts ...Option) *testBroker {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(bus, opts...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	tb := &testBroker{bus: bus, srv: srv, addr: ln.Addr().String(), dir: dir}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Close(ctx); err != nil {
			t.Errorf("broker Close: %v", err)
		}
		if err := <-served; err != nil {
			t.Errorf("Serve: %v", err)
		}
		if err := bus.Close(ctx); err != nil {
			t.Errorf("bus Close: %v", err)
		}
	})
	return tb
}

// client returns a kgo client for the broker, closed at cleanup.
func (tb *testBroker) client(t testing.TB, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(tb.addr)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func topicCfg(parts int32) core.TopicConfig { return core.TopicConfig{Partitions: parts} }

// makeFuzzDir is a data directory that outlives a single fuzz input.
func makeFuzzDir() (string, error) { return os.MkdirTemp("", "onexbus-broker-fuzz-") }

// newUsersAuth is a store authenticator (PLAIN allowed) over users and
// their passwords.
func newUsersAuth(users map[string]string) (Authenticator, error) {
	store := auth.NewStore()
	for u, p := range users {
		if err := store.AddUser(u, p); err != nil {
			return nil, err
		}
	}
	return NewStoreAuthenticator(store, true)
}

// testAuthenticator is newUsersAuth for a test.
func testAuthenticator(t testing.TB, users map[string]string) Authenticator {
	t.Helper()
	a, err := newUsersAuth(users)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
