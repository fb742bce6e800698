package auth

import (
	"errors"
	"fmt"
)

// Snapshot is the whole content of a Store as configuration holds it:
// users with their stored credentials, token records and rules. Replace
// installs one in a single step.
type Snapshot struct {
	// Users maps a user name to its credentials (at least one each).
	Users map[string][]Credential
	// Tokens are the bearer token records (hashes, never tokens).
	Tokens []TokenRecord
	// Rules are the ACL rules; none means authentication alone.
	Rules []Rule
}

// Replace swaps the store's users, credentials, tokens and rules for
// snapshot's in one step, as a configuration reload (SIGHUP) does. The
// snapshot is validated whole first: a bad user name, a malformed
// credential, a user without credentials, a bad or duplicate token id, a
// token of a bad principal or a bad rule is reported (every problem at
// once, wrapping ErrInvalid) and the store keeps its old state. Requests
// that authenticated before the swap keep their principal; the next
// authentication and authorization see the new state. A rule persister
// (WithRulePersister) is not called: the snapshot comes from where rules
// are persisted.
func (s *Store) Replace(snapshot Snapshot) error {
	defer s.lockEdits()()
	return s.replace(snapshot)
}

// ReplaceFrom is Replace of the snapshot load returns, with rule edits
// (AddRules, DeleteRules, EditRules, SetRules) held off from before load
// runs until the swap is done. A reload that reads the configuration file
// inside load therefore sees every edit a persister wrote to it, and no
// edit can persist between its read and its swap (which would undo that
// edit in memory while the file keeps it). An error from load is
// returned as it is and changes nothing. load must not call the store's
// rule methods.
func (s *Store) ReplaceFrom(load func() (Snapshot, error)) error {
	if load == nil {
		return fmt.Errorf("%w: replace: nil load", ErrInvalid)
	}
	defer s.lockEdits()()
	snapshot, err := load()
	if err != nil {
		return err
	}
	return s.replace(snapshot)
}

// replace is Replace with the edit lock held.
func (s *Store) replace(snapshot Snapshot) error {
	var errs []error
	users := make(map[string]map[Mechanism]Credential, len(snapshot.Users))
	for name, creds := range snapshot.Users {
		if err := validName("user", name); err != nil {
			errs = append(errs, err)
			continue
		}
		if len(creds) == 0 {
			errs = append(errs, fmt.Errorf("%w: user %q: no credentials", ErrInvalid, name))
			continue
		}
		m := make(map[Mechanism]Credential, len(creds))
		for _, c := range creds {
			if err := c.validate(); err != nil {
				errs = append(errs, fmt.Errorf("auth: user %q: %w", name, err))
				continue
			}
			if _, dup := m[c.Mechanism]; dup {
				errs = append(errs, fmt.Errorf("%w: user %q: two %s credentials", ErrInvalid, name, c.Mechanism))
				continue
			}
			m[c.Mechanism] = c.clone()
		}
		users[name] = m
	}
	tokens := make(map[string]TokenRecord, len(snapshot.Tokens))
	for _, rec := range snapshot.Tokens {
		if err := validToken(rec); err != nil {
			errs = append(errs, err)
			continue
		}
		if _, dup := tokens[rec.ID]; dup {
			errs = append(errs, fmt.Errorf("%w: token %s given twice", ErrInvalid, rec.ID))
			continue
		}
		tokens[rec.ID] = rec
	}
	rules := make([]rule, 0, len(snapshot.Rules))
	for _, r := range snapshot.Rules {
		c, err := compileRule(r)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		rules = append(rules, c)
	}
	if len(errs) > 0 {
		return fmt.Errorf("auth: replace: %d problems, nothing changed: %w", len(errs), errors.Join(errs...))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users, s.tokens, s.rules = users, tokens, rules
	return nil
}

// validToken checks a token record loaded from configuration.
func validToken(rec TokenRecord) error {
	if err := validName("principal", rec.Principal); err != nil {
		return fmt.Errorf("auth: token %.64s: %w", rec.ID, err)
	}
	if rec.ID == "" || len(rec.ID) > 64 {
		return fmt.Errorf("%w: token id %.64q must be 1 to 64 bytes", ErrInvalid, rec.ID)
	}
	for _, r := range rec.ID {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '-') {
			return fmt.Errorf("%w: token id %.64q: only letters, digits and '-'", ErrInvalid, rec.ID)
		}
	}
	return nil
}
