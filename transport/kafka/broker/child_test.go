package broker

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/onexbus/onexbus/core"
)

// Environment of a child broker: the test binary re-executed with
// BROKER_CHILD_DIR set serves a broker on BROKER_CHILD_ADDR over the bus
// in that directory until it is killed or gets SIGTERM. The kill -9 loop,
// the kgo suite, kcat and kafkajs tests run their broker this way.
const (
	envChildDir  = "BROKER_CHILD_DIR"
	envChildAddr = "BROKER_CHILD_ADDR"
	envChildSASL = "BROKER_CHILD_SASL" // user:password to require SASL
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(envChildDir); dir != "" {
		os.Exit(runChild(dir, os.Getenv(envChildAddr)))
	}
	os.Exit(m.Run())
}

// childMaxMessageBytes lets topics set max.message.bytes up to 64 MiB, as
// the kgo suite does (10 MiB).
const childMaxMessageBytes = 64 << 20

func runChild(dir, addr string) int {
	log := hclog.New(&hclog.LoggerOptions{Name: "broker-child", Level: hclog.Info, Output: os.Stderr})
	bus, err := core.New(core.WithDataDir(dir), core.WithLogger(hclog.New(&hclog.LoggerOptions{Name: "broker-child.bus", Level: hclog.Error, Output: os.Stderr})), core.WithMaxMessageBytes(childMaxMessageBytes))
	if err != nil {
		fmt.Fprintln(os.Stderr, "child: bus:", err)
		return 2
	}
	opts := []Option{WithLogger(log)}
	if up := os.Getenv(envChildSASL); up != "" {
		user, pass, _ := cutColon(up)
		a, err := newUsersAuth(map[string]string{user: pass})
		if err != nil {
			fmt.Fprintln(os.Stderr, "child: users:", err)
			return 2
		}
		opts = append(opts, WithSASL(a))
	}
	srv, err := New(bus, opts...)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child: broker:", err)
		return 2
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child: listen:", err)
		return 2
	}
	fmt.Printf("LISTENING %s\n", ln.Addr())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case <-sig:
	case err := <-served:
		fmt.Fprintln(os.Stderr, "child: serve:", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Close(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "child: close broker:", err)
	}
	if err := bus.Close(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "child: close bus:", err)
		return 1
	}
	return 0
}

func cutColon(s string) (string, string, bool) {
	for i := range len(s) {
		if s[i] == ':' {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}
