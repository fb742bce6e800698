package dispatch

import (
	"fmt"
	"slices"
	"sync"

	"github.com/onexbus/onexbus/core"
)

// DomainConstraint says which domains may consume a message type.
type DomainConstraint struct {
	// Owner is the domain that owns the type; it may always consume it.
	Owner string
	// AllowedCrossDomains may consume it too.
	AllowedCrossDomains []string
	// AllowAll lets every domain consume it.
	AllowAll bool
}

func (c DomainConstraint) equal(o DomainConstraint) bool {
	return c.Owner == o.Owner && c.AllowAll == o.AllowAll && equalSets(c.AllowedCrossDomains, o.AllowedCrossDomains)
}

func (c DomainConstraint) allows(domain string) bool {
	return c.AllowAll || domain == c.Owner || slices.Contains(c.AllowedCrossDomains, domain)
}

// TypeEntry describes one message type.
type TypeEntry struct {
	// MessageType is the event_type the entry is for.
	MessageType string
	// HandlerIDs are the dispatchers that handle it (at least one).
	HandlerIDs []string
	// Categories it may travel in (at least one).
	Categories []core.Category
	// Domain constrains who consumes it.
	Domain DomainConstraint
	// Disabled types are refused by lookups.
	Disabled bool
}

// Registry is the message-type registry. It is safe for concurrent use.
type Registry struct {
	mu      sync.RWMutex // protects entries
	entries map[string]*TypeEntry
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{entries: map[string]*TypeEntry{}} }

// Register adds e, or merges its handlers into the entry of the same type.
// It returns ErrInvalid for an entry without a type, handlers or
// categories, or without an owning domain unless AllowAll; and
// ErrConstraintConflict when the type exists with other categories, a
// different domain constraint or another Disabled.
func (r *Registry) Register(e TypeEntry) error {
	switch {
	case e.MessageType == "":
		return fmt.Errorf("%w: entry without a message type", ErrInvalid)
	case len(e.HandlerIDs) == 0:
		return fmt.Errorf("%w: message type %q has no handlers", ErrInvalid, e.MessageType)
	case len(e.Categories) == 0:
		return fmt.Errorf("%w: message type %q has no categories", ErrInvalid, e.MessageType)
	case e.Domain.Owner == "" && !e.Domain.AllowAll:
		return fmt.Errorf("%w: message type %q has no owning domain", ErrInvalid, e.MessageType)
	}
	for _, c := range e.Categories {
		if c == core.CategoryNone {
			return fmt.Errorf("%w: message type %q lists no category", ErrInvalid, e.MessageType)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.entries[e.MessageType]
	if old == nil {
		c := e
		c.HandlerIDs = dedup(e.HandlerIDs)
		c.Categories = slices.Clone(e.Categories)
		c.Domain.AllowedCrossDomains = slices.Clone(e.Domain.AllowedCrossDomains)
		r.entries[e.MessageType] = &c
		return nil
	}
	if !old.Domain.equal(e.Domain) || !equalSets(old.Categories, e.Categories) || old.Disabled != e.Disabled {
		return fmt.Errorf("%w: %q", ErrConstraintConflict, e.MessageType)
	}
	old.HandlerIDs = dedup(append(old.HandlerIDs, e.HandlerIDs...))
	return nil
}

// Entry returns a copy of the entry for msgType.
func (r *Registry) Entry(msgType string) (TypeEntry, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	e := r.entries[msgType]
	if e == nil {
		return TypeEntry{}, false
	}
	c := *e
	c.HandlerIDs = slices.Clone(e.HandlerIDs)
	return c, true
}

// Handlers returns the handlers of msgType for a message in category
// consumed by domain. It returns ErrUnknownType, ErrTypeDisabled,
// ErrCategoryNotAllowed or ErrDomainNotAllowed.
func (r *Registry) Handlers(msgType string, category core.Category, domain string) ([]string, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	e := r.entries[msgType]
	switch {
	case e == nil:
		return nil, fmt.Errorf("%w: %q", ErrUnknownType, msgType)
	case e.Disabled:
		return nil, fmt.Errorf("%w: %q", ErrTypeDisabled, msgType)
	case !slices.Contains(e.Categories, category):
		return nil, fmt.Errorf("%w: %q in %s (allowed: %v)", ErrCategoryNotAllowed, msgType, category, e.Categories)
	case !e.Domain.allows(domain):
		return nil, fmt.Errorf("%w: %q by domain %q (owner %q)", ErrDomainNotAllowed, msgType, domain, e.Domain.Owner)
	}
	return slices.Clone(e.HandlerIDs), nil
}

// DomainOf is the domain of a topic by the ONEX grammars (onex.<kind>.<d>.…,
// <env>.<d>.…, onex.<d>.…), or "" for a topic outside them.
func DomainOf(topic string) string {
	t, err := core.ParseTopic(topic)
	if err != nil {
		return ""
	}
	return t.Domain
}

func dedup[T comparable](xs []T) []T {
	out := make([]T, 0, len(xs))
	for _, x := range xs {
		if !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}

func equalSets[T comparable](a, b []T) bool {
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	for _, x := range b {
		if !slices.Contains(a, x) {
			return false
		}
	}
	return true
}
