package auth

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestCredentialNeverKeepsPassword(t *testing.T) {
	const pw = "correct-horse-battery"
	for _, m := range Mechanisms() {
		t.Run(string(m), func(t *testing.T) {
			c, err := NewCredential(m, pw, 0)
			if err != nil {
				t.Fatal(err)
			}
			if c.Iterations != DefaultIterations || len(c.Salt) != saltSize {
				t.Fatalf("iterations %d salt %d", c.Iterations, len(c.Salt))
			}
			for _, field := range [][]byte{c.Salt, c.StoredKey, c.ServerKey} {
				if bytes.Contains(field, []byte(pw)) {
					t.Fatal("password bytes stored in the credential")
				}
			}
			for _, s := range []string{c.String(), fmt.Sprintf("%v", c), fmt.Sprintf("%+v", c), fmt.Sprintf("%#v", c)} {
				if strings.Contains(s, pw) || strings.Contains(s, fmt.Sprintf("%x", c.StoredKey)) || strings.Contains(s, fmt.Sprint(c.StoredKey)) {
					t.Fatalf("secret in %q", s)
				}
			}
			if !c.Verify(pw) {
				t.Fatal("right password refused")
			}
			if c.Verify(pw+"x") || c.Verify("") {
				t.Fatal("wrong password accepted")
			}
			c2, _ := NewCredential(m, pw, 0)
			if bytes.Equal(c.Salt, c2.Salt) || bytes.Equal(c.StoredKey, c2.StoredKey) {
				t.Fatal("two credentials share a salt")
			}
		})
	}
}

// TestDeriveCredentialDeterministic: the same inputs derive the same
// keys (what PLAIN verification relies on), sizes follow the hash, and
// the salt is copied.
func TestDeriveCredentialDeterministic(t *testing.T) {
	salt := []byte("0123456789abcdef")
	a, err := DeriveCredential(SCRAMSHA256, "pencil", salt, 4096)
	if err != nil {
		t.Fatal(err)
	}
	b, err := DeriveCredential(SCRAMSHA256, "pencil", salt, 4096)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.StoredKey, b.StoredKey) || !bytes.Equal(a.ServerKey, b.ServerKey) || len(a.StoredKey) != 32 {
		t.Fatal("derivation not deterministic")
	}
	salt[0] = 'x'
	if a.Salt[0] == 'x' {
		t.Fatal("salt aliased the caller's slice")
	}
	c, _ := DeriveCredential(SCRAMSHA512, "pencil", []byte("0123456789abcdef"), 4096)
	if len(c.StoredKey) != 64 || bytes.Equal(c.StoredKey[:32], a.StoredKey) {
		t.Fatal("SHA-512 credential wrong size or equal to SHA-256")
	}
}

func TestDeriveCredentialRejects(t *testing.T) {
	for _, tc := range []struct {
		name string
		m    Mechanism
		pw   string
		salt []byte
		iter int
	}{
		{"unknown mechanism", "SCRAM-SHA-1", "pw", []byte("s"), 4096},
		{"plain is no SCRAM mechanism", "PLAIN", "pw", []byte("s"), 4096},
		{"empty password", SCRAMSHA256, "", []byte("s"), 4096},
		{"empty salt", SCRAMSHA256, "pw", nil, 4096},
		{"too few iterations", SCRAMSHA256, "pw", []byte("s"), 4095},
		{"negative iterations", SCRAMSHA256, "pw", []byte("s"), -1},
		{"too many iterations", SCRAMSHA512, "pw", []byte("s"), 1<<20 + 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DeriveCredential(tc.m, tc.pw, tc.salt, tc.iter)
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
		})
	}
}

func TestVerifyPassword(t *testing.T) {
	s := NewStore()
	const pw = "s3cret-pass"
	if err := s.AddUser("alice", pw); err != nil {
		t.Fatal(err)
	}
	if err := s.AddUser("bob", "bobpw", SCRAMSHA256); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, user, pw string
		want           error
	}{
		{"right password", "alice", pw, nil},
		{"sha-256 only user", "bob", "bobpw", nil},
		{"wrong password", "alice", "s3cret-pasS", ErrWrongPassword},
		{"empty password", "alice", "", ErrWrongPassword},
		{"unknown user", "carol", pw, ErrUnknownUser},
		{"empty user", "", pw, ErrUnknownUser},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := s.VerifyPassword(tc.user, tc.pw)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if err != nil && tc.pw != "" && strings.Contains(err.Error(), tc.pw) {
				t.Fatalf("password in error %q", err)
			}
		})
	}
	if _, ok := s.Credential("bob", SCRAMSHA512); ok {
		t.Fatal("bob has no SHA-512 credential")
	}
	c, ok := s.Credential("alice", SCRAMSHA512)
	if !ok {
		t.Fatal("alice's SHA-512 credential missing")
	}
	c.StoredKey[0] ^= 0xff // a copy: the store is not changed
	if err := s.VerifyPassword("alice", pw); err != nil {
		t.Fatalf("Credential returned an alias: %v", err)
	}
}

func TestUserEditing(t *testing.T) {
	s := NewStore()
	if err := s.AddUser("alice", "pw1"); err != nil {
		t.Fatal(err)
	}
	if err := s.AddUser("alice", "pw2"); !errors.Is(err, ErrExists) {
		t.Fatalf("second add: %v", err)
	}
	for _, bad := range []string{"", "a b", "a:b", "a,b", "a=b", "*", "tab\t", strings.Repeat("x", 256)} {
		if err := s.AddUser(bad, "pw"); !errors.Is(err, ErrInvalid) {
			t.Errorf("AddUser(%q) = %v, want ErrInvalid", bad, err)
		}
	}
	// Loading a credential derived elsewhere (the configuration file).
	c, _ := NewCredential(SCRAMSHA256, "pw3", 0)
	if err := s.SetCredentials("alice", c); err != nil {
		t.Fatal(err)
	}
	if err := s.VerifyPassword("alice", "pw1"); !errors.Is(err, ErrWrongPassword) {
		t.Fatalf("old password after SetCredentials: %v", err)
	}
	if err := s.VerifyPassword("alice", "pw3"); err != nil {
		t.Fatal(err)
	}
	bad := c
	bad.StoredKey = bad.StoredKey[:5]
	for name, cr := range map[string]Credential{
		"short key": bad,
		"no salt":   {Mechanism: SCRAMSHA256, Iterations: 4096, StoredKey: c.StoredKey, ServerKey: c.ServerKey},
		"low iter":  {Mechanism: SCRAMSHA256, Salt: c.Salt, Iterations: 1, StoredKey: c.StoredKey, ServerKey: c.ServerKey},
		"bad mech":  {Mechanism: "MD5", Salt: c.Salt, Iterations: 4096, StoredKey: c.StoredKey, ServerKey: c.ServerKey},
	} {
		if err := s.SetCredentials("dave", cr); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: %v, want ErrInvalid", name, err)
		}
	}
	if err := s.SetCredentials("dave"); !errors.Is(err, ErrInvalid) {
		t.Errorf("no credentials: %v", err)
	}
	if got := s.Users(); len(got) != 1 || got[0] != "alice" {
		t.Fatalf("users %v", got)
	}
	if err := s.RemoveUser("alice"); err != nil {
		t.Fatal(err)
	}
	if err := s.RemoveUser("alice"); !errors.Is(err, ErrUnknownUser) {
		t.Fatalf("second remove: %v", err)
	}
	if err := s.VerifyPassword("alice", "pw3"); !errors.Is(err, ErrUnknownUser) {
		t.Fatalf("removed user: %v", err)
	}
}

func TestTokens(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s := NewStore(WithClock(func() time.Time { return now }))
	tok, rec, err := s.CreateToken("svc", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	forever, _, err := s.CreateToken("svc", 0)
	if err != nil {
		t.Fatal(err)
	}
	revoked, rrec, _ := s.CreateToken("ops", time.Hour)
	if err := s.RevokeToken(rrec.ID); err != nil {
		t.Fatal(err)
	}
	for _, r := range s.Tokens() {
		for _, secret := range []string{tok, forever, revoked} {
			if strings.Contains(r.String(), secret) || strings.Contains(fmt.Sprintf("%#v %+v", r, r), secret) {
				t.Fatalf("token in record %v", r)
			}
		}
	}
	if !strings.HasPrefix(tok, "oxb_"+rec.ID+"_") {
		t.Fatalf("token %q does not carry id %s", tok, rec.ID)
	}
	tamper := []byte(tok)
	tamper[len(tamper)-1] ^= 1
	for _, tc := range []struct {
		name, token string
		advance     time.Duration
		want        error
	}{
		{"valid", tok, 0, nil},
		{"valid just before expiry", tok, time.Hour - time.Nanosecond, nil},
		{"expired at expiry", tok, time.Hour, ErrTokenExpired},
		{"no expiry", forever, 1000 * time.Hour, nil},
		{"revoked", revoked, 0, ErrTokenRevoked},
		{"wrong secret", string(tamper), 0, ErrUnknownToken},
		{"unknown id", "oxb_0011223344556677_abc", 0, ErrUnknownToken},
		{"no prefix", "Bearer xyz", 0, ErrUnknownToken},
		{"empty", "", 0, ErrUnknownToken},
		{"prefix only", "oxb_", 0, ErrUnknownToken},
		{"no secret", "oxb_" + rec.ID, 0, ErrUnknownToken},
	} {
		t.Run(tc.name, func(t *testing.T) {
			saved := now
			now = now.Add(tc.advance)
			defer func() { now = saved }()
			p, err := s.VerifyToken(tc.token)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			if err == nil && p != "svc" {
				t.Fatalf("principal %q", p)
			}
			if err != nil && len(tc.token) > 20 && strings.Contains(err.Error(), tc.token) {
				t.Fatalf("token in error %q", err)
			}
		})
	}
	if err := s.RevokeToken("nope"); !errors.Is(err, ErrUnknownToken) {
		t.Fatalf("revoke unknown: %v", err)
	}
	if _, _, err := s.CreateToken("svc", -time.Second); !errors.Is(err, ErrInvalid) {
		t.Fatalf("negative ttl: %v", err)
	}
	if _, _, err := s.CreateToken("", time.Second); !errors.Is(err, ErrInvalid) {
		t.Fatalf("empty principal: %v", err)
	}
	if err := s.AddToken(rec); !errors.Is(err, ErrExists) {
		t.Fatalf("duplicate id: %v", err)
	}
	// A record loaded from configuration verifies its token.
	s2 := NewStore(WithClock(func() time.Time { return now }))
	if err := s2.AddToken(rec); err != nil {
		t.Fatal(err)
	}
	if p, err := s2.VerifyToken(tok); err != nil || p != "svc" {
		t.Fatalf("loaded record: %q %v", p, err)
	}
}
