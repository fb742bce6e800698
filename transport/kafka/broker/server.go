package broker

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/internal/kafkawire"
	"github.com/onexbus/onexbus/internal/netlimit"
)

// Server serves the Kafka wire protocol on a Bus. Build it with New, give
// it listeners with Serve, stop it with Close. Its methods are safe for
// concurrent use.
//
// Lock order: Server.mu, then nothing (handlers never hold it).
type Server struct {
	bus      *core.Bus
	kl       *core.KafkaLog
	cfg      config
	log      hclog.Logger
	versions *kafkawire.Versions
	handlers map[int16]handler
	groups   groupService // nil when no coordinator is built in
	txns     *txnCoordinator
	budget   *budget
	fetches  *fetchWaiters
	slots    chan struct{} // one per open connection, up to the cap

	ctx      context.Context // canceled when Close begins
	cancel   context.CancelFunc
	draining chan struct{} // closed when Close begins: readers stop, writers drain

	mu     sync.Mutex // protects lns, conns, closed, addr
	lns    map[net.Listener]struct{}
	conns  map[*conn]struct{}
	closed bool
	addr   net.Addr

	connWG    sync.WaitGroup // one per connection
	acceptWG  sync.WaitGroup // one per Serve
	closeOnce sync.Once
	closeErr  error
	closeDone chan struct{}
}

// handler executes one request on its connection's reader goroutine and
// calls reply exactly once, at once or later from another goroutine. reply
// with nil sends nothing (acks=0).
type handler func(c *conn, cc *connInfo, req kmsg.Request, reply func(kmsg.Response))

// groupService is the consumer-group coordinator (groups.go) as the
// dispatch sees it: keys 8, 9, 11-16, 42, 47 and FindCoordinator for
// groups. handle must call reply exactly once, possibly later from another
// goroutine (parked JoinGroup/SyncGroup); close answers parked calls and
// stops its timers.
type groupService interface {
	handle(cc *connInfo, req kmsg.Request, reply func(kmsg.Response))
	close()
}

// newGroupService builds the group coordinator. groups.go sets it from an
// init function, so the dispatch and the coordinator land independently;
// while it is nil the group keys are not advertised.
var newGroupService func(s *Server) groupService

// groupKeys are the requests the group coordinator serves.
var groupKeys = []int16{8, 9, 11, 12, 13, 14, 15, 16, 42, 47}

// New builds a server for bus. Every option problem is reported at once,
// wrapped in ErrInvalidOption. The server does not own the bus: close the
// server first, then the bus.
func New(bus *core.Bus, opts ...Option) (*Server, error) {
	if bus == nil {
		return nil, fmt.Errorf("%w: nil bus", ErrInvalidOption)
	}
	cfg := defaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		bus:       bus,
		kl:        bus.Kafka(),
		cfg:       cfg,
		log:       cfg.logger,
		budget:    newBudget(cfg.maxInFlightBytes),
		ctx:       ctx,
		cancel:    cancel,
		draining:  make(chan struct{}),
		lns:       make(map[net.Listener]struct{}),
		conns:     make(map[*conn]struct{}),
		closeDone: make(chan struct{}),
		slots:     make(chan struct{}, cfg.maxConnections),
	}
	s.fetches = newFetchWaiters()
	versions := kafkawire.DefaultVersions()
	if newGroupService != nil {
		s.groups = newGroupService(s)
	} else {
		versions = versions.Without(groupKeys...)
	}
	s.txns = newTxnCoordinator(s)
	s.handlers = s.buildHandlers()
	// Advertise exactly what is served: one table for ApiVersions and the
	// request check.
	var unserved []int16
	for _, r := range versions.Ranges() {
		if s.handlers[r.Key] == nil {
			unserved = append(unserved, r.Key)
		}
	}
	s.versions = versions.Without(unserved...)
	return s, nil
}

// Serve accepts connections on ln until Close; it blocks and returns nil
// after Close, ErrClosed if Close came first, or ln's accept error. Serve
// may be called for several listeners; the server closes them in Close.
func (s *Server) Serve(ln net.Listener) error {
	if s.cfg.maxPerAddr > 0 {
		ln = netlimit.Listen(ln, 0, s.cfg.maxPerAddr, s.log)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	s.lns[ln] = struct{}{}
	if s.addr == nil {
		s.addr = ln.Addr()
	}
	s.acceptWG.Add(1)
	s.mu.Unlock()
	defer s.acceptWG.Done()
	slots := s.slots
	var delay time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.isClosing() {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				s.log.Warn("kafka: accept", "error", err, "retry_in", delay)
				select {
				case <-time.After(delay):
				case <-s.ctx.Done():
					return nil
				}
				continue
			}
			return fmt.Errorf("broker: accept on %s: %w", ln.Addr(), err)
		}
		delay = 0
		select {
		case slots <- struct{}{}:
		default:
			s.log.Info(fmt.Sprintf("kafka: closing %s: over %d connections", nc.RemoteAddr(), s.cfg.maxConnections))
			nc.Close()
			continue
		}
		if s.cfg.tls != nil {
			nc = tlsServer(nc, s.cfg.tls)
		}
		c := newConn(s, nc)
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			nc.Close()
			<-slots
			return nil
		}
		s.conns[c] = struct{}{}
		s.connWG.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.connWG.Done()
			defer func() { <-slots }()
			c.serve()
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
		}()
	}
}

func (s *Server) isClosing() bool {
	select {
	case <-s.draining:
		return true
	default:
		return false
	}
}

// Addr returns the address of the first listener given to Serve, nil
// before that.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// Close stops accepting, stops reading new requests, answers parked ones
// (long-poll fetches with what they have, parked group calls with
// REBALANCE_IN_PROGRESS), lets in-flight produces reach their commit and
// writes their responses, then closes every connection. When ctx ends
// first, connections are closed at once. Close is idempotent; it does not
// close the bus.
func (s *Server) Close(ctx context.Context) error {
	s.closeOnce.Do(func() {
		go s.shutdown(ctx)
	})
	select {
	case <-s.closeDone:
		return s.closeErr
	case <-ctx.Done():
		s.forceClose()
		<-s.closeDone
		return s.closeErr
	}
}

func (s *Server) shutdown(ctx context.Context) {
	defer close(s.closeDone)
	s.mu.Lock()
	s.closed = true
	close(s.draining)
	var errs []error
	for ln := range s.lns {
		if err := ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			errs = append(errs, fmt.Errorf("broker: close listener %s: %w", ln.Addr(), err))
		}
	}
	// Wake readers blocked in a read: they see draining and stop.
	for c := range s.conns {
		c.nc.SetReadDeadline(time.Now())
	}
	s.mu.Unlock()
	s.fetches.closeAll()
	if s.groups != nil {
		s.groups.close()
	}
	s.txns.close()
	done := make(chan struct{})
	go func() {
		s.connWG.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		s.forceClose()
		<-done
	}
	s.acceptWG.Wait()
	s.cancel()
	s.closeErr = errors.Join(errs...)
}

func (s *Server) forceClose() {
	s.cancel()
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.close(nil)
	}
}

// advertised returns the host and port clients should connect to.
func (s *Server) advertised() (string, int32) {
	addr := s.cfg.advertised
	if addr == "" {
		if a := s.Addr(); a != nil {
			addr = a.String()
		}
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "127.0.0.1", 9092
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	p, _ := strconv.Atoi(port)
	return host, int32(p)
}
