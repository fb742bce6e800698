package netlimit

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/onexbus/onexbus/internal/testutil"
)

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// serve accepts on l and hands each connection to conns, until l closes.
func serve(t *testing.T, l net.Listener) <-chan net.Conn {
	conns := make(chan net.Conn, 16)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns <- c
		}
	}()
	t.Cleanup(func() { l.Close(); <-done })
	return conns
}

func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// refused reports whether the server closed c without a word.
func refused(t *testing.T, c net.Conn) bool {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := c.Read(make([]byte, 1))
	return errors.Is(err, io.EOF) || strings.Contains(fmt.Sprint(err), "reset")
}

func listen(t *testing.T, total, perAddr int, log hclog.Logger) (*listener, <-chan net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := Listen(ln, total, perAddr, log).(*listener)
	return l, serve(t, l)
}

// TestPerAddrLimit: the connection over the per-address cap is closed at
// accept with one log line; closing one frees its slot.
func TestPerAddrLimit(t *testing.T) {
	var logs syncBuf
	l, conns := listen(t, 0, 2, hclog.New(&hclog.LoggerOptions{Output: &logs}))
	addr := l.Addr().String()
	a, b := dial(t, addr), dial(t, addr)
	ca := testutil.Receive(t, conns, 10*time.Second)
	testutil.Receive(t, conns, 10*time.Second)
	third := dial(t, addr)
	if !refused(t, third) {
		t.Fatal("third connection from 127.0.0.1 not refused")
	}
	if !strings.Contains(logs.String(), "over 2 connections from 127.0.0.1") {
		t.Fatalf("no refusal line: %q", logs.String())
	}
	if total, mine := l.open("127.0.0.1"); total != 2 || mine != 2 {
		t.Fatalf("open %d, from 127.0.0.1 %d", total, mine)
	}
	ca.Close()
	ca.Close() // a second Close gives nothing back twice
	testutil.Eventually(t, 10*time.Second, func() bool { _, n := l.open("127.0.0.1"); return n == 1 }, "slot freed")
	dial(t, addr)
	testutil.Receive(t, conns, 10*time.Second)
	_, _ = a, b
}

// TestTotalLimitAndLogRate: over the total cap every connection is
// refused; a burst of refusals makes one log line, not one each.
func TestTotalLimitAndLogRate(t *testing.T) {
	var logs syncBuf
	l, conns := listen(t, 1, 0, hclog.New(&hclog.LoggerOptions{Output: &logs}))
	clk := time.Unix(1000, 0)
	l.mu.Lock()
	l.now = func() time.Time { return clk }
	l.mu.Unlock()
	addr := l.Addr().String()
	dial(t, addr)
	testutil.Receive(t, conns, 10*time.Second)
	for range 5 {
		if !refused(t, dial(t, addr)) {
			t.Fatal("connection over the total cap not refused")
		}
	}
	if n := strings.Count(logs.String(), "netlimit: refused"); n != 1 {
		t.Fatalf("%d refusal lines for 5 refusals in the same second:\n%s", n, logs.String())
	}
}

func TestNoCaps(t *testing.T) {
	l, conns := listen(t, 0, 0, nil)
	for range 5 {
		dial(t, l.Addr().String())
		testutil.Receive(t, conns, 10*time.Second)
	}
}
