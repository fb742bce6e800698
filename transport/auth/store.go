package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode"
)

// Store holds the principals (users and their credentials, bearer
// tokens) and the ACL rules of one node. The zero Store is not usable;
// build one with NewStore. Its methods are safe for concurrent use.
type Store struct {
	now func() time.Time

	// edits serializes rule edits end to end (SetRules, AddRules,
	// DeleteRules, EditRules: read, persist, apply) and replacements
	// (Replace, ReplaceFrom: load, apply). Taken before mu; see lockEdits.
	edits     chan struct{}
	persister func(rules []Rule) error // WithRulePersister; nil: none

	mu     sync.RWMutex                        // protects users, tokens and rules
	users  map[string]map[Mechanism]Credential // user -> mechanism -> credential
	tokens map[string]TokenRecord              // token id -> record
	rules  []rule
}

// StoreOption configures a Store.
type StoreOption func(*Store)

// WithClock makes the store read the time from now (default time.Now):
// token expiry is judged by it.
func WithClock(now func() time.Time) StoreOption {
	return func(s *Store) {
		if now != nil {
			s.now = now
		}
	}
}

// NewStore returns an empty store: no users, no tokens, no rules (so,
// once something authenticates, everything is allowed).
func NewStore(opts ...StoreOption) *Store {
	s := &Store{now: time.Now, edits: make(chan struct{}, 1), users: map[string]map[Mechanism]Credential{}, tokens: map[string]TokenRecord{}}
	for _, o := range opts {
		if o != nil {
			o(s)
		}
	}
	return s
}

// validName checks a principal or user name: 1..255 printable
// characters, no spaces or colons (Basic and SASL PLAIN separators).
func validName(kind, n string) error {
	if n == "" || len(n) > 255 {
		return fmt.Errorf("%w: %s name must be 1 to 255 bytes", ErrInvalid, kind)
	}
	for _, r := range n {
		if r == ':' || r == ',' || r == '=' || !unicode.IsPrint(r) || unicode.IsSpace(r) {
			return fmt.Errorf("%w: %s name %q: spaces, control characters, ':', ',' and '=' are not allowed", ErrInvalid, kind, n)
		}
	}
	if n == "*" {
		return fmt.Errorf("%w: %s name \"*\" is reserved for rules", ErrInvalid, kind)
	}
	return nil
}

// AddUser adds a user with credentials for password under each mechanism
// (none given: both SCRAM-SHA-256 and SCRAM-SHA-512). The password is not
// kept. ErrExists if the user exists, ErrInvalid for a bad name or
// password.
func (s *Store) AddUser(name, password string, mechs ...Mechanism) error {
	if err := validName("user", name); err != nil {
		return err
	}
	if len(mechs) == 0 {
		mechs = Mechanisms()
	}
	creds := make([]Credential, 0, len(mechs))
	for _, m := range mechs {
		c, err := NewCredential(m, password, 0)
		if err != nil {
			return fmt.Errorf("auth: add user %q: %w", name, err)
		}
		creds = append(creds, c)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.users[name]; ok {
		return fmt.Errorf("auth: add user %q: %w", name, ErrExists)
	}
	s.setLocked(name, creds)
	return nil
}

// SetCredentials replaces (or creates) the credentials of user name with
// creds, as loaded from configuration: nothing is derived, each is
// validated and copied. ErrInvalid for a bad name, a malformed credential
// or none.
func (s *Store) SetCredentials(name string, creds ...Credential) error {
	if err := validName("user", name); err != nil {
		return err
	}
	if len(creds) == 0 {
		return fmt.Errorf("%w: user %q: no credentials", ErrInvalid, name)
	}
	for _, c := range creds {
		if err := c.validate(); err != nil {
			return fmt.Errorf("auth: user %q: %w", name, err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setLocked(name, creds)
	return nil
}

func (s *Store) setLocked(name string, creds []Credential) {
	m := make(map[Mechanism]Credential, len(creds))
	for _, c := range creds {
		m[c.Mechanism] = c.clone()
	}
	s.users[name] = m
}

// RemoveUser removes a user; ErrUnknownUser if there is none. Tokens of
// the principal are not touched (revoke them by id).
func (s *Store) RemoveUser(name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.users[name]; !ok {
		return fmt.Errorf("auth: remove user %q: %w", name, ErrUnknownUser)
	}
	delete(s.users, name)
	return nil
}

// Users returns the user names, sorted.
func (s *Store) Users() []string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]string, 0, len(s.users))
	for n := range s.users {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Credential returns a copy of user name's credential for m, for a SCRAM
// exchange; false if the user or the mechanism is unknown.
func (s *Store) Credential(name string, m Mechanism) (Credential, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	c, ok := s.users[name][m]
	if !ok {
		return Credential{}, false
	}
	return c.clone(), true
}

// VerifyPassword checks a PLAIN or Basic password by re-deriving a stored
// key (the SCRAM-SHA-512 one when both exist). ErrUnknownUser or
// ErrWrongPassword, wrapped with the user name.
func (s *Store) VerifyPassword(name, password string) error {
	s.mu.RLock()
	creds := s.users[name]
	c, ok := creds[SCRAMSHA512]
	if !ok {
		c, ok = creds[SCRAMSHA256]
	}
	s.mu.RUnlock()
	if !ok {
		return fmt.Errorf("auth: user %q: %w", name, ErrUnknownUser)
	}
	if !c.Verify(password) {
		return fmt.Errorf("auth: user %q: %w", name, ErrWrongPassword)
	}
	return nil
}

// TokenRecord is what the store keeps of a bearer token: never the token.
type TokenRecord struct {
	ID        string
	Principal string
	Hash      [sha256.Size]byte // SHA-256 of the whole token
	Created   time.Time
	Expires   time.Time // zero: never
	Revoked   bool
}

// String names the token by id and principal; the hash is not printed.
func (r TokenRecord) String() string {
	return fmt.Sprintf("token %s of %s", r.ID, r.Principal)
}

// GoString is String.
func (r TokenRecord) GoString() string { return r.String() }

const tokenPrefix = "oxb_"

// CreateToken makes a bearer token for principal valid for ttl (0: no
// expiry) and returns it with its record: the token is shown this once,
// the store keeps only its hash. ErrInvalid for a bad principal or a
// negative ttl.
func (s *Store) CreateToken(principal string, ttl time.Duration) (string, TokenRecord, error) {
	if err := validName("principal", principal); err != nil {
		return "", TokenRecord{}, err
	}
	if ttl < 0 {
		return "", TokenRecord{}, fmt.Errorf("%w: token lifetime %v is negative", ErrInvalid, ttl)
	}
	var idb [8]byte
	var secret [32]byte
	if _, err := rand.Read(idb[:]); err != nil {
		return "", TokenRecord{}, fmt.Errorf("auth: token id: %w", err)
	}
	if _, err := rand.Read(secret[:]); err != nil {
		return "", TokenRecord{}, fmt.Errorf("auth: token secret: %w", err)
	}
	id := hex.EncodeToString(idb[:])
	token := tokenPrefix + id + "_" + base64.RawURLEncoding.EncodeToString(secret[:])
	now := s.now()
	rec := TokenRecord{ID: id, Principal: principal, Hash: sha256.Sum256([]byte(token)), Created: now}
	if ttl > 0 {
		rec.Expires = now.Add(ttl)
	}
	if err := s.AddToken(rec); err != nil {
		return "", TokenRecord{}, err
	}
	return token, rec, nil
}

// AddToken adds a token record loaded from configuration. ErrInvalid for
// a bad id or principal, ErrExists for an id already present.
func (s *Store) AddToken(rec TokenRecord) error {
	if err := validName("principal", rec.Principal); err != nil {
		return err
	}
	if rec.ID == "" || strings.ContainsAny(rec.ID, "_") || len(rec.ID) > 64 {
		return fmt.Errorf("%w: token id %q", ErrInvalid, rec.ID)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.tokens[rec.ID]; ok {
		return fmt.Errorf("auth: token %s: %w", rec.ID, ErrExists)
	}
	s.tokens[rec.ID] = rec
	return nil
}

// RevokeToken marks token id revoked; ErrUnknownToken if there is none.
// The record is kept so a revoked token is told apart from a wrong one.
func (s *Store) RevokeToken(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.tokens[id]
	if !ok {
		return fmt.Errorf("auth: revoke token %s: %w", id, ErrUnknownToken)
	}
	rec.Revoked = true
	s.tokens[id] = rec
	return nil
}

// Tokens returns the token records, sorted by id.
func (s *Store) Tokens() []TokenRecord {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]TokenRecord, 0, len(s.tokens))
	for _, r := range s.tokens {
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// VerifyToken returns the principal of a bearer token. ErrUnknownToken
// (malformed, unknown id, hash mismatch), ErrTokenRevoked or
// ErrTokenExpired, wrapped with the token id only.
func (s *Store) VerifyToken(token string) (string, error) {
	rest, ok := strings.CutPrefix(token, tokenPrefix)
	id, _, ok2 := strings.Cut(rest, "_")
	if !ok || !ok2 || id == "" {
		return "", fmt.Errorf("auth: malformed token: %w", ErrUnknownToken)
	}
	s.mu.RLock()
	rec, found := s.tokens[id]
	s.mu.RUnlock()
	if !found {
		return "", fmt.Errorf("auth: token %.64s: %w", id, ErrUnknownToken)
	}
	sum := sha256.Sum256([]byte(token))
	if subtle.ConstantTimeCompare(sum[:], rec.Hash[:]) != 1 {
		return "", fmt.Errorf("auth: token %s: %w", id, ErrUnknownToken)
	}
	if rec.Revoked {
		return "", fmt.Errorf("auth: token %s: %w", id, ErrTokenRevoked)
	}
	if !rec.Expires.IsZero() && !s.now().Before(rec.Expires) {
		return "", fmt.Errorf("auth: token %s: %w", id, ErrTokenExpired)
	}
	return rec.Principal, nil
}

// SetRules replaces the whole rule set, compiling every rule first: on
// any bad rule (ErrInvalid, each problem reported) nothing changes. It is
// the loading of configuration: the rule persister is not called.
func (s *Store) SetRules(rules []Rule) error {
	compiled := make([]rule, 0, len(rules))
	var errs []error
	for _, r := range rules {
		c, err := compileRule(r)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		compiled = append(compiled, c)
	}
	if len(errs) > 0 {
		return joinErrs(errs)
	}
	defer s.lockEdits()()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rules = compiled
	return nil
}

// lockEdits takes the edit lock and returns its unlock. The lock is a
// channel of one slot rather than a sync.Mutex so that a goroutine
// waiting for it is durably blocked in a testing/synctest bubble: the
// ordering of edits and reloads is then testable without sleeps.
func (s *Store) lockEdits() (unlock func()) {
	s.edits <- struct{}{}
	return func() { <-s.edits }
}

// Authorize returns nil if principal may do op on the resource of type
// res named name (ignored for the cluster), else ErrForbidden wrapped
// with what was refused. With no rules at all everything is allowed.
func (s *Store) Authorize(principal string, res Resource, name string, op Operation) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if len(s.rules) == 0 {
		return nil
	}
	for _, r := range s.rules {
		if r.allows(principal, res, name, op) {
			return nil
		}
	}
	if res == ResourceCluster {
		return fmt.Errorf("auth: %q may not %s the cluster: %w", principal, op, ErrForbidden)
	}
	return fmt.Errorf("auth: %q may not %s %s %q: %w", principal, op, res, name, ErrForbidden)
}

// AuthorizeAny reports, as Kafka's authorizeByResourceType, whether some
// rule allows principal op on some resource of type res, whatever its
// name (with no rules at all, everything is allowed): an idempotent
// producer needs idempotent-write on the cluster or write on any topic.
// nil or ErrForbidden.
func (s *Store) AuthorizeAny(principal string, res Resource, op Operation) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if len(s.rules) == 0 {
		return nil
	}
	for _, r := range s.rules {
		if r.grants(principal, res, op) {
			return nil
		}
	}
	return fmt.Errorf("auth: %q may not %s any %s: %w", principal, op, res, ErrForbidden)
}

// HasRules reports whether any rule is set (so deny-by-default applies).
func (s *Store) HasRules() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.rules) > 0
}
