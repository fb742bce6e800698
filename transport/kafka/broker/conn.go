package broker

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/onexbus/onexbus/internal/kafkawire"
)

// connInfo is what a handler knows of the connection a request came on.
// Each request gets its own copy, so a handler (or the group coordinator)
// may keep it as long as it likes.
type connInfo struct {
	// ClientID is the client id of the request's header ("" for null).
	ClientID string
	// Remote is the client's address.
	Remote string
	// Principal is the authenticated SASL user or the verified client
	// certificate's name, "" without either.
	Principal string
}

// future is one request's place in a connection's response order. The
// writer sends responses strictly in request order: it waits for each
// future in turn. reply completes it exactly once, from any goroutine.
type future struct {
	corr    int32
	bytes   int64 // budget held until the response is written
	done    chan struct{}
	replied atomic.Bool
	resp    kmsg.Response // nil: nothing to send (acks=0)
	raw     []byte        // a bare SASL token frame (after SaslHandshake v0), when resp is nil
	// batches is the fetchPool buffer resp's record batches are in (set
	// before reply by the fetch): the writer gives it back once resp is
	// encoded.
	batches *[]byte
	// park is a long-poll fetch that the writer waits for and answers
	// itself (fetch.wait) once the responses before it are written. It
	// is set by parkFetch, on the reader, before done closes; reply then
	// completes the future without closing done again.
	park *fetch
}

// parkFetch hands a fetch that must wait to the connection's writer.
// Only the reader calls it, for the request it is executing.
func (f *future) parkFetch(p *fetch) {
	if f.replied.Load() {
		return
	}
	f.park = p
	close(f.done)
}

func (f *future) replyRaw(b []byte) {
	if !f.replied.CompareAndSwap(false, true) {
		return
	}
	f.raw = b
	if f.raw == nil {
		f.raw = []byte{}
	}
	close(f.done)
}

func (f *future) reply(r kmsg.Response) {
	if !f.replied.CompareAndSwap(false, true) {
		return
	}
	f.resp = r
	if f.park == nil {
		close(f.done)
	}
	// A parked fetch replies on the writer, which has passed done.
}

// conn serves one client connection with three parts:
//   - the reader reads a frame, parses it and executes it at once (it is
//     the ordered executor): requests are applied in arrival order;
//   - whatever waits (the fsync of a produce, a parked JoinGroup)
//     completes its future later from another goroutine;
//   - the writer sends the futures' responses in request order; a
//     long-poll fetch that must wait is parked on its future
//     (parkFetch) and the writer itself waits for it, reads and answers
//     when its turn comes.
//
// pending bounds the futures in flight (the window); when it is full the
// reader stops reading and TCP pushes back on the client.
type conn struct {
	s       *Server
	nc      net.Conn
	remote  string
	pending chan *future
	done    chan struct{} // closed by close: stop everything
	ctx     context.Context
	cancel  context.CancelFunc

	closeOnce sync.Once
	reason    atomic.Pointer[string] // why the connection closed, for the log line

	lastClient atomic.Pointer[string] // last client id seen, for log lines
	started    time.Time              // accept time: the auth deadline counts from it

	// Reader-owned state (the executor is the reader): no lock.
	principal  string    // authenticated SASL user or client certificate name
	authed     bool      // SASL done (or not required)
	mechanism  string    // of the first authentication: re-authentication must use it
	sessionEnd time.Time // end of the SASL session (WithSASLSessionLifetime); zero: none
	sasl       *saslState
	stop       error   // set by closeAfter: the reader stops after this request
	current    *future // the future of the request being executed
	scratch    []byte  // decompression buffer of produce validation
}

// closeAfter ends the connection once the current request's response is
// written (a failed authentication, as Kafka does). Only handlers, on the
// reader goroutine, call it.
func (c *conn) closeAfter(reason error) {
	if c.stop == nil {
		c.stop = reason
	}
}

func newConn(s *Server, nc net.Conn) *conn {
	ctx, cancel := context.WithCancel(s.ctx)
	return &conn{
		s:       s,
		nc:      nc,
		remote:  nc.RemoteAddr().String(),
		pending: make(chan *future, s.cfg.window),
		done:    make(chan struct{}),
		ctx:     ctx,
		cancel:  cancel,
		authed:  s.cfg.sasl == nil,
		started: time.Now(),
	}
}

// close ends the connection once; reason (nil for a normal end) goes into
// the single log line.
func (c *conn) close(reason error) {
	c.closeOnce.Do(func() {
		if reason != nil {
			msg := reason.Error()
			c.reason.Store(&msg)
			c.s.log.Info(fmt.Sprintf("kafka: closing %s (client %q): %s", c.remote, c.clientName(), msg))
		}
		c.cancel()
		close(c.done)
		c.nc.Close()
	})
}

func (c *conn) noteClient(id string) {
	if p := c.lastClient.Load(); p == nil || *p != id {
		c.lastClient.Store(&id)
	}
}

func (c *conn) clientName() string {
	if p := c.lastClient.Load(); p != nil {
		return *p
	}
	return ""
}

// serve runs the reader on the calling goroutine and the writer on
// another; it returns when both are done.
func (c *conn) serve() {
	var wg sync.WaitGroup
	wg.Go(c.writeLoop)
	c.readLoop()
	wg.Wait()
	c.close(c.stop)
}

func (c *conn) readLoop() {
	defer close(c.pending)
	cfg := &c.s.cfg
	if !c.handshake() {
		return
	}
	br := bufio.NewReaderSize(c.nc, 64<<10)
	for {
		select {
		case <-c.s.draining:
			return
		default:
		}
		if err := c.nc.SetReadDeadline(c.readDeadline(time.Now())); err != nil {
			c.close(fmt.Errorf("set read deadline: %w", err))
			return
		}
		n, err := kafkawire.ReadSize(br, cfg.maxFrameBytes)
		if err != nil {
			phase := "idle"
			if !c.authed {
				phase = "authentication"
			}
			c.readFailed(err, phase)
			return
		}
		if !c.s.budget.acquire(c.done, int64(n)) {
			return
		}
		held := int64(n)
		if err := c.nc.SetReadDeadline(time.Now().Add(cfg.frameTimeout)); err != nil {
			c.s.budget.release(held)
			c.close(fmt.Errorf("set read deadline: %w", err))
			return
		}
		// A produce frame is dead once its handler returns (AppendBatch
		// copies the batch; ReadFrom copies every string), so its buffer
		// goes back to producePool then. Other requests may keep theirs
		// (a parked fetch, a JoinGroup waiting for its group).
		var pooled *[]byte
		var frame []byte
		if k, err := br.Peek(2); n >= 2 && err == nil && int16(binary.BigEndian.Uint16(k)) == kmsg.Produce.Int16() {
			pooled = producePool.get(n)
			frame = (*pooled)[:n]
		} else {
			frame = make([]byte, n)
		}
		if _, err := io.ReadFull(br, frame); err != nil {
			c.s.budget.release(held)
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			c.readFailed(fmt.Errorf("read %d-byte frame: %w", n, err), "frame")
			return
		}
		if c.sasl != nil && c.sasl.raw {
			if !c.rawSASL(frame, held) {
				return
			}
			continue
		}
		req, err := kafkawire.ParseRequest(frame, c.s.versions)
		if req.ClientID != nil {
			c.noteClient(*req.ClientID)
		}
		if err != nil {
			c.s.budget.release(held)
			c.close(err)
			return
		}
		if !c.authed && !saslAllowed(req.Key) {
			c.s.budget.release(held)
			c.close(fmt.Errorf("%s before SASL authentication", kmsg.NameForKey(req.Key)))
			return
		}
		if !saslAllowed(req.Key) && c.sessionExpired() {
			c.s.budget.release(held)
			c.close(fmt.Errorf("%s after the SASL session of %q ended without re-authentication", kmsg.NameForKey(req.Key), c.principal))
			return
		}
		f := &future{corr: req.CorrelationID, bytes: held, done: make(chan struct{})}
		// The request is executed before its future goes to the writer:
		// most are answered (or parked) by then, so the writer wakes once
		// for a response that is ready instead of once for the future and
		// again for its answer. Order is kept: only this loop queues, in
		// request order; the window still bounds the futures in flight.
		muted, ok := c.execute(req, f)
		if !ok {
			c.s.budget.release(held)
			return
		}
		if pooled != nil && req.Key == kmsg.Produce.Int16() {
			producePool.put(pooled)
		}
		select {
		case c.pending <- f:
		case <-c.done:
			c.s.budget.release(held)
			return
		}
		if c.stop != nil {
			return
		}
		if muted > 0 && !c.mute(muted) {
			return
		}
		select {
		case <-c.done:
			return
		case <-c.s.draining:
			// Close: no new requests; the writer drains what is in flight.
			return
		default:
		}
	}
}

// rawSASL answers one bare SASL token (the exchange after SaslHandshake
// v0) with a bare frame; a failed step closes the connection.
func (c *conn) rawSASL(token []byte, held int64) bool {
	out, _, err := c.saslStep(token)
	if err != nil {
		c.s.budget.release(held)
		c.close(fmt.Errorf("SASL: %w", err))
		return false
	}
	f := &future{bytes: held, done: make(chan struct{})}
	f.replyRaw(out)
	select {
	case c.pending <- f:
		return true
	case <-c.done:
		c.s.budget.release(held)
		return false
	}
}

// readFailed closes the connection after a read error: quietly for a
// clean end of stream or a close we started, with the reason otherwise.
func (c *conn) readFailed(err error, phase string) {
	select {
	case <-c.done:
		return
	case <-c.s.draining:
		return
	default:
	}
	var ne net.Error
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed), errors.Is(err, syscall.ECONNRESET):
		c.close(nil) // the client went away: nothing to report
	case errors.As(err, &ne) && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded):
		c.close(fmt.Errorf("%s timeout: %w", phase, err))
	default:
		c.close(err)
	}
}

// execute runs the handler of req under recover: a panic closes this
// connection only, with one log line naming the client. It reports how
// long the connection stays muted for a throttle and whether it goes on.
func (c *conn) execute(req kafkawire.Request, f *future) (muted time.Duration, ok bool) {
	defer func() {
		if p := recover(); p != nil {
			c.s.log.Error("kafka: handler panic", "key", req.Key, "version", req.Version,
				"client", req.Client(), "remote", c.remote, "panic", p, "stack", string(debug.Stack()))
			c.close(fmt.Errorf("panic in %s v%d handler: %v", kmsg.NameForKey(req.Key), req.Version, p))
			muted, ok = 0, false
		}
	}()
	cc := &connInfo{ClientID: req.Client(), Remote: c.remote, Principal: c.principal}
	c.current = f
	if req.Downgrade {
		f.reply(apiVersionsDowngrade(c.s))
		return 0, true
	}
	reply, muted := c.throttle(req.Key, f.reply)
	h := c.s.handlers[req.Key]
	h(c, cc, req.Msg, c.s.observed(req.Key, reply))
	return muted, true
}

// guard runs fn (a handler's later step, on another goroutine) under
// recover, closing this connection on a panic.
func (c *conn) guard(what string, fn func()) {
	defer func() {
		if p := recover(); p != nil {
			c.s.log.Error("kafka: panic", "in", what, "client", c.clientName(), "remote", c.remote,
				"panic", p, "stack", string(debug.Stack()))
			c.close(fmt.Errorf("panic in %s: %v", what, p))
		}
	}()
	fn()
}

func (c *conn) writeLoop() {
	bw := bufio.NewWriterSize(c.nc, 64<<10)
	var buf []byte
	var wake *fetchWake // made at the first parked fetch
	for {
		var f *future
		var ok bool
		select {
		case f, ok = <-c.pending:
		default:
			if !c.flush(bw) {
				c.drainPending()
				return
			}
			f, ok = <-c.pending
		}
		if !ok {
			c.flush(bw)
			return
		}
		select {
		case <-f.done:
		default:
			if !c.flush(bw) {
				c.s.budget.release(f.bytes)
				c.drainPending()
				return
			}
			select {
			case <-f.done:
			case <-c.done:
				c.s.budget.release(f.bytes)
				c.drainPending()
				return
			}
		}
		if f.park != nil {
			// A parked fetch: what is before it goes out first, then the
			// writer waits for it and answers it.
			if !c.flush(bw) {
				c.s.budget.release(f.bytes)
				c.drainPending()
				return
			}
			if wake == nil {
				wake = newFetchWake()
			}
			answered := false
			c.guard("fetch wait", func() { answered = f.park.wait(wake) })
			if !answered || !f.replied.Load() {
				c.s.budget.release(f.bytes)
				c.drainPending()
				return
			}
		}
		c.s.budget.release(f.bytes)
		switch {
		case f.resp != nil:
			buf = kafkawire.AppendResponse(buf[:0], f.corr, f.resp)
			if f.batches != nil {
				fetchPool.put(f.batches)
				f.batches, f.resp = nil, nil
			}
		case f.raw != nil:
			buf = binary.BigEndian.AppendUint32(buf[:0], uint32(len(f.raw)))
			buf = append(buf, f.raw...)
		default:
			continue
		}
		if err := c.nc.SetWriteDeadline(time.Now().Add(c.s.cfg.writeTimeout)); err != nil {
			c.close(fmt.Errorf("set write deadline: %w", err))
			c.drainPending()
			return
		}
		if _, err := bw.Write(buf); err != nil {
			c.writeFailed(err)
			c.drainPending()
			return
		}
		if cap(buf) > 1<<20 {
			buf = nil // do not keep a large fetch's buffer for the connection's life
		}
	}
}

func (c *conn) flush(bw *bufio.Writer) bool {
	if bw.Buffered() == 0 {
		return true
	}
	if err := c.nc.SetWriteDeadline(time.Now().Add(c.s.cfg.writeTimeout)); err != nil {
		c.close(fmt.Errorf("set write deadline: %w", err))
		return false
	}
	if err := bw.Flush(); err != nil {
		c.writeFailed(err)
		return false
	}
	return true
}

func (c *conn) writeFailed(err error) {
	select {
	case <-c.done:
		return
	default:
	}
	if errors.Is(err, net.ErrClosed) {
		c.close(nil)
		return
	}
	c.close(fmt.Errorf("write: %w", err))
}

// drainPending gives back the budget of futures the writer will not send,
// once the reader has stopped (it closes pending on its way out).
func (c *conn) drainPending() {
	c.close(nil)
	for f := range c.pending {
		c.s.budget.release(f.bytes)
	}
}
