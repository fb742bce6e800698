package broker

import (
	"bytes"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"hash"
	"strings"
)

// SASL mechanism names.
const (
	MechanismPlain       = "PLAIN"
	MechanismSCRAMSHA256 = "SCRAM-SHA-256"
	MechanismSCRAMSHA512 = "SCRAM-SHA-512"
)

// scramIterations is the PBKDF2 iteration count of stored credentials
// (Kafka's minimum and default is 4096).
const scramIterations = 4096

// scramHash is one SCRAM variant.
type scramHash struct {
	name string
	new  func() hash.Hash
}

var (
	scram256 = scramHash{MechanismSCRAMSHA256, sha256.New}
	scram512 = scramHash{MechanismSCRAMSHA512, sha512.New}
)

// scramCred is a user's stored SCRAM credential (RFC 5802): the password
// itself is not kept.
type scramCred struct {
	salt      []byte
	iter      int
	storedKey []byte
	serverKey []byte
}

func newScramCred(h scramHash, password string, salt []byte, iter int) (scramCred, error) {
	salted, err := pbkdf2.Key(h.new, password, salt, iter, h.new().Size())
	if err != nil {
		return scramCred{}, fmt.Errorf("broker: derive SCRAM key: %w", err)
	}
	clientKey := hmacSum(h, salted, []byte("Client Key"))
	return scramCred{
		salt:      salt,
		iter:      iter,
		storedKey: hashSum(h, clientKey),
		serverKey: hmacSum(h, salted, []byte("Server Key")),
	}, nil
}

func hmacSum(h scramHash, key, msg []byte) []byte {
	m := hmac.New(h.new, key)
	m.Write(msg)
	return m.Sum(nil)
}

func hashSum(h scramHash, b []byte) []byte {
	d := h.new()
	d.Write(b)
	return d.Sum(nil)
}

// staticUsers is the Authenticator of NewStaticUsers.
type staticUsers struct {
	plain  map[string][32]byte // user -> SHA-256 of the password
	creds  map[string]map[string]scramCred
	secret []byte // keys the fake credentials of unknown users
}

// NewStaticUsers returns an Authenticator for a fixed user -> password
// list offering PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512. SCRAM credentials
// are derived once here (random salt, 4096 iterations); passwords are not
// kept, only their SHA-256 for PLAIN. An unknown user's SCRAM exchange
// runs to the end with made-up credentials, so a client cannot tell an
// unknown user from a wrong password. It panics never; an empty user name
// is skipped.
func NewStaticUsers(users map[string]string) Authenticator {
	a := &staticUsers{
		plain:  make(map[string][32]byte, len(users)),
		creds:  map[string]map[string]scramCred{scram256.name: {}, scram512.name: {}},
		secret: randomBytes(32),
	}
	for user, pass := range users {
		if user == "" {
			continue
		}
		a.plain[user] = sha256.Sum256([]byte(pass))
		for _, h := range []scramHash{scram256, scram512} {
			c, err := newScramCred(h, pass, randomBytes(24), scramIterations)
			if err != nil {
				continue // pbkdf2 fails only for key lengths no hash here has
			}
			a.creds[h.name][user] = c
		}
	}
	return a
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand)
	return b
}

func (a *staticUsers) Mechanisms() []string {
	return []string{MechanismSCRAMSHA512, MechanismSCRAMSHA256, MechanismPlain}
}

func (a *staticUsers) Start(mechanism string) (Exchange, error) {
	switch mechanism {
	case MechanismPlain:
		return &plainExchange{a: a}, nil
	case MechanismSCRAMSHA256:
		return &scramExchange{h: scram256, lookup: a.scramLookup(scram256)}, nil
	case MechanismSCRAMSHA512:
		return &scramExchange{h: scram512, lookup: a.scramLookup(scram512)}, nil
	}
	return nil, fmt.Errorf("%w: %q (offered: %s)", ErrUnsupportedMechanism, mechanism, strings.Join(a.Mechanisms(), ", "))
}

// scramLookup returns a user's credential; an unknown user gets a stable
// made-up one (salt from the secret and the name), so the exchange fails
// only at the proof.
func (a *staticUsers) scramLookup(h scramHash) func(string) (scramCred, bool) {
	return func(user string) (scramCred, bool) {
		if c, ok := a.creds[h.name][user]; ok {
			return c, true
		}
		salt := hmacSum(h, a.secret, []byte(user))[:24]
		return scramCred{salt: salt, iter: scramIterations, storedKey: randomBytes(h.new().Size()), serverKey: randomBytes(h.new().Size())}, false
	}
}

// plainExchange is RFC 4616: one message "authzid NUL user NUL password".
type plainExchange struct {
	a    *staticUsers
	user string
}

func (p *plainExchange) Step(msg []byte) ([]byte, bool, error) {
	parts := bytes.Split(msg, []byte{0})
	if len(parts) != 3 || len(parts[1]) == 0 {
		return nil, false, fmt.Errorf("%w: PLAIN wants authzid NUL user NUL password", ErrBadSASLMessage)
	}
	authz, user := string(parts[0]), string(parts[1])
	if authz != "" && authz != user {
		return nil, false, fmt.Errorf("%w: PLAIN user %q may not act as %q", ErrAuthFailed, user, authz)
	}
	want, ok := p.a.plain[user]
	got := sha256.Sum256(parts[2])
	if subtle.ConstantTimeCompare(want[:], got[:]) != 1 || !ok {
		return nil, false, fmt.Errorf("%w: PLAIN user %q", ErrAuthFailed, user)
	}
	p.user = user
	return nil, true, nil
}

func (p *plainExchange) Principal() string { return p.user }

// scramExchange is the server side of RFC 5802 / RFC 7677 without channel
// binding: client-first, server-first, client-final, server-final.
type scramExchange struct {
	h      scramHash
	lookup func(string) (scramCred, bool)
	step   int
	user   string
	known  bool
	cred   scramCred
	gs2    string // the client-first message's GS2 header
	bare   string // client-first-message-bare
	first  string // server-first-message
	nonce  string // client nonce + server nonce
	authed string
}

func (s *scramExchange) Step(msg []byte) ([]byte, bool, error) {
	switch s.step {
	case 0:
		s.step++
		return s.clientFirst(string(msg))
	case 1:
		s.step++
		return s.clientFinal(string(msg))
	}
	return nil, false, fmt.Errorf("%w: SCRAM exchange already finished", ErrBadSASLMessage)
}

func (s *scramExchange) Principal() string { return s.authed }

func (s *scramExchange) clientFirst(msg string) ([]byte, bool, error) {
	// gs2-header: "n,," or "y,," (no channel binding), optional a=authzid.
	parts := strings.SplitN(msg, ",", 3)
	if len(parts) != 3 || (parts[0] != "n" && parts[0] != "y") {
		return nil, false, fmt.Errorf("%w: SCRAM client-first needs a gs2 header without channel binding", ErrBadSASLMessage)
	}
	s.gs2 = parts[0] + "," + parts[1] + ","
	s.bare = parts[2]
	attrs := strings.Split(s.bare, ",")
	if len(attrs) < 2 || !strings.HasPrefix(attrs[0], "n=") || !strings.HasPrefix(attrs[1], "r=") || len(attrs[1]) < 3 {
		return nil, false, fmt.Errorf("%w: SCRAM client-first needs n= and r=", ErrBadSASLMessage)
	}
	user, ok := scramUnescape(attrs[0][2:])
	if !ok || user == "" {
		return nil, false, fmt.Errorf("%w: SCRAM user name escaping", ErrBadSASLMessage)
	}
	if authz := parts[1]; authz != "" && authz != "a="+attrs[0][2:] {
		return nil, false, fmt.Errorf("%w: SCRAM user %q may not act as %q", ErrAuthFailed, user, authz)
	}
	s.user = user
	s.cred, s.known = s.lookup(user)
	s.nonce = attrs[1][2:] + base64.RawStdEncoding.EncodeToString(randomBytes(18))
	s.first = fmt.Sprintf("r=%s,s=%s,i=%d", s.nonce, base64.StdEncoding.EncodeToString(s.cred.salt), s.cred.iter)
	return []byte(s.first), false, nil
}

func (s *scramExchange) clientFinal(msg string) ([]byte, bool, error) {
	i := strings.LastIndex(msg, ",p=")
	if i < 0 {
		return nil, false, fmt.Errorf("%w: SCRAM client-final needs p=", ErrBadSASLMessage)
	}
	withoutProof, proofB64 := msg[:i], msg[i+3:]
	attrs := strings.Split(withoutProof, ",")
	if len(attrs) < 2 || attrs[0] != "c="+base64.StdEncoding.EncodeToString([]byte(s.gs2)) {
		return nil, false, fmt.Errorf("%w: SCRAM channel binding does not match the gs2 header", ErrBadSASLMessage)
	}
	// Kafka accepts a final nonce that ends with the combined one:
	// librdkafka (2.0.2 at least) sends its client nonce again in front.
	if !strings.HasPrefix(attrs[1], "r=") || !strings.HasSuffix(attrs[1], s.nonce) {
		return nil, false, fmt.Errorf("%w: SCRAM nonce does not match", ErrAuthFailed)
	}
	proof, err := base64.StdEncoding.DecodeString(proofB64)
	if err != nil || len(proof) != s.h.new().Size() {
		return nil, false, fmt.Errorf("%w: SCRAM proof encoding", ErrBadSASLMessage)
	}
	authMsg := []byte(s.bare + "," + s.first + "," + withoutProof)
	sig := hmacSum(s.h, s.cred.storedKey, authMsg)
	clientKey := make([]byte, len(proof))
	for j := range proof {
		clientKey[j] = proof[j] ^ sig[j]
	}
	if subtle.ConstantTimeCompare(hashSum(s.h, clientKey), s.cred.storedKey) != 1 || !s.known {
		return nil, false, fmt.Errorf("%w: %s user %q", ErrAuthFailed, s.h.name, s.user)
	}
	s.authed = s.user
	final := "v=" + base64.StdEncoding.EncodeToString(hmacSum(s.h, s.cred.serverKey, authMsg))
	return []byte(final), true, nil
}

// scramUnescape decodes a SCRAM saslname: "=2C" is ',', "=3D" is '=', and
// any other '=' is an error.
func scramUnescape(s string) (string, bool) {
	if !strings.Contains(s, "=") {
		return s, true
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '=' {
			b.WriteByte(s[i])
			continue
		}
		switch {
		case strings.HasPrefix(s[i:], "=2C"):
			b.WriteByte(',')
		case strings.HasPrefix(s[i:], "=3D"):
			b.WriteByte('=')
		default:
			return "", false
		}
		i += 2
	}
	return b.String(), true
}
