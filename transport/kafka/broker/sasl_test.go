package broker

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

var testUsers = map[string]string{"alice": "s3cret-pw", "bob": "other"}

// TestSASLMechanismsWithKgo: kgo authenticates with PLAIN, SCRAM-SHA-256
// and SCRAM-SHA-512 and then produces and fetches; a wrong password or an
// unknown user fails with SASL_AUTHENTICATION_FAILED and the secret is in
// no log line.
func TestSASLMechanismsWithKgo(t *testing.T) {
	var logs logSink
	tb := startBroker(t, WithSASL(testAuthenticator(t, testUsers)), WithLogger(logs.logger()))
	mechs := map[string]func(user, pass string) sasl.Mechanism{
		"PLAIN":         func(u, p string) sasl.Mechanism { return plain.Auth{User: u, Pass: p}.AsMechanism() },
		"SCRAM-SHA-256": func(u, p string) sasl.Mechanism { return scram.Auth{User: u, Pass: p}.AsSha256Mechanism() },
		"SCRAM-SHA-512": func(u, p string) sasl.Mechanism { return scram.Auth{User: u, Pass: p}.AsSha512Mechanism() },
	}
	for name, mech := range mechs {
		t.Run(name, func(t *testing.T) {
			ctx := testCtx(t)
			topic := "sasl-" + strings.ToLower(name)
			cl := tb.client(t, kgo.SASL(mech("alice", "s3cret-pw")), kgo.DefaultProduceTopic(topic), kgo.AllowAutoTopicCreation(),
				kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
			if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("x")}).FirstErr(); err != nil {
				t.Fatalf("produce as alice: %v", err)
			}
			if fs := cl.PollFetches(ctx); fs.Err0() != nil || fs.NumRecords() != 1 {
				t.Fatalf("fetch as alice: %v, %d records", fs.Err0(), fs.NumRecords())
			}
			if name != "PLAIN" {
				// kgo escapes ',' and '=' in a SCRAM name; the broker
				// unescapes them, and the store (whose names have
				// neither) answers an unknown user, not a malformed
				// message.
				odd := tb.client(t, kgo.SASL(mech("bob,=odd", "other")), kgo.RequestRetries(0))
				if err := odd.Ping(ctx); !errors.Is(err, kerr.SaslAuthenticationFailed) {
					t.Fatalf("user name with , and =: %v, want SASL_AUTHENTICATION_FAILED", err)
				}
			}
			for _, bad := range [][2]string{{"alice", "wrong-pw"}, {"mallory", "s3cret-pw"}} {
				cl := tb.client(t, kgo.SASL(mech(bad[0], bad[1])), kgo.RequestRetries(0))
				err := cl.Ping(ctx)
				if !errors.Is(err, kerr.SaslAuthenticationFailed) {
					t.Fatalf("%s/%s: %v, want SASL_AUTHENTICATION_FAILED", bad[0], bad[1], err)
				}
			}
		})
	}
	if strings.Contains(logs.String(), "s3cret-pw") || strings.Contains(logs.String(), "wrong-pw") {
		t.Fatalf("a password reached the log:\n%s", logs.String())
	}
}

// TestSASLGate: before authentication only ApiVersions, SaslHandshake and
// SaslAuthenticate are served; anything else closes the connection.
func TestSASLGate(t *testing.T) {
	var logs logSink
	tb := startBroker(t, WithSASL(testAuthenticator(t, testUsers)), WithLogger(logs.logger()))
	rc := dialRaw(t, tb.addr)
	if a := rc.do(kmsg.NewPtrApiVersionsRequest()).(*kmsg.ApiVersionsResponse); a.ErrorCode != 0 {
		t.Fatal("ApiVersions refused before SASL")
	}
	rc.send(kmsg.NewPtrMetadataRequest())
	rc.expectClosed()
	waitLog(t, &logs, "Metadata before SASL authentication")

	// Handshake v0 and v1 list the mechanisms; an unknown one is refused.
	for _, v := range []int16{0, 1} {
		rc := dialRaw(t, tb.addr)
		hs := kmsg.NewPtrSASLHandshakeRequest()
		hs.SetVersion(v)
		hs.Mechanism = "GSSAPI"
		resp := rc.do(hs).(*kmsg.SASLHandshakeResponse)
		if resp.ErrorCode != kerr.UnsupportedSaslMechanism.Code || len(resp.SupportedMechanisms) != 3 {
			t.Fatalf("v%d GSSAPI: %+v", v, resp)
		}
		rc.expectClosed()
	}
	// SaslAuthenticate without a handshake: ILLEGAL_SASL_STATE, then closed.
	rc = dialRaw(t, tb.addr)
	auth := kmsg.NewPtrSASLAuthenticateRequest()
	auth.SetVersion(2)
	if r := rc.do(auth).(*kmsg.SASLAuthenticateResponse); r.ErrorCode != kerr.IllegalSaslState.Code {
		t.Fatalf("authenticate without handshake: %+v", r)
	}
	rc.expectClosed()
}

// TestSASLHandshakeV0BareTokens: after SaslHandshake v0 the PLAIN token
// comes as a bare frame (the pre-KIP-152 flow); success answers an empty
// bare frame and the connection is authenticated.
func TestSASLHandshakeV0BareTokens(t *testing.T) {
	tb := startBroker(t, WithSASL(testAuthenticator(t, testUsers)))
	for _, v := range []int16{0, 1} {
		rc := dialRaw(t, tb.addr)
		hs := kmsg.NewPtrSASLHandshakeRequest()
		hs.SetVersion(v)
		hs.Mechanism = "PLAIN"
		if r := rc.do(hs).(*kmsg.SASLHandshakeResponse); r.ErrorCode != 0 {
			t.Fatalf("handshake v%d: %v", v, kerr.ErrorForCode(r.ErrorCode))
		}
		token := []byte("\x00alice\x00s3cret-pw")
		if v == 0 {
			frame := append([]byte{0, 0, 0, byte(len(token))}, token...)
			if _, err := rc.nc.Write(frame); err != nil {
				t.Fatal(err)
			}
			var sz [4]byte
			rc.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
			if _, err := rc.br.Read(sz[:]); err != nil || sz != [4]byte{} {
				t.Fatalf("bare reply % x: %v", sz, err)
			}
		} else {
			auth := kmsg.NewPtrSASLAuthenticateRequest()
			auth.SetVersion(2)
			auth.SASLAuthBytes = token
			if r := rc.do(auth).(*kmsg.SASLAuthenticateResponse); r.ErrorCode != 0 {
				t.Fatalf("authenticate: %v", kerr.ErrorForCode(r.ErrorCode))
			}
		}
		meta := kmsg.NewPtrMetadataRequest()
		meta.SetVersion(4)
		if m := rc.do(meta).(*kmsg.MetadataResponse); len(m.Brokers) != 1 {
			t.Fatal("metadata after authentication failed")
		}
	}
}

// TestTLSWithKgo: a TLS listener serves kgo over TLS with SASL on top.
func TestTLSWithKgo(t *testing.T) {
	cert, pool := selfSigned(t)
	tb := startBroker(t, WithTLS(&tls.Config{Certificates: []tls.Certificate{cert}}), WithSASL(testAuthenticator(t, testUsers)))
	ctx := testCtx(t)
	cl := tb.client(t, kgo.DialTLSConfig(&tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}),
		kgo.SASL(scram.Auth{User: "alice", Pass: "s3cret-pw"}.AsSha256Mechanism()),
		kgo.DefaultProduceTopic("tls"), kgo.AllowAutoTopicCreation())
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("over tls")}).FirstErr(); err != nil {
		t.Fatalf("produce over TLS: %v", err)
	}
	// A plaintext client gets nothing it can parse and is closed.
	plainCl := tb.client(t, kgo.RequestRetries(0), kgo.DialTimeout(2*time.Second))
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := plainCl.Ping(pctx); err == nil {
		t.Fatal("plaintext client talked to the TLS listener")
	}
}

func selfSigned(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "onexbus test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA:                  true,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}
