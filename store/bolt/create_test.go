package bolt_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/onexbus/onexbus/store"
	"github.com/onexbus/onexbus/store/bolt"
)

// An empty file where a store is expected is refused, not opened as an
// empty store (issue 9: a 0-byte data file opened as an empty bus). Open
// itself never leaves one: it builds a new file beside the path and
// renames it into place, and removes what a crash left of that.
func TestEmptyFileRefused(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "onexbus.db")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := bolt.Open(path)
	if !errors.Is(err, store.ErrCorrupt) || !strings.Contains(err.Error(), "empty (0 bytes)") || !strings.Contains(err.Error(), path) {
		t.Fatalf("Open of an empty file = %v", err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Size() != 0 {
		t.Fatalf("the refused file was touched: %v, %v", fi, err)
	}
}

func TestCreateLeavesNoEmptyFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "onexbus.db")
	// What a crash during an earlier creation left.
	if err := os.WriteFile(path+".init", []byte("half"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := open(t, path)
	fi, err := os.Stat(path)
	if err != nil || fi.Size() == 0 {
		t.Fatalf("new store file: %v, %v", fi, err)
	}
	if _, err := os.Stat(path + ".init"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("stale creation file left: %v", err)
	}
	if err := s.Update(func(tx store.Tx) error { _, err := tx.CreateBucket([]byte("b")); return err }); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, path)
	defer s.Close()
	if err := s.View(func(tx store.Tx) error {
		if tx.Bucket([]byte("b")) == nil {
			t.Fatal("bucket lost on reopen")
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}
