package broker

import (
	"crypto/tls"
	"encoding/base64"
	"errors"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/onexbus/onexbus/transport/auth"
)

// withClock sets the clock SASL sessions end by.
func withClock(now func() time.Time) Option { return func(c *config) { c.now = now } }

func (l *logSink) debugLogger() hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Output: l, Level: hclog.Debug})
}

// authenticate runs SASL PLAIN v1 on rc as user and returns the
// SaslAuthenticate response (at version v).
func authenticate(t *testing.T, rc *rawConn, v int16, user, pass string) *kmsg.SASLAuthenticateResponse {
	t.Helper()
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.SetVersion(1)
	hs.Mechanism = MechanismPlain
	if r := rc.do(hs).(*kmsg.SASLHandshakeResponse); r.ErrorCode != 0 {
		t.Fatalf("handshake: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	a := kmsg.NewPtrSASLAuthenticateRequest()
	a.SetVersion(v)
	a.SASLAuthBytes = []byte("\x00" + user + "\x00" + pass)
	return rc.do(a).(*kmsg.SASLAuthenticateResponse)
}

func metadataOK(t *testing.T, rc *rawConn) {
	t.Helper()
	meta := kmsg.NewPtrMetadataRequest()
	meta.SetVersion(4)
	if m := rc.do(meta).(*kmsg.MetadataResponse); len(m.Brokers) != 1 {
		t.Fatal("metadata failed")
	}
}

// TestSASLSessionLifetime: SaslAuthenticate v1+ answers the lifetime (v0
// cannot), a request after the session ended closes the connection, and
// re-authenticating in time on the same connection renews the session.
func TestSASLSessionLifetime(t *testing.T) {
	var logs logSink
	var clock atomic.Int64
	clock.Store(time.Unix(1_000_000, 0).UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()) }
	tb := startBroker(t, WithSASL(testAuthenticator(t, testUsers)), WithSASLSessionLifetime(time.Hour),
		withClock(now), WithLogger(logs.logger()))

	rc := dialRaw(t, tb.addr)
	if r := authenticate(t, rc, 1, "alice", "s3cret-pw"); r.ErrorCode != 0 || r.SessionLifetimeMillis != time.Hour.Milliseconds() {
		t.Fatalf("authenticate v1: code %d lifetime %d ms", r.ErrorCode, r.SessionLifetimeMillis)
	}
	metadataOK(t, rc)
	clock.Add(int64(59 * time.Minute))
	// Re-authentication as the same user renews the session for an hour.
	if r := authenticate(t, rc, 2, "alice", "s3cret-pw"); r.ErrorCode != 0 || r.SessionLifetimeMillis != time.Hour.Milliseconds() {
		t.Fatalf("re-authenticate: code %d lifetime %d", r.ErrorCode, r.SessionLifetimeMillis)
	}
	clock.Add(int64(59 * time.Minute))
	metadataOK(t, rc)
	clock.Add(int64(2 * time.Minute))
	rc.send(kmsg.NewPtrMetadataRequest())
	rc.expectClosed()
	waitLog(t, &logs, `after the SASL session of "alice" ended without re-authentication`)

	t.Run("re-authentication as another user closes", func(t *testing.T) {
		rc := dialRaw(t, tb.addr)
		authenticate(t, rc, 2, "alice", "s3cret-pw")
		if r := authenticate(t, rc, 2, "bob", "other"); r.ErrorCode != kerr.SaslAuthenticationFailed.Code {
			t.Fatalf("re-authentication as bob: %v", kerr.ErrorForCode(r.ErrorCode))
		}
		rc.expectClosed()
	})
	t.Run("without a lifetime a second handshake closes", func(t *testing.T) {
		tb := startBroker(t, WithSASL(testAuthenticator(t, testUsers)))
		rc := dialRaw(t, tb.addr)
		if r := authenticate(t, rc, 2, "alice", "s3cret-pw"); r.SessionLifetimeMillis != 0 {
			t.Fatalf("lifetime %d without WithSASLSessionLifetime", r.SessionLifetimeMillis)
		}
		hs := kmsg.NewPtrSASLHandshakeRequest()
		hs.SetVersion(1)
		hs.Mechanism = MechanismPlain
		if r := rc.do(hs).(*kmsg.SASLHandshakeResponse); r.ErrorCode != kerr.IllegalSaslState.Code {
			t.Fatalf("second handshake: %v", kerr.ErrorForCode(r.ErrorCode))
		}
		rc.expectClosed()
	})
}

// TestKgoReauthenticates: kgo re-authenticates on the same connection
// before a short session ends and goes on producing; the broker never
// closes it for an ended session.
func TestKgoReauthenticates(t *testing.T) {
	var logs logSink
	tb := startBroker(t, WithSASL(testAuthenticator(t, testUsers)), WithSASLSessionLifetime(2*time.Second), WithLogger(logs.debugLogger()))
	var connects atomic.Int32
	cl := tb.client(t, kgo.SASL(scram.Auth{User: "alice", Pass: "s3cret-pw"}.AsSha512Mechanism()),
		kgo.DefaultProduceTopic("reauth"), kgo.AllowAutoTopicCreation(),
		kgo.WithHooks(connectHook(func() { connects.Add(1) })))
	ctx := testCtx(t)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	produced := 0
	for !strings.Contains(logs.String(), "kafka: re-authenticated") {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("x")}).FirstErr(); err != nil {
			t.Fatalf("produce %d: %v", produced, err)
		}
		produced++
		select {
		case <-tick.C:
		case <-ctx.Done():
			t.Fatalf("no re-authentication after %d produces:\n%s", produced, logs.String())
		}
	}
	before := connects.Load()
	for i := range 5 {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("y")}).FirstErr(); err != nil {
			t.Fatalf("produce %d after re-authentication: %v", i, err)
		}
	}
	if got := connects.Load(); got != before {
		t.Fatalf("kgo opened %d new connections after re-authenticating", got-before)
	}
	if strings.Contains(logs.String(), "ended without re-authentication") {
		t.Fatalf("a session ended:\n%s", logs.String())
	}
}

type connectHook func()

func (h connectHook) OnBrokerConnect(kgo.BrokerMetadata, time.Duration, net.Conn, error) { h() }

// TestFailedAuthenticationClosesConnection: the first failed attempt
// answers SASL_AUTHENTICATION_FAILED and closes the connection: no second
// try on it (Kafka does the same).
func TestFailedAuthenticationClosesConnection(t *testing.T) {
	tb := startBroker(t, WithSASL(testAuthenticator(t, testUsers)))
	rc := dialRaw(t, tb.addr)
	if r := authenticate(t, rc, 2, "alice", "wrong-pw"); r.ErrorCode != kerr.SaslAuthenticationFailed.Code {
		t.Fatalf("wrong password: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	rc.send(kmsg.NewPtrSASLHandshakeRequest())
	rc.expectClosed()
}

// TestSlowClientDeadlines: a client that does not finish SASL within the
// auth timeout, one that stalls inside a frame, and one that never ends
// its TLS handshake are closed.
func TestSlowClientDeadlines(t *testing.T) {
	t.Run("SASL not completed", func(t *testing.T) {
		var logs logSink
		tb := startBroker(t, WithSASL(testAuthenticator(t, testUsers)), WithAuthTimeout(100*time.Millisecond), WithLogger(logs.logger()))
		rc := dialRaw(t, tb.addr)
		rc.do(kmsg.NewPtrApiVersionsRequest())
		rc.expectClosed()
		waitLog(t, &logs, "authentication timeout")
	})
	t.Run("partial frame", func(t *testing.T) {
		var logs logSink
		tb := startBroker(t, WithFrameTimeout(100*time.Millisecond), WithLogger(logs.logger()))
		rc := dialRaw(t, tb.addr)
		if _, err := rc.nc.Write([]byte{0, 0, 0, 50, 0, 18}); err != nil {
			t.Fatal(err)
		}
		rc.expectClosed()
		waitLog(t, &logs, "frame timeout")
	})
	t.Run("TLS handshake not completed", func(t *testing.T) {
		var logs logSink
		ca := newTestCA(t, "ca")
		tb := startBroker(t, WithTLS(ca.mutualTLS(t)), WithAuthTimeout(100*time.Millisecond), WithLogger(logs.logger()))
		rc := dialRaw(t, tb.addr) // plain TCP: never sends a ClientHello
		rc.expectClosed()
		waitLog(t, &logs, "TLS handshake")
	})
}

// TestMaxConnectionsPerAddr: the connection over the per-address cap is
// closed at accept; the others keep working.
func TestMaxConnectionsPerAddr(t *testing.T) {
	var logs logSink
	tb := startBroker(t, WithMaxConnectionsPerAddr(2), WithLogger(logs.logger()))
	a, b := dialRaw(t, tb.addr), dialRaw(t, tb.addr)
	a.do(kmsg.NewPtrApiVersionsRequest())
	b.do(kmsg.NewPtrApiVersionsRequest())
	third := dialRaw(t, tb.addr)
	third.send(kmsg.NewPtrApiVersionsRequest())
	third.expectClosed()
	waitLog(t, &logs, "over 2 connections from 127.0.0.1")
	a.do(kmsg.NewPtrApiVersionsRequest())
	if _, err := New(tb.bus, WithMaxConnectionsPerAddr(-1)); !errors.Is(err, ErrInvalidOption) {
		t.Fatalf("negative cap: %v", err)
	}
}

// throttleHook records kgo's throttle reports.
type throttleHook struct {
	mu    sync.Mutex
	after []bool
	max   time.Duration
}

func (h *throttleHook) OnBrokerThrottle(_ kgo.BrokerMetadata, d time.Duration, after bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.after = append(h.after, after)
	h.max = max(h.max, d)
}

func (h *throttleHook) seen() (int, time.Duration, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	allAfter := true
	for _, a := range h.after {
		allAfter = allAfter && a
	}
	return len(h.after), h.max, allAfter
}

// TestRateLimitThrottlesKgo: a principal over its request rate gets
// throttle_time_ms; kgo reports it to OnBrokerThrottle as applied after
// the response (KIP-219) and still gets every record in; the broker mutes
// the connection for the throttle; another principal is not throttled.
func TestRateLimitThrottlesKgo(t *testing.T) {
	lim := auth.NewRateLimiter(20, 1)
	tb := startBroker(t, WithSASL(testAuthenticator(t, testUsers)), WithRateLimiter(lim))
	ctx := testCtx(t)
	var hook throttleHook
	cl := tb.client(t, kgo.SASL(scram.Auth{User: "alice", Pass: "s3cret-pw"}.AsSha256Mechanism()),
		kgo.DefaultProduceTopic("throttled"), kgo.AllowAutoTopicCreation(), kgo.WithHooks(&hook))
	for i := range 10 {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("x")}).FirstErr(); err != nil {
			t.Fatalf("produce %d: %v", i, err)
		}
	}
	n, longest, after := hook.seen()
	if n == 0 || longest <= 0 || longest > time.Second || !after {
		t.Fatalf("throttle reports: %d, longest %v, all after the response %v", n, longest, after)
	}

	t.Run("raw: throttle time and mute", func(t *testing.T) {
		rc := dialRaw(t, tb.addr)
		authenticate(t, rc, 2, "bob", "other")
		meta := func() *kmsg.MetadataRequest {
			m := kmsg.NewPtrMetadataRequest()
			m.SetVersion(9)
			return m
		}
		if r := rc.do(meta()).(*kmsg.MetadataResponse); r.ThrottleMillis != 0 {
			t.Fatalf("bob's first request throttled %d ms by alice's rate", r.ThrottleMillis)
		}
		// Pipelined: the second is over the rate; the third is read only
		// once the second's throttle has passed.
		rc.send(meta())
		rc.send(meta())
		_, body2, err := rc.readFrame()
		if err != nil {
			t.Fatal(err)
		}
		at2 := time.Now()
		r2 := kmsg.NewPtrMetadataResponse()
		r2.SetVersion(9)
		if err := r2.ReadFrom(body2[1:]); err != nil {
			t.Fatal(err)
		}
		if r2.ThrottleMillis <= 0 || r2.ThrottleMillis > 50 {
			t.Fatalf("second request throttle %d ms, want (0, 50]", r2.ThrottleMillis)
		}
		if _, _, err := rc.readFrame(); err != nil {
			t.Fatal(err)
		}
		// A lower bound only: the mute cannot end early, however loaded
		// the machine.
		if waited := time.Since(at2); waited < time.Duration(r2.ThrottleMillis)*time.Millisecond/2 {
			t.Fatalf("third response %v after the second, throttle %d ms: not muted", waited, r2.ThrottleMillis)
		}
	})
}

// certACLBroker is a broker on mutual TLS (no SASL) with ACLs for the
// certificate principals.
func certACLBroker(t *testing.T, ca *testCA) *testBroker {
	t.Helper()
	store := auth.NewStore()
	if err := store.SetRules([]auth.Rule{
		{Principal: "svc-writer", Resource: auth.ResourceTopic, Pattern: "orders.*", Operations: []auth.Operation{auth.OpWrite, auth.OpCreate}},
		{Principal: "svc-reader", Resource: auth.ResourceTopic, Pattern: "orders.*", Operations: []auth.Operation{auth.OpRead}},
		{Principal: "svc-reader", Resource: auth.ResourceGroup, Pattern: "readers", Operations: []auth.Operation{auth.OpRead}},
	}); err != nil {
		t.Fatal(err)
	}
	return startBroker(t, WithTLS(ca.mutualTLS(t)), WithACL(store))
}

// TestTLSClientCertificatePrincipal: with mutual TLS and no SASL the
// verified certificate's common name is the principal the ACLs judge;
// an untrusted certificate or none fails the handshake.
func TestTLSClientCertificatePrincipal(t *testing.T) {
	ca := newTestCA(t, "trusted ca")
	tb := certACLBroker(t, ca)
	ctx := testCtx(t)
	writer := tb.client(t, kgo.DialTLSConfig(ca.clientTLS(ca.issue(t, "svc-writer", false))), kgo.AllowAutoTopicCreation(), kgo.RequestRetries(0))
	if err := writer.ProduceSync(ctx, &kgo.Record{Topic: "orders.eu", Value: []byte("w")}).FirstErr(); err != nil {
		t.Fatalf("svc-writer writes orders.eu: %v", err)
	}
	if err := writer.ProduceSync(ctx, &kgo.Record{Topic: "payments", Value: []byte("w")}).FirstErr(); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("svc-writer writes payments: %v, want TOPIC_AUTHORIZATION_FAILED", err)
	}
	// Not idempotent: an idempotent producer without write on any topic
	// is refused earlier, at InitProducerId (CLUSTER_AUTHORIZATION_FAILED).
	reader := tb.client(t, kgo.DialTLSConfig(ca.clientTLS(ca.issue(t, "svc-reader", false))), kgo.RequestRetries(0), kgo.DisableIdempotentWrite())
	if err := reader.ProduceSync(ctx, &kgo.Record{Topic: "orders.eu", Value: []byte("r")}).FirstErr(); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Fatalf("svc-reader writes orders.eu: %v, want TOPIC_AUTHORIZATION_FAILED", err)
	}
	consumer := tb.client(t, kgo.DialTLSConfig(ca.clientTLS(ca.issue(t, "svc-reader", false))),
		kgo.ConsumeTopics("orders.eu"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if fs := consumer.PollFetches(ctx); fs.Err0() != nil || fs.NumRecords() != 1 {
		t.Fatalf("svc-reader reads orders.eu: %v, %d records", fs.Err0(), fs.NumRecords())
	}

	for name, cfg := range map[string]*tls.Config{
		"untrusted certificate": ca.clientTLS(newTestCA(t, "other ca").issue(t, "svc-writer", false)),
		"no certificate":        ca.clientTLS(),
	} {
		t.Run(name, func(t *testing.T) {
			cl := tb.client(t, kgo.DialTLSConfig(cfg), kgo.RequestRetries(0))
			err := cl.Ping(ctx)
			if err == nil {
				t.Fatal("ping succeeded")
			}
			// The handshake fails: a TLS alert or the closed connection,
			// never a Kafka answer.
			var ke *kerr.Error
			if errors.As(err, &ke) {
				t.Fatalf("got a Kafka error %v, want the TLS handshake to fail", err)
			}
		})
	}
	t.Run("certificate name the store refuses", func(t *testing.T) {
		cfg := ca.clientTLS(ca.issue(t, "bad name", false))
		conn, err := tls.Dial("tcp", tb.addr, cfg)
		if err != nil {
			return // TLS 1.2 may fail here already
		}
		defer conn.Close()
		rc := &rawConn{t: t, nc: conn, br: newBufReader(conn)}
		rc.send(kmsg.NewPtrApiVersionsRequest())
		rc.expectClosed()
	})
}

// TestSCRAMBadProof: a SCRAM client-final with a proof that does not come
// from the password (the right nonce, channel binding and user) is
// SASL_AUTHENTICATION_FAILED and closes the connection; the broker's
// server-first message carries the stored salt and iterations.
func TestSCRAMBadProof(t *testing.T) {
	tb := startBroker(t, WithSASL(testAuthenticator(t, testUsers)))
	rc := dialRaw(t, tb.addr)
	hs := kmsg.NewPtrSASLHandshakeRequest()
	hs.SetVersion(1)
	hs.Mechanism = MechanismSCRAMSHA256
	if r := rc.do(hs).(*kmsg.SASLHandshakeResponse); r.ErrorCode != 0 {
		t.Fatalf("handshake: %v", kerr.ErrorForCode(r.ErrorCode))
	}
	step := func(msg string) *kmsg.SASLAuthenticateResponse {
		a := kmsg.NewPtrSASLAuthenticateRequest()
		a.SetVersion(2)
		a.SASLAuthBytes = []byte(msg)
		return rc.do(a).(*kmsg.SASLAuthenticateResponse)
	}
	first := step("n,,n=alice,r=clientnonce")
	if first.ErrorCode != 0 {
		t.Fatalf("client-first: %v", kerr.ErrorForCode(first.ErrorCode))
	}
	var nonce string
	for _, attr := range strings.Split(string(first.SASLAuthBytes), ",") {
		if v, ok := strings.CutPrefix(attr, "r="); ok {
			nonce = v
		}
	}
	if !strings.HasPrefix(nonce, "clientnonce") || !strings.Contains(string(first.SASLAuthBytes), ",i=4096") {
		t.Fatalf("server-first %q", first.SASLAuthBytes)
	}
	proof := base64.StdEncoding.EncodeToString(make([]byte, 32)) // 32 zero bytes: the size of a SHA-256 proof
	final := step("c=" + base64.StdEncoding.EncodeToString([]byte("n,,")) + ",r=" + nonce + ",p=" + proof)
	if final.ErrorCode != kerr.SaslAuthenticationFailed.Code {
		t.Fatalf("bad proof: %v", kerr.ErrorForCode(final.ErrorCode))
	}
	rc.send(kmsg.NewPtrMetadataRequest())
	rc.expectClosed()
}
