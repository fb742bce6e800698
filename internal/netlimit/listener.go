package netlimit

import (
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
)

// logEvery is the least time between two refusal log lines of one
// listener.
const logEvery = time.Second

// Listen returns ln with connection caps: at most maxTotal connections
// open at once and at most maxPerAddr from one client IP (a cap <= 0 is
// no cap). Accept closes a connection over a cap itself and goes on to
// the next one, so callers see only connections within the caps; a
// connection's slot is given back when it is closed (once, however many
// times Close is called). Refusals are logged at warn level on log at
// most once a second, naming the last refused address and how many were
// refused since the previous line; a nil log discards. Closing the
// returned listener closes ln.
func Listen(ln net.Listener, maxTotal, maxPerAddr int, log hclog.Logger) net.Listener {
	if log == nil {
		log = hclog.NewNullLogger()
	}
	return &listener{Listener: ln, maxTotal: maxTotal, maxPerAddr: maxPerAddr, log: log, now: time.Now,
		perAddr: map[string]int{}}
}

type listener struct {
	net.Listener
	maxTotal, maxPerAddr int
	log                  hclog.Logger
	now                  func() time.Time

	mu      sync.Mutex     // protects total, perAddr, refused, lastLog
	total   int            // connections open
	perAddr map[string]int // client IP -> connections open (entries > 0 only)
	refused int            // refusals not yet logged
	lastLog time.Time
}

// Accept returns the next connection within the caps.
func (l *listener) Accept() (net.Conn, error) {
	for {
		nc, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		host := hostOf(nc.RemoteAddr())
		if why := l.admit(host); why != "" {
			// Logged before the close, so whoever sees the close can
			// find the line.
			l.noteRefused(nc.RemoteAddr(), why)
			nc.Close()
			continue
		}
		return &conn{Conn: nc, l: l, host: host}, nil
	}
}

// admit takes a slot for a connection from host, or says which cap
// refuses it.
func (l *listener) admit(host string) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch {
	case l.maxTotal > 0 && l.total >= l.maxTotal:
		return fmt.Sprintf("over %d connections", l.maxTotal)
	case l.maxPerAddr > 0 && l.perAddr[host] >= l.maxPerAddr:
		return fmt.Sprintf("over %d connections from %s", l.maxPerAddr, host)
	}
	l.total++
	l.perAddr[host]++
	return ""
}

func (l *listener) release(host string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total--
	if n := l.perAddr[host] - 1; n > 0 {
		l.perAddr[host] = n
	} else {
		delete(l.perAddr, host)
	}
}

// noteRefused logs a refusal unless one was logged less than a second
// ago; the ones skipped are counted into the next line.
func (l *listener) noteRefused(addr net.Addr, why string) {
	l.mu.Lock()
	l.refused++
	now := l.now()
	if !l.lastLog.IsZero() && now.Sub(l.lastLog) < logEvery {
		l.mu.Unlock()
		return
	}
	n := l.refused
	l.refused, l.lastLog = 0, now
	l.mu.Unlock()
	l.log.Warn(fmt.Sprintf("netlimit: refused connection from %s on %s: %s", addr, l.Addr(), why), "refused_since_last_line", n)
}

// open returns the connections held in total and from host (tests).
func (l *listener) open(host string) (int, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total, l.perAddr[host]
}

// hostOf is the IP of a TCP address, or the whole address for others.
func hostOf(a net.Addr) string {
	if ta, ok := a.(*net.TCPAddr); ok {
		return ta.IP.String()
	}
	s := a.String()
	if h, _, err := net.SplitHostPort(s); err == nil {
		return h
	}
	return s
}

// conn gives its slot back on the first Close.
type conn struct {
	net.Conn
	l    *listener
	host string
	once sync.Once
}

// Close closes the connection and frees its slot.
func (c *conn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { c.l.release(c.host) })
	return err
}

// NetConn returns the wrapped connection (for callers that need the
// *net.TCPConn).
func (c *conn) NetConn() net.Conn { return c.Conn }
