package broker

import (
	"crypto/hmac"
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

// scramCred is a user's stored SCRAM credential (RFC 5802), as the
// principal store keeps it: the password itself is not kept.
type scramCred struct {
	salt      []byte
	iter      int
	storedKey []byte
	serverKey []byte
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

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b) // never fails (crypto/rand)
	return b
}

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
