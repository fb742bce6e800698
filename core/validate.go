package core

import (
	"sync"
	"sync/atomic"
)

// PublishValidator checks the content of each message a Publish,
// PublishBatch or PublishAsync is about to store (a schema registry
// validating values against their topic's schema is the model). It sees
// the message after the header defaults are applied (event_type is set)
// and before it is encoded; a non-nil error refuses the publish (the
// publisher gets it wrapped, nothing of that call is stored from that
// message on, as for any bad message of a batch).
//
// Implementers: ValidatePublish runs on the publisher's goroutine,
// concurrently with itself, without the bus's locks held; it must not
// modify m, block, or call the bus. It has no context: validation is
// CPU work on the message alone. Records produced through the Kafka
// listener are not Bus publishes and never reach it; the broker calls
// its own validator on them.
type PublishValidator interface {
	ValidatePublish(m *Message) error
}

// validators is the set of installed validators (a field of Bus),
// swapped as a whole so the publish path reads it with one atomic load.
type validators struct {
	mu   sync.Mutex // serialises AddPublishValidator and its removals
	list atomic.Pointer[[]*validatorEntry]
}

// validatorEntry gives each installation an identity of its own (the
// validator's dynamic type need not be comparable).
type validatorEntry struct{ v PublishValidator }

// AddPublishValidator installs v in front of every Publish, PublishBatch
// and PublishAsync of the bus, after any installed before it, and
// returns the function that removes it again (idempotent). A bus without
// validators pays one atomic load per message.
func (b *Bus) AddPublishValidator(v PublishValidator) (remove func()) {
	vs := &b.pubv
	vs.mu.Lock()
	defer vs.mu.Unlock()
	e := &validatorEntry{v: v}
	var next []*validatorEntry
	if cur := vs.list.Load(); cur != nil {
		next = append(next, *cur...)
	}
	next = append(next, e)
	vs.list.Store(&next)
	return func() {
		vs.mu.Lock()
		defer vs.mu.Unlock()
		var kept []*validatorEntry
		for _, q := range *vs.list.Load() {
			if q != e {
				kept = append(kept, q)
			}
		}
		vs.list.Store(&kept)
	}
}

// checkMessage validates m's headers, then its content with the
// installed validators (prepare's one call).
func (b *Bus) checkMessage(m *Message) error {
	if err := m.Headers.Validate(); err != nil {
		return err
	}
	if list := b.pubv.list.Load(); list != nil {
		for _, e := range *list {
			if err := e.v.ValidatePublish(m); err != nil {
				return err
			}
		}
	}
	return nil
}
