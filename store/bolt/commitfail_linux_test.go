package bolt_test

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"github.com/onexbus/onexbus/store"
)

// TestFailedCommitStopsWritesUntilReopen makes bbolt's own write fail
// for real: the store's file descriptor is swapped for a pipe (pwrite on
// a pipe fails with ESPIPE) for one Update, then swapped back. That
// Update, and every later one, fails with store.ErrCommitFailed although
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

	fd := fileDescriptorOf(t, path)
	saved, err := syscall.Dup(fd)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(saved)
	var pipe [2]int
	if err := syscall.Pipe(pipe[:]); err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(pipe[0])
	defer syscall.Close(pipe[1])
	if err := syscall.Dup3(pipe[1], fd, 0); err != nil {
		t.Fatal(err)
	}
	failed := put(s, "failed", "no")
	if err := syscall.Dup3(saved, fd, 0); err != nil {
		t.Fatal(err)
	}
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

// fileDescriptorOf finds the descriptor this process holds on path.
func fileDescriptorOf(t *testing.T, path string) int {
	t.Helper()
	want, err := filepath.EvalSymlinks(path)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	found := -1
	for _, e := range entries {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		if err != nil || target != want {
			continue
		}
		fd, err := strconv.Atoi(e.Name())
		if err != nil {
			t.Fatal(err)
		}
		if found >= 0 {
			t.Fatalf("two descriptors on %s (%d and %d)", path, found, fd)
		}
		found = fd
	}
	if found < 0 {
		t.Fatalf("no descriptor on %s", path)
	}
	return found
}
