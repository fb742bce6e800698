package broker

import (
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Authenticator checks SASL credentials. The broker asks it for the
// mechanisms it offers and starts one Exchange per authentication attempt.
// Implementations must be safe for concurrent use; NewStoreAuthenticator
// returns one.
type Authenticator interface {
	// Mechanisms returns the SASL mechanism names offered ("PLAIN",
	// "SCRAM-SHA-256", "SCRAM-SHA-512"), in the order SaslHandshake lists
	// them.
	Mechanisms() []string
	// Start begins one exchange with mechanism, or returns
	// ErrUnsupportedMechanism for a mechanism it does not offer.
	Start(mechanism string) (Exchange, error)
}

// Exchange is one client's authentication exchange. It is used by one
// goroutine at a time and dropped after it finished or failed.
type Exchange interface {
	// Step takes the client's next message and returns the server's reply.
	// done with a nil error means the client authenticated as
	// Principal(); an error (ErrAuthFailed, ErrBadSASLMessage, wrapped)
	// ends the exchange and never contains a secret. The broker keeps
	// neither slice after Step returns.
	Step(client []byte) (server []byte, done bool, err error)
	// Principal is the authenticated user once Step reported done.
	Principal() string
}

// saslState is a connection's SASL progress (reader-owned).
type saslState struct {
	ex        Exchange
	raw       bool   // SaslHandshake v0: tokens follow as bare frames
	mechanism string // of this exchange
	reauth    bool   // a re-authentication (KIP-368) of an authenticated connection
}

// saslAllowed are the requests a connection may send before it has
// authenticated.
func saslAllowed(key int16) bool { return key == 17 || key == 18 || key == 36 }

// handleSaslHandshake picks the mechanism of the exchange that follows.
func handleSaslHandshake(c *conn, _ *connInfo, kreq kmsg.Request, reply func(kmsg.Response)) {
	req := kreq.(*kmsg.SASLHandshakeRequest)
	resp := req.ResponseKind().(*kmsg.SASLHandshakeResponse)
	a := c.s.cfg.sasl
	if a == nil {
		resp.ErrorCode = kerr.IllegalSaslState.Code
		reply(resp)
		c.closeAfter(errors.New("SaslHandshake on a server without SASL"))
		return
	}
	resp.SupportedMechanisms = a.Mechanisms()
	reauth := c.authed && c.s.cfg.sessionLifetime > 0
	switch {
	case c.sasl != nil || (c.authed && !reauth):
		resp.ErrorCode = kerr.IllegalSaslState.Code
		reply(resp)
		c.closeAfter(errors.New("second SaslHandshake"))
		return
	case reauth && req.Version == 0:
		// KIP-368: re-authentication is SaslHandshake v1 and
		// SaslAuthenticate; bare v0 tokens cannot be told from requests.
		resp.ErrorCode = kerr.IllegalSaslState.Code
		reply(resp)
		c.closeAfter(errors.New("re-authentication with SaslHandshake v0"))
		return
	case reauth && req.Mechanism != c.mechanism:
		resp.ErrorCode = kerr.IllegalSaslState.Code
		reply(resp)
		c.closeAfter(fmt.Errorf("re-authentication with %q after %q", req.Mechanism, c.mechanism))
		return
	}
	ex, err := a.Start(req.Mechanism)
	if err != nil {
		resp.ErrorCode = kerr.UnsupportedSaslMechanism.Code
		reply(resp)
		c.closeAfter(fmt.Errorf("SASL mechanism %q: %w", req.Mechanism, err))
		return
	}
	c.sasl = &saslState{ex: ex, raw: req.Version == 0, mechanism: req.Mechanism, reauth: reauth}
	reply(resp)
}

// handleSaslAuthenticate runs one step of the exchange.
func handleSaslAuthenticate(c *conn, _ *connInfo, kreq kmsg.Request, reply func(kmsg.Response)) {
	req := kreq.(*kmsg.SASLAuthenticateRequest)
	resp := req.ResponseKind().(*kmsg.SASLAuthenticateResponse)
	if c.sasl == nil || c.sasl.raw {
		resp.ErrorCode = kerr.IllegalSaslState.Code
		msg := "SaslAuthenticate without a SaslHandshake v1"
		resp.ErrorMessage = &msg
		reply(resp)
		c.closeAfter(errors.New(msg))
		return
	}
	out, done, err := c.saslStep(req.SASLAuthBytes)
	if err != nil {
		resp.ErrorCode = kerr.SaslAuthenticationFailed.Code
		msg := "authentication failed"
		if errors.Is(err, ErrBadSASLMessage) {
			msg = "malformed SASL message"
		}
		resp.ErrorMessage = &msg
		reply(resp)
		c.closeAfter(fmt.Errorf("SASL: %w", err))
		return
	}
	resp.SASLAuthBytes = out
	if out == nil {
		resp.SASLAuthBytes = []byte{}
	}
	if done && c.s.cfg.sessionLifetime > 0 {
		resp.SessionLifetimeMillis = c.s.cfg.sessionLifetime.Milliseconds()
	}
	reply(resp)
}

// saslStep feeds the exchange and, when it is done, marks the connection
// authenticated and starts its session. A re-authentication must prove
// the same principal (Kafka refuses a change of principal on a
// connection).
func (c *conn) saslStep(in []byte) ([]byte, bool, error) {
	st := c.sasl
	out, done, err := st.ex.Step(in)
	if err != nil {
		c.sasl = nil
		return nil, false, err
	}
	if !done {
		return out, false, nil
	}
	c.sasl = nil
	p := st.ex.Principal()
	if st.reauth && p != c.principal {
		return nil, false, fmt.Errorf("%w: re-authentication as %q on a connection of %q", ErrAuthFailed, p, c.principal)
	}
	c.principal, c.mechanism, c.authed = p, st.mechanism, true
	if c.s.cfg.sessionLifetime > 0 {
		c.sessionEnd = c.s.cfg.now().Add(c.s.cfg.sessionLifetime)
	}
	if st.reauth {
		c.s.log.Debug("kafka: re-authenticated", "remote", c.remote, "principal", p)
	} else {
		c.s.log.Debug("kafka: authenticated", "remote", c.remote, "principal", p)
	}
	return out, true, nil
}
