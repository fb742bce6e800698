package storetest

import (
	"fmt"
	"slices"
	"testing"

	"github.com/onexbus/onexbus/store"
)

// update runs fn in an Update and fails the test on error.
func update(t *testing.T, s store.Store, fn func(store.Tx) error) {
	t.Helper()
	if err := s.Update(fn); err != nil {
		t.Fatalf("Update: %v", err)
	}
}

// view runs fn in a View and fails the test on error.
func view(t *testing.T, s store.Store, fn func(store.Tx) error) {
	t.Helper()
	if err := s.View(fn); err != nil {
		t.Fatalf("View: %v", err)
	}
}

// bucket creates the named bucket in tx.
func bucket(tx store.Tx, name string) (store.Bucket, error) {
	b, err := tx.CreateBucket([]byte(name))
	if err != nil {
		return nil, fmt.Errorf("create bucket %q: %w", name, err)
	}
	return b, nil
}

// putAll writes kv (key, value, key, value, ...) into the named bucket.
func putAll(t *testing.T, s store.Store, name string, kv ...string) {
	t.Helper()
	update(t, s, func(tx store.Tx) error {
		b, err := bucket(tx, name)
		if err != nil {
			return err
		}
		for i := 0; i+1 < len(kv); i += 2 {
			if err := b.Put([]byte(kv[i]), []byte(kv[i+1])); err != nil {
				return fmt.Errorf("put %q: %w", kv[i], err)
			}
		}
		return nil
	})
}

// dump returns every bucket, key and value as "bucket/key=value" lines in
// order, walking forwards, and checks that walking backwards agrees.
func dump(t *testing.T, s store.Store) []string {
	t.Helper()
	var out []string
	view(t, s, func(tx store.Tx) error {
		return tx.ForEachBucket(func(name []byte) error {
			b := tx.Bucket(name)
			if b == nil {
				return fmt.Errorf("ForEachBucket named %q but Bucket returned nil", name)
			}
			var fwd, back []string
			c := b.Cursor()
			for k, v := c.First(); k != nil; k, v = c.Next() {
				fwd = append(fwd, fmt.Sprintf("%s/%s=%s", name, k, v))
			}
			for k, v := c.Last(); k != nil; k, v = c.Prev() {
				back = append(back, fmt.Sprintf("%s/%s=%s", name, k, v))
			}
			slices.Reverse(back)
			if !slices.Equal(fwd, back) {
				return fmt.Errorf("bucket %q: forward walk %q, backward walk %q", name, fwd, back)
			}
			if len(fwd) == 0 {
				fwd = []string{fmt.Sprintf("%s/", name)}
			}
			out = append(out, fwd...)
			return nil
		})
	})
	return out
}

// wantDump fails the test if the store's dump differs from want.
func wantDump(t *testing.T, s store.Store, want ...string) {
	t.Helper()
	if got := dump(t, s); !slices.Equal(got, want) {
		t.Fatalf("store content:\n got %q\nwant %q", got, want)
	}
}

// str renders a key or value for comparison, keeping nil apart from empty.
func str(b []byte) string {
	if b == nil {
		return "<nil>"
	}
	return string(b)
}
