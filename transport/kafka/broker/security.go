package broker

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/onexbus/onexbus/transport/auth"
)

// Security options and the connection-level controls they switch on:
// per-address connection caps, request-rate throttling (KIP-219), SASL
// session lifetimes and re-authentication (KIP-368), slow-client
// deadlines and TLS client certificates as principals.

// WithMaxConnectionsPerAddr caps the connections one client IP may hold
// open on each listener (default 0: no cap); one over it is closed at
// accept, with a log line at most once a second (internal/netlimit).
func WithMaxConnectionsPerAddr(n int) Option { return func(c *config) { c.maxPerAddr = n } }

// WithRateLimiter charges every request after authentication (all but
// ApiVersions, SaslHandshake and SaslAuthenticate) to the connection's
// principal on l (RateLimiter.Take). A principal over its rate still has
// its request executed, but the response carries throttle_time_ms and the
// broker reads nothing more from that connection until the throttle has
// passed (KIP-219); kgo waits as well and reports it to OnBrokerThrottle.
// Connections without a principal share the bucket of "".
func WithRateLimiter(l *auth.RateLimiter) Option { return func(c *config) { c.limiter = l } }

// WithSASLSessionLifetime bounds an authenticated SASL session (KIP-368,
// Kafka's connections.max.reauth.ms; default 0: no bound). SaslAuthenticate
// v1+ answers session_lifetime_ms; the client re-authenticates on the
// same connection (SaslHandshake v1 and SaslAuthenticate again, as the
// same principal with the same mechanism) before it ends, and a request
// other than those after the session ended closes the connection.
func WithSASLSessionLifetime(d time.Duration) Option {
	return func(c *config) { c.sessionLifetime = d }
}

// WithAuthTimeout bounds the time from accept to the end of the TLS
// handshake and, with WithSASL, to a completed SASL authentication
// (default 30 seconds); a client slower than that is closed. It is the
// slow-client deadline of the handshakes; WithFrameTimeout is that of a
// request.
func WithAuthTimeout(d time.Duration) Option { return func(c *config) { c.authTimeout = d } }

// WithFrameTimeout bounds the time a request frame may take to arrive
// once its size prefix has (default one minute): a client that sends a
// partial frame and stalls is closed.
func WithFrameTimeout(d time.Duration) Option { return func(c *config) { c.frameTimeout = d } }

// validateSecurity adds the security options' problems to errs.
func (c *config) validateSecurity(errs []error) []error {
	if c.maxPerAddr < 0 {
		errs = append(errs, fmt.Errorf("max connections per address %d below 0", c.maxPerAddr))
	}
	if c.sessionLifetime < 0 {
		errs = append(errs, fmt.Errorf("SASL session lifetime %v below 0", c.sessionLifetime))
	} else if c.sessionLifetime > 0 && c.sessionLifetime < time.Second {
		// kgo re-authenticates a second before the end at the latest:
		// a shorter session could never be renewed in time.
		errs = append(errs, fmt.Errorf("SASL session lifetime %v below one second", c.sessionLifetime))
	}
	if c.sessionLifetime > 0 && c.sasl == nil {
		errs = append(errs, errors.New("a SASL session lifetime needs WithSASL"))
	}
	if c.authTimeout <= 0 {
		errs = append(errs, fmt.Errorf("auth timeout %v not positive", c.authTimeout))
	}
	if c.frameTimeout <= 0 {
		errs = append(errs, fmt.Errorf("frame timeout %v not positive", c.frameTimeout))
	}
	return errs
}

// handshake runs the TLS handshake within the auth deadline and, when
// the client presented a certificate the configuration verified and SASL
// is off, takes the principal from it (auth.PrincipalFromCert). It
// reports whether the connection goes on.
func (c *conn) handshake() bool {
	tc, ok := c.nc.(*tls.Conn)
	if !ok {
		return true
	}
	ctx, cancel := context.WithDeadline(c.ctx, c.started.Add(c.s.cfg.authTimeout))
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		c.readFailed(fmt.Errorf("TLS handshake: %w", err), "TLS handshake")
		return false
	}
	st := tc.ConnectionState()
	if c.s.cfg.sasl != nil || len(st.VerifiedChains) == 0 || len(st.PeerCertificates) == 0 {
		return true
	}
	p, err := auth.PrincipalFromCert(st.PeerCertificates[0])
	if err != nil {
		c.close(fmt.Errorf("client certificate: %w", err))
		return false
	}
	c.principal = p
	c.s.log.Debug("kafka: client certificate", "remote", c.remote, "principal", p)
	return true
}

// readDeadline is when the next read must be done: the idle timeout, or
// sooner while SASL authentication is still to come.
func (c *conn) readDeadline(now time.Time) time.Time {
	d := now.Add(c.s.cfg.idleTimeout)
	if !c.authed {
		if a := c.started.Add(c.s.cfg.authTimeout); a.Before(d) {
			return a
		}
	}
	return d
}

// sessionExpired reports whether the SASL session has ended: only
// re-authentication may follow.
func (c *conn) sessionExpired() bool {
	return !c.sessionEnd.IsZero() && !c.s.cfg.now().Before(c.sessionEnd)
}

// throttle charges a request to the principal's rate and, when it is over,
// returns reply wrapped to carry the throttle time, and the time the
// connection stays muted.
func (c *conn) throttle(key int16, reply func(kmsg.Response)) (func(kmsg.Response), time.Duration) {
	if c.s.cfg.limiter == nil || saslAllowed(key) {
		return reply, 0
	}
	d := c.s.cfg.limiter.Take(c.principal)
	if d <= 0 {
		return reply, 0
	}
	ms := int32(min(d.Milliseconds(), int64(1<<31-1)))
	return func(r kmsg.Response) {
		if tr, ok := r.(kmsg.SetThrottleResponse); ok {
			tr.SetThrottle(ms)
		}
		reply(r)
	}, d
}

// mute waits out a throttle before the next request is read (KIP-219);
// false when the connection or the server closes meanwhile.
func (c *conn) mute(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-c.done:
		return false
	case <-c.s.draining:
		return false
	}
}
