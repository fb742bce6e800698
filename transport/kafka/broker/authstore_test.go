package broker

import (
	"errors"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/onexbus/onexbus/transport/auth"
)

// TestStoreAuthenticatorWithKgo: kgo authenticates with SCRAM-SHA-256,
// SCRAM-SHA-512 and PLAIN against the principal store (salted
// credentials only); a wrong password, an unknown user and a changed
// password fail with SASL_AUTHENTICATION_FAILED; no password is logged.
func TestStoreAuthenticatorWithKgo(t *testing.T) {
	store := auth.NewStore()
	if err := store.AddUser("alice", "alice-Store-pw"); err != nil {
		t.Fatal(err)
	}
	if err := store.AddUser("only256", "only-256-pw", auth.SCRAMSHA256); err != nil {
		t.Fatal(err)
	}
	a, err := NewStoreAuthenticator(store, true)
	if err != nil {
		t.Fatal(err)
	}
	var logs logSink
	tb := startBroker(t, WithSASL(a), WithLogger(logs.logger()))
	mechs := map[string]func(user, pass string) sasl.Mechanism{
		"PLAIN":         func(u, p string) sasl.Mechanism { return plain.Auth{User: u, Pass: p}.AsMechanism() },
		"SCRAM-SHA-256": func(u, p string) sasl.Mechanism { return scram.Auth{User: u, Pass: p}.AsSha256Mechanism() },
		"SCRAM-SHA-512": func(u, p string) sasl.Mechanism { return scram.Auth{User: u, Pass: p}.AsSha512Mechanism() },
	}
	for name, mech := range mechs {
		t.Run(name, func(t *testing.T) {
			ctx := testCtx(t)
			topic := "store-" + strings.ToLower(name)
			cl := tb.client(t, kgo.SASL(mech("alice", "alice-Store-pw")), kgo.DefaultProduceTopic(topic), kgo.AllowAutoTopicCreation())
			if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("x")}).FirstErr(); err != nil {
				t.Fatalf("produce as alice: %v", err)
			}
			bad := [][2]string{{"alice", "wrong-pw"}, {"mallory", "alice-Store-pw"}}
			if name == "SCRAM-SHA-512" {
				bad = append(bad, [2]string{"only256", "only-256-pw"}) // no SHA-512 credential
			} else {
				if err := tb.client(t, kgo.SASL(mech("only256", "only-256-pw"))).Ping(ctx); err != nil {
					t.Fatalf("only256: %v", err)
				}
			}
			for _, b := range bad {
				err := tb.client(t, kgo.SASL(mech(b[0], b[1])), kgo.RequestRetries(0)).Ping(ctx)
				if !errors.Is(err, kerr.SaslAuthenticationFailed) {
					t.Fatalf("%s/%s: %v, want SASL_AUTHENTICATION_FAILED", b[0], b[1], err)
				}
			}
		})
	}
	// A changed password applies at the next authentication.
	c, err := auth.NewCredential(auth.SCRAMSHA256, "alice-New-pw", 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.SetCredentials("alice", c); err != nil {
		t.Fatal(err)
	}
	ctx := testCtx(t)
	old := tb.client(t, kgo.SASL(mechs["SCRAM-SHA-256"]("alice", "alice-Store-pw")), kgo.RequestRetries(0))
	if err := old.Ping(ctx); !errors.Is(err, kerr.SaslAuthenticationFailed) {
		t.Fatalf("old password after the change: %v", err)
	}
	if err := tb.client(t, kgo.SASL(mechs["SCRAM-SHA-256"]("alice", "alice-New-pw"))).Ping(ctx); err != nil {
		t.Fatalf("new password: %v", err)
	}
	for _, pw := range []string{"alice-Store-pw", "alice-New-pw", "only-256-pw", "wrong-pw"} {
		if strings.Contains(logs.String(), pw) {
			t.Fatalf("a password reached the log:\n%s", logs.String())
		}
	}
}

// TestStoreAuthenticatorWithoutPlain: PLAIN is not offered unless asked
// for; a nil store is an invalid option.
func TestStoreAuthenticatorWithoutPlain(t *testing.T) {
	store := auth.NewStore()
	if err := store.AddUser("alice", "alice-Store-pw"); err != nil {
		t.Fatal(err)
	}
	a, err := NewStoreAuthenticator(store, false)
	if err != nil {
		t.Fatal(err)
	}
	if got := a.Mechanisms(); len(got) != 2 || got[0] != MechanismSCRAMSHA512 || got[1] != MechanismSCRAMSHA256 {
		t.Fatalf("mechanisms %v", got)
	}
	if _, err := a.Start(MechanismPlain); !errors.Is(err, ErrUnsupportedMechanism) {
		t.Fatalf("PLAIN: %v", err)
	}
	tb := startBroker(t, WithSASL(a))
	err = tb.client(t, kgo.SASL(plain.Auth{User: "alice", Pass: "alice-Store-pw"}.AsMechanism()), kgo.RequestRetries(0)).Ping(testCtx(t))
	if err == nil {
		t.Fatal("PLAIN accepted though not offered")
	}
	if _, err := NewStoreAuthenticator(nil, true); !errors.Is(err, ErrInvalidOption) {
		t.Fatalf("nil store: %v", err)
	}
}
