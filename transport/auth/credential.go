package auth

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"fmt"
	"hash"
)

// Mechanism is a SCRAM variant a credential is derived for.
type Mechanism string

// The SCRAM mechanisms, named as SASL names them.
const (
	SCRAMSHA256 Mechanism = "SCRAM-SHA-256"
	SCRAMSHA512 Mechanism = "SCRAM-SHA-512"
)

// Mechanisms lists the supported mechanisms, strongest last.
func Mechanisms() []Mechanism { return []Mechanism{SCRAMSHA256, SCRAMSHA512} }

// DefaultIterations is the PBKDF2 iteration count of new credentials
// (Kafka's default and minimum for SCRAM is 4096).
const DefaultIterations = 4096

// MinIterations is the lowest iteration count a credential may have.
const MinIterations = 4096

// maxIterations bounds the work one verification may cost.
const maxIterations = 1 << 20

// saltSize is the length of a new credential's random salt.
const saltSize = 24

// Hash returns the hash function of m, or false for an unknown mechanism.
func (m Mechanism) Hash() (func() hash.Hash, bool) {
	switch m {
	case SCRAMSHA256:
		return sha256.New, true
	case SCRAMSHA512:
		return sha512.New, true
	}
	return nil, false
}

// Credential is a stored SCRAM credential (RFC 5802 §3): enough to run a
// SCRAM exchange as the server and to verify a PLAIN or Basic password,
// never enough to recover the password. Its String is redacted.
type Credential struct {
	Mechanism  Mechanism
	Salt       []byte
	Iterations int
	StoredKey  []byte // H(HMAC(SaltedPassword, "Client Key"))
	ServerKey  []byte // HMAC(SaltedPassword, "Server Key")
}

// String names the mechanism and iterations only.
func (c Credential) String() string {
	return fmt.Sprintf("%s credential (%d iterations, keys redacted)", c.Mechanism, c.Iterations)
}

// GoString is String, so %#v does not print the keys either.
func (c Credential) GoString() string { return c.String() }

// NewCredential derives a credential for password with a fresh random
// salt and iterations (0 means DefaultIterations). It returns ErrInvalid
// for an unknown mechanism, an empty password or iterations out of
// [MinIterations, 2^20].
func NewCredential(m Mechanism, password string, iterations int) (Credential, error) {
	salt := make([]byte, saltSize)
	if _, err := rand.Read(salt); err != nil {
		return Credential{}, fmt.Errorf("auth: salt for %s: %w", m, err)
	}
	return DeriveCredential(m, password, salt, iterations)
}

// DeriveCredential derives the credential of password with the given salt
// (copied) and iterations (0 means DefaultIterations); see NewCredential.
func DeriveCredential(m Mechanism, password string, salt []byte, iterations int) (Credential, error) {
	if iterations == 0 {
		iterations = DefaultIterations
	}
	h, ok := m.Hash()
	switch {
	case !ok:
		return Credential{}, fmt.Errorf("%w: mechanism %q", ErrInvalid, string(m))
	case password == "":
		return Credential{}, fmt.Errorf("%w: empty password", ErrInvalid)
	case len(salt) == 0:
		return Credential{}, fmt.Errorf("%w: empty salt", ErrInvalid)
	case iterations < MinIterations || iterations > maxIterations:
		return Credential{}, fmt.Errorf("%w: %d iterations not in [%d, %d]", ErrInvalid, iterations, MinIterations, maxIterations)
	}
	salted, err := pbkdf2.Key(h, password, salt, iterations, h().Size())
	if err != nil {
		return Credential{}, fmt.Errorf("auth: derive %s key: %w", m, err)
	}
	clientKey := hmacSum(h, salted, "Client Key")
	sum := h()
	sum.Write(clientKey)
	return Credential{
		Mechanism:  m,
		Salt:       append([]byte(nil), salt...),
		Iterations: iterations,
		StoredKey:  sum.Sum(nil),
		ServerKey:  hmacSum(h, salted, "Server Key"),
	}, nil
}

// validate checks a credential loaded from configuration.
func (c Credential) validate() error {
	h, ok := c.Mechanism.Hash()
	switch {
	case !ok:
		return fmt.Errorf("%w: mechanism %q", ErrInvalid, string(c.Mechanism))
	case len(c.Salt) == 0:
		return fmt.Errorf("%w: %s credential without salt", ErrInvalid, c.Mechanism)
	case c.Iterations < MinIterations || c.Iterations > maxIterations:
		return fmt.Errorf("%w: %s credential: %d iterations not in [%d, %d]", ErrInvalid, c.Mechanism, c.Iterations, MinIterations, maxIterations)
	case len(c.StoredKey) != h().Size() || len(c.ServerKey) != h().Size():
		return fmt.Errorf("%w: %s credential: keys must be %d bytes", ErrInvalid, c.Mechanism, h().Size())
	}
	return nil
}

// Verify reports whether password derives c's StoredKey, comparing in
// constant time. A malformed credential verifies nothing.
func (c Credential) Verify(password string) bool {
	if password == "" || c.validate() != nil {
		return false
	}
	d, err := DeriveCredential(c.Mechanism, password, c.Salt, c.Iterations)
	if err != nil {
		return false
	}
	return subtle.ConstantTimeCompare(d.StoredKey, c.StoredKey) == 1
}

func (c Credential) clone() Credential {
	c.Salt = append([]byte(nil), c.Salt...)
	c.StoredKey = append([]byte(nil), c.StoredKey...)
	c.ServerKey = append([]byte(nil), c.ServerKey...)
	return c
}

func hmacSum(h func() hash.Hash, key []byte, msg string) []byte {
	m := hmac.New(h, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}
