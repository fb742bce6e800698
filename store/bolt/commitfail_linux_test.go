package bolt_test

import (
	"errors"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/onexbus/onexbus/internal/testutil"
	"github.com/onexbus/onexbus/store"
)

// TestFailedCommitStopsWritesUntilReopen makes bbolt's own write fail
// for real (testutil.FailWrites: pwrite fails with ESPIPE) for one
// Update, then lets it work again. That Update, and every later one, fails with store.ErrCommitFailed although
// the file works again: after a failed write or fsync only a reopen knows
// what the disk holds. Views go on and never show the failed write. After
// a reopen the committed key is there, the failed one is not, and writes
// work.
func TestFailedCommitStopsWritesUntilReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	s := open(t, path)
	put := func(s store.Store, k, v string) error {
		return s.Update(func(tx store.Tx) error {
			b, err := tx.CreateBucket([]byte("b"))
			if err != nil {
				return err
			}
			return b.Put([]byte(k), []byte(v))
		})
	}
	get := func(s store.Store, k string) (v string) {
		t.Helper()
		if err := s.View(func(tx store.Tx) error {
			if b := tx.Bucket([]byte("b")); b != nil {
				v = string(b.Get([]byte(k)))
			}
			return nil
		}); err != nil {
			t.Fatalf("View: %v", err)
		}
		return v
	}
	if err := put(s, "committed", "yes"); err != nil {
		t.Fatal(err)
	}

	restore := testutil.FailWrites(t, path)
	failed := put(s, "failed", "no")
	restore()
	if !errors.Is(failed, store.ErrCommitFailed) || !errors.Is(failed, syscall.ESPIPE) {
		t.Fatalf("Update with a failing write: %v, want ErrCommitFailed wrapping ESPIPE", failed)
	}
	if err := put(s, "after", "no"); !errors.Is(err, store.ErrCommitFailed) {
		t.Fatalf("Update after the failed commit, file working again: %v, want ErrCommitFailed", err)
	}
	if v := get(s, "committed"); v != "yes" {
		t.Fatalf("View after the failure: committed = %q, want yes", v)
	}
	if v := get(s, "failed"); v != "" {
		t.Fatalf("View shows the write whose commit failed: %q", v)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = open(t, path)
	defer s.Close()
	if v := get(s, "committed"); v != "yes" {
		t.Fatalf("after reopen: committed = %q, want yes", v)
	}
	for _, k := range []string{"failed", "after"} {
		if v := get(s, k); v != "" {
			t.Fatalf("after reopen: %s = %q, want absent", k, v)
		}
	}
	if err := put(s, "reopened", "yes"); err != nil {
		t.Fatalf("Update after reopen: %v", err)
	}
}
