package auth

import (
	"fmt"
	"slices"
)

// WithRulePersister makes rule edits through AddRules, DeleteRules and
// EditRules durable: persist is called with the complete new rule set
// before the change is applied, and its error refuses the change (the
// store keeps the old set and the edit returns the error). onexbusd
// writes the rules into its configuration file atomically. Edits are
// serialized, so persist sees them one at a time in the order they are
// applied. SetRules (loading configuration) does not call it.
func WithRulePersister(persist func(rules []Rule) error) StoreOption {
	return func(s *Store) { s.persister = persist }
}

// Rules returns a copy of the rule set, in order.
func (s *Store) Rules() []Rule {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]Rule, len(s.rules))
	for i, r := range s.rules {
		out[i] = r.src
		out[i].Operations = slices.Clone(r.src.Operations)
	}
	return out
}

// AddRules appends rules to the rule set, skipping any equal to one
// already there (same principal, resource, pattern and set of
// operations), so adding twice is adding once. Every rule is checked
// first (ErrInvalid, each problem reported); then the persister, if any,
// gets the new set and may refuse it. Nothing changes on error.
func (s *Store) AddRules(rules ...Rule) error {
	return s.EditRules(func(old []Rule) ([]Rule, error) {
		out := old
		for _, r := range rules {
			if !slices.ContainsFunc(out, func(o Rule) bool { return sameRule(o, r) }) {
				out = append(out, r)
			}
		}
		return out, nil
	})
}

// DeleteRules removes every rule match reports true for and returns the
// removed ones. The persister, if any, gets the remaining set first and
// may refuse it; then nothing is removed and the error is returned.
// Removing nothing is not an error and does not call the persister.
func (s *Store) DeleteRules(match func(Rule) bool) ([]Rule, error) {
	if match == nil {
		return nil, fmt.Errorf("%w: delete rules: nil match", ErrInvalid)
	}
	var removed []Rule
	err := s.EditRules(func(old []Rule) ([]Rule, error) {
		removed = nil
		kept := make([]Rule, 0, len(old))
		for _, r := range old {
			if match(r) {
				removed = append(removed, r)
			} else {
				kept = append(kept, r)
			}
		}
		return kept, nil
	})
	if err != nil {
		return nil, err
	}
	return removed, nil
}

// EditRules replaces the rule set with what edit makes of a copy of it,
// as one serialized step: edit runs, the result is compiled (ErrInvalid
// for bad rules), the persister gets it, and only then is it applied. An
// error from edit, the compile or the persister leaves the set as it was.
// An edit that returns a set equal to the old one changes nothing and
// skips the persister. edit must not call the store's rule methods.
func (s *Store) EditRules(edit func(old []Rule) ([]Rule, error)) error {
	if edit == nil {
		return fmt.Errorf("%w: edit rules: nil edit", ErrInvalid)
	}
	defer s.lockEdits()()
	old := s.Rules()
	next, err := edit(s.Rules())
	if err != nil {
		return fmt.Errorf("auth: edit rules: %w", err)
	}
	if slices.EqualFunc(old, next, sameRuleOrdered) {
		return nil
	}
	compiled := make([]rule, 0, len(next))
	var errs []error
	for _, r := range next {
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
	if s.persister != nil {
		copied := make([]Rule, len(compiled))
		for i, c := range compiled {
			copied[i] = c.src
			copied[i].Operations = slices.Clone(c.src.Operations)
		}
		if err := s.persister(copied); err != nil {
			return fmt.Errorf("auth: persist %d rules: %w", len(copied), err)
		}
	}
	s.mu.Lock()
	s.rules = compiled
	s.mu.Unlock()
	return nil
}

// sameRule reports whether a and b grant the same: equal principal,
// resource and pattern (ignored for the cluster) and the same set of
// operations in any order.
func sameRule(a, b Rule) bool {
	if a.Principal != b.Principal || a.Resource != b.Resource {
		return false
	}
	if a.Resource != ResourceCluster && a.Pattern != b.Pattern {
		return false
	}
	return opSet(a.Operations) == opSet(b.Operations)
}

func sameRuleOrdered(a, b Rule) bool {
	return a.Principal == b.Principal && a.Resource == b.Resource && a.Pattern == b.Pattern &&
		slices.Equal(a.Operations, b.Operations)
}

func opSet(ops []Operation) uint32 {
	var m uint32
	for _, o := range ops {
		if o < 32 {
			m |= 1 << o
		}
	}
	return m
}
