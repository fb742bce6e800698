package auth

import (
	"fmt"
	"strings"

	"github.com/onexbus/onexbus/core"
)

// AuthorizePattern is Authorize for a subscription pattern rather than
// one name: it returns nil only if a single rule allows op on every name
// the pattern can match (with no rules at all, everything is allowed), so
// a subscription to "orders.**" needs a rule on "orders.**" or "**", not
// one on "orders.*". ErrInvalid for a bad pattern, else ErrForbidden.
func (s *Store) AuthorizePattern(principal string, res Resource, pattern string, op Operation) error {
	if res != ResourceTopic && res != ResourceGroup {
		return fmt.Errorf("%w: %s has no patterns", ErrInvalid, res)
	}
	if _, err := core.CompilePattern(pattern); err != nil {
		return fmt.Errorf("%w: pattern: %w", ErrInvalid, err)
	}
	want := strings.Split(pattern, ".")
	s.mu.RLock()
	defer s.mu.RUnlock()
	if len(s.rules) == 0 {
		return nil
	}
	for _, r := range s.rules {
		if r.grants(principal, res, op) && covers(strings.Split(r.pattern.String(), "."), want) {
			return nil
		}
	}
	return fmt.Errorf("auth: %q may not %s every %s matching %q: %w", principal, op, res, pattern, ErrForbidden)
}

// covers reports whether every topic matched by the pattern segments p is
// also matched by the rule segments r: the language of p is included in
// that of r. "**" in r absorbs any run of p's segments (wildcards
// included); "*" in r covers one literal or "*" segment of p; a literal
// covers only itself; "**" in p is covered only by "**" in r.
func covers(r, p []string) bool {
	// at[i][j]: r[i:] covers p[j:]; filled from the ends, so the run is
	// O(len(r)*len(p)) whatever the wildcards.
	at := make([][]bool, len(r)+1)
	for i := range at {
		at[i] = make([]bool, len(p)+1)
	}
	at[len(r)][len(p)] = true
	for i := len(r) - 1; i >= 0; i-- {
		for j := len(p); j >= 0; j-- {
			switch {
			case r[i] == "**":
				at[i][j] = at[i+1][j] || (j < len(p) && at[i][j+1])
			case j == len(p) || p[j] == "**":
				at[i][j] = false
			case r[i] == "*" || r[i] == p[j]:
				at[i][j] = at[i+1][j+1]
			}
		}
	}
	return at[0][0]
}
