package outage_test

import (
	"net"
	"sync"
	"time"
)

// faultListener is kfake's listener (kfake.ListenFn), so the address
// kfake advertises is the one whose connections it controls: cut closes
// every connection and refuses new ones, reset does the same with TCP
// RSTs (SO_LINGER 0), delay slows every read, restore opens it again.
type faultListener struct {
	net.Listener
	mu    sync.Mutex // protects the fields below
	conns map[*faultConn]struct{}
	down  bool
	rst   bool
	delay time.Duration
}

func (l *faultListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		l.mu.Lock()
		down, rst := l.down, l.rst
		if !down {
			fc := &faultConn{Conn: c, l: l}
			l.conns[fc] = struct{}{}
			l.mu.Unlock()
			return fc, nil
		}
		l.mu.Unlock()
		closeConn(c, rst)
	}
}

func closeConn(c net.Conn, rst bool) {
	if tc, ok := c.(*net.TCPConn); ok && rst {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}

// cut takes the upstream down; rst makes every close a reset.
func (l *faultListener) cut(rst bool) {
	l.mu.Lock()
	l.down, l.rst = true, rst
	conns := l.conns
	l.conns = map[*faultConn]struct{}{}
	l.mu.Unlock()
	for c := range conns {
		closeConn(c.Conn, rst)
	}
}

func (l *faultListener) setDelay(d time.Duration) {
	l.mu.Lock()
	l.delay = d
	l.mu.Unlock()
}

func (l *faultListener) restore() {
	l.mu.Lock()
	l.down, l.rst = false, false
	l.mu.Unlock()
}

type faultConn struct {
	net.Conn
	l *faultListener
}

func (c *faultConn) Read(b []byte) (int, error) {
	c.l.mu.Lock()
	d := c.l.delay
	c.l.mu.Unlock()
	if d > 0 {
		time.Sleep(d)
	}
	return c.Conn.Read(b)
}

func (c *faultConn) Close() error {
	c.l.mu.Lock()
	delete(c.l.conns, c)
	c.l.mu.Unlock()
	return c.Conn.Close()
}
