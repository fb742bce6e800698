package dlq

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// All is the Filter.Limit that puts no practical bound on the letters
// selected.
const All = math.MaxInt

// Filter selects letters. Every non-zero field must match; a zero field
// matches everything. Letters are always visited oldest (lowest ID) first.
type Filter struct {
	// Topic matches the letter's original topic exactly.
	Topic string
	// Group matches the letter's consumer group exactly.
	Group string
	// ErrorContains matches letters whose (redacted) Error contains it,
	// case-sensitively.
	ErrorContains string
	// Since and Until bound DeadLetteredAt: Since inclusive, Until
	// exclusive.
	Since, Until time.Time
	// IDs, when not empty, selects only letters with these ids.
	IDs []uint64
	// AfterID selects only letters with a greater id: the cursor of a
	// paged listing (the last id of the previous page).
	AfterID uint64
	// Limit is the most letters selected. It has no default: 0 selects
	// none, All selects every match, and a negative limit is an error
	// (ErrInvalidFilter). This is deliberate: a forgotten limit never
	// purges or replays the whole queue.
	Limit int
}

func (f *Filter) validate() error {
	if f.Limit < 0 {
		return fmt.Errorf("%w: limit %d is negative (use 0 for none, All for every letter)", ErrInvalidFilter, f.Limit)
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && f.Until.Before(f.Since) {
		return fmt.Errorf("%w: until %v is before since %v", ErrInvalidFilter, f.Until, f.Since)
	}
	return nil
}

// needsLetter reports whether matching needs the decoded letter, beyond
// its id.
func (f *Filter) needsLetter() bool {
	return f.Topic != "" || f.Group != "" || f.ErrorContains != "" || !f.Since.IsZero() || !f.Until.IsZero()
}

// sortedIDs returns f.IDs sorted without duplicates, in a new slice.
func (f *Filter) sortedIDs() []uint64 {
	ids := slices.Clone(f.IDs)
	slices.Sort(ids)
	return slices.Compact(ids)
}

// match reports whether l matches every field but IDs and Limit.
func (f *Filter) match(l *Letter) bool {
	switch {
	case f.Topic != "" && l.Topic != f.Topic,
		f.Group != "" && l.Group != f.Group,
		f.ErrorContains != "" && !strings.Contains(l.Error, f.ErrorContains),
		!f.Since.IsZero() && l.DeadLetteredAt.Before(f.Since),
		!f.Until.IsZero() && !l.DeadLetteredAt.Before(f.Until):
		return false
	}
	return true
}
