package broker

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/onexbus/onexbus/transport/auth"
)

// storeUsers is the Authenticator of NewStoreAuthenticator.
type storeUsers struct {
	store  *auth.Store
	plain  bool
	secret []byte // keys the made-up credentials of unknown users
}

// NewStoreAuthenticator returns an Authenticator over store's users:
// SCRAM-SHA-512 and SCRAM-SHA-256 run on the stored credentials (salt,
// iterations, StoredKey, ServerKey; no password is kept anywhere), and
// PLAIN, offered only when allowPlain is set, verifies the password by
// re-deriving the stored key. Each exchange reads the store afresh, so
// users added, changed or removed take effect at the next
// authentication. An unknown user's SCRAM exchange runs to the proof with
// made-up credentials, so a client cannot tell an unknown user from a
// wrong password. The authenticated
// principal is the user name, the one the store's ACLs name.
func NewStoreAuthenticator(store *auth.Store, allowPlain bool) (Authenticator, error) {
	if store == nil {
		return nil, fmt.Errorf("%w: nil principal store", ErrInvalidOption)
	}
	return &storeUsers{store: store, plain: allowPlain, secret: randomBytes(32)}, nil
}

func (a *storeUsers) Mechanisms() []string {
	if a.plain {
		return []string{MechanismSCRAMSHA512, MechanismSCRAMSHA256, MechanismPlain}
	}
	return []string{MechanismSCRAMSHA512, MechanismSCRAMSHA256}
}

func (a *storeUsers) Start(mechanism string) (Exchange, error) {
	switch {
	case mechanism == MechanismPlain && a.plain:
		return &storePlainExchange{store: a.store}, nil
	case mechanism == MechanismSCRAMSHA256:
		return &scramExchange{h: scram256, lookup: a.lookup(scram256, auth.SCRAMSHA256)}, nil
	case mechanism == MechanismSCRAMSHA512:
		return &scramExchange{h: scram512, lookup: a.lookup(scram512, auth.SCRAMSHA512)}, nil
	}
	return nil, fmt.Errorf("%w: %q (offered: %s)", ErrUnsupportedMechanism, mechanism, strings.Join(a.Mechanisms(), ", "))
}

// lookup returns the stored credential of a user for m; an unknown user
// (or one without a credential for m) gets a stable made-up salt, so the
// exchange fails only at the proof.
func (a *storeUsers) lookup(h scramHash, m auth.Mechanism) func(string) (scramCred, bool) {
	return func(user string) (scramCred, bool) {
		if c, ok := a.store.Credential(user, m); ok {
			return scramCred{salt: c.Salt, iter: c.Iterations, storedKey: c.StoredKey, serverKey: c.ServerKey}, true
		}
		salt := hmacSum(h, a.secret, []byte(user))[:24]
		return scramCred{salt: salt, iter: scramIterations, storedKey: randomBytes(h.new().Size()), serverKey: randomBytes(h.new().Size())}, false
	}
}

// storePlainExchange is RFC 4616 checked against the store.
type storePlainExchange struct {
	store *auth.Store
	user  string
}

func (p *storePlainExchange) Step(msg []byte) ([]byte, bool, error) {
	parts := bytes.Split(msg, []byte{0})
	if len(parts) != 3 || len(parts[1]) == 0 {
		return nil, false, fmt.Errorf("%w: PLAIN wants authzid NUL user NUL password", ErrBadSASLMessage)
	}
	authz, user := string(parts[0]), string(parts[1])
	if authz != "" && authz != user {
		return nil, false, fmt.Errorf("%w: PLAIN user %q may not act as %q", ErrAuthFailed, user, authz)
	}
	// The store's error names the user, never the password.
	if err := p.store.VerifyPassword(user, string(parts[2])); err != nil {
		return nil, false, fmt.Errorf("%w: PLAIN: %w", ErrAuthFailed, err)
	}
	p.user = user
	return nil, true, nil
}

func (p *storePlainExchange) Principal() string { return p.user }
