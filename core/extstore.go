package core

import (
	"errors"
	"fmt"

	"github.com/onexbus/onexbus/store"
)

// Extension storage: packages built on core (dispatch/schema keeps its
// schema registry here) store their state in the bus's own store, so it
// shares the bus's file, durability and backups, without seeing the
// log's or the dead-letter queue's buckets. Each extension gets one
// bucket named "ext." + its name; the log only reads its own "d/" and
// "i/" buckets and named buckets ("meta", "cursors", ...), and the
// dead-letter queue "dlq.*", so the namespaces cannot meet.
//
// The transactions are the store's: ExtUpdate is the store's one
// read-write transaction at a time, shared with the log's group commits,
// so keep it short; it is durable by the store's policy (fsync'd on bbolt
// unless the bus runs DurabilityNone) when it returns nil.

// ErrInvalidExtension is returned by ExtUpdate and ExtView for an
// extension name outside 1-64 characters of [a-z0-9_.-].
//
// It lives here rather than in errors.go because extension storage is
// one concept with its own file.
var ErrInvalidExtension = errors.New("onexbus: invalid extension name")

// ExtUpdate runs fn in a read-write transaction of the bus's store with
// the bucket of extension name, created on first use. If fn returns an
// error nothing it wrote is kept and ExtUpdate returns that error
// wrapped. Values given to Put must not be modified until ExtUpdate
// returns; never call the bus from fn. It returns ErrClosed once Close
// has begun and ErrInvalidExtension for a bad name.
func (b *Bus) ExtUpdate(name string, fn func(store.Bucket) error) error {
	if err := checkExtName(name); err != nil {
		return err
	}
	if b.closed.Load() {
		return ErrClosed
	}
	err := b.cfg.store.Update(func(tx store.Tx) error {
		bk, err := tx.CreateBucket(extBucket(name))
		if err != nil {
			return err
		}
		return fn(bk)
	})
	if err != nil {
		return fmt.Errorf("onexbus: extension %s: update: %w", name, b.wrapStoreErr(err))
	}
	return nil
}

// ExtView runs fn in a read-only transaction of the bus's store with the
// bucket of extension name, or nil when nothing was ever stored there.
// Byte slices it reads are valid only until fn returns: copy what you
// keep. It returns ErrClosed once Close has begun and
// ErrInvalidExtension for a bad name.
func (b *Bus) ExtView(name string, fn func(store.Bucket) error) error {
	if err := checkExtName(name); err != nil {
		return err
	}
	if b.closed.Load() {
		return ErrClosed
	}
	err := b.cfg.store.View(func(tx store.Tx) error { return fn(tx.Bucket(extBucket(name))) })
	if err != nil {
		return fmt.Errorf("onexbus: extension %s: view: %w", name, b.wrapStoreErr(err))
	}
	return nil
}

func extBucket(name string) []byte { return []byte("ext." + name) }

// wrapStoreErr maps the store's closed error (a Close racing the call)
// to the bus's.
func (b *Bus) wrapStoreErr(err error) error {
	if errors.Is(err, store.ErrClosed) {
		return fmt.Errorf("%w: %w", ErrClosed, err)
	}
	return err
}

func checkExtName(name string) error {
	if len(name) == 0 || len(name) > 64 {
		return fmt.Errorf("%w: %q (1-64 characters)", ErrInvalidExtension, name)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return fmt.Errorf("%w: %q (only [a-z0-9_.-])", ErrInvalidExtension, name)
		}
	}
	return nil
}
