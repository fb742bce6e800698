package faultstore

import (
	"fmt"
	"sync"
	"syscall"
	"time"

	"github.com/onexbus/onexbus/store"
)

// Kind is what a rule does to the transaction it fires on.
type Kind uint8

// Kinds of fault; see the package doc.
const (
	// KindCommit rolls the transaction back and fails it.
	KindCommit Kind = iota + 1
	// KindSyncLost rolls the transaction back and reports a failed fsync.
	KindSyncLost
	// KindSyncKept commits the transaction and reports a failed fsync.
	KindSyncKept
	// KindNoSpace rolls the transaction back and reports ENOSPC.
	KindNoSpace
)

// String names the kind for test output.
func (k Kind) String() string {
	switch k {
	case KindCommit:
		return "commit"
	case KindSyncLost:
		return "sync-lost"
	case KindSyncKept:
		return "sync-kept"
	case KindNoSpace:
		return "enospc"
	default:
		return fmt.Sprintf("kind(%d)", uint8(k))
	}
}

// Rule selects the read-write transactions that fail. Transactions are
// numbered from 1 in the order their Update calls start.
type Rule struct {
	// Kind is the fault injected.
	Kind Kind
	// At is the first transaction that fails (0 means the next one).
	At uint64
	// Count is how many transactions fail from At on; 0 means every one
	// until the rule is cleared (a disk that stays full).
	Count uint64
}

// Store is a store.Store that injects faults into another one. The zero
// value is not usable; call New.
type Store struct {
	inner store.Store

	mu sync.Mutex // protects the fields below
	n  uint64     // Update calls started
	// rule is the active rule; ok says there is one.
	rule    Rule
	ok      bool
	latency time.Duration
	stall   chan struct{} // closed to release a stall; nil when none
	fired   uint64        // faults injected so far
}

// New wraps inner. With no rule set the Store passes every call through.
func New(inner store.Store) *Store { return &Store{inner: inner} }

// Inner returns the wrapped store.
func (s *Store) Inner() store.Store { return s.inner }

// Fail sets the active rule, replacing any other. A zero At means the next
// Update. It returns the number of the first transaction that will fail.
func (s *Store) Fail(r Rule) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.At == 0 || r.At <= s.n {
		r.At = s.n + 1
	}
	s.rule, s.ok = r, true
	return r.At
}

// Clear removes the active rule: the disk works again.
func (s *Store) Clear() {
	s.mu.Lock()
	s.ok = false
	s.mu.Unlock()
}

// SetLatency delays every Update by d before it runs (0 removes it).
func (s *Store) SetLatency(d time.Duration) {
	s.mu.Lock()
	s.latency = d
	s.mu.Unlock()
}

// Stall blocks every Update that starts from now on until release is
// called. release is idempotent. A second Stall before release returns
// the first one's release.
func (s *Store) Stall() (release func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stall == nil {
		s.stall = make(chan struct{})
	}
	ch := s.stall
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			if s.stall == ch {
				s.stall = nil
			}
			s.mu.Unlock()
			close(ch)
		})
	}
}

// Commits returns the number of Update calls started so far.
func (s *Store) Commits() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

// Fired returns the number of faults injected so far.
func (s *Store) Fired() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fired
}

// next numbers an Update and returns the fault it gets (0 for none), the
// latency to add and the stall to wait for.
func (s *Store) next() (Kind, uint64, time.Duration, chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	n := s.n
	var k Kind
	if s.ok && n >= s.rule.At && (s.rule.Count == 0 || n < s.rule.At+s.rule.Count) {
		k = s.rule.Kind
		s.fired++
	}
	return k, n, s.latency, s.stall
}

// Update runs fn in the inner store's read-write transaction, injecting
// the active rule's fault; see the package doc.
func (s *Store) Update(fn func(store.Tx) error) error {
	kind, n, latency, stall := s.next()
	if stall != nil {
		<-stall
	}
	if latency > 0 {
		time.Sleep(latency)
	}
	if kind == 0 {
		return s.inner.Update(fn)
	}
	injected := injectedError(kind, n)
	if kind == KindSyncKept {
		if err := s.inner.Update(fn); err != nil {
			return err
		}
		return injected
	}
	err := s.inner.Update(func(tx store.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		return injected // roll back what fn wrote
	})
	return err
}

// injectedError is the error of a fault of kind on transaction n.
func injectedError(kind Kind, n uint64) error {
	switch kind {
	case KindSyncLost, KindSyncKept:
		return fmt.Errorf("faultstore: transaction %d (%s): %w: %w", n, kind, ErrInjected, ErrSync)
	case KindNoSpace:
		return fmt.Errorf("faultstore: transaction %d: %w: %w", n, ErrInjected, syscall.ENOSPC)
	default:
		return fmt.Errorf("faultstore: transaction %d: %w", n, ErrInjected)
	}
}

// View runs fn in the inner store's read-only transaction, after the
// latency (reads are never failed: a read fault is a corruption test,
// which store/bolt's corruption tests cover on real files).
func (s *Store) View(fn func(store.Tx) error) error {
	s.mu.Lock()
	latency := s.latency
	s.mu.Unlock()
	if latency > 0 {
		time.Sleep(latency)
	}
	return s.inner.View(fn)
}

// Close closes the inner store.
func (s *Store) Close() error { return s.inner.Close() }

var _ store.Store = (*Store)(nil)
