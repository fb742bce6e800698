package bolt_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/onexbus/onexbus/store"
	"github.com/onexbus/onexbus/store/bolt"
	"github.com/onexbus/onexbus/store/storetest"
)

func open(t *testing.T, path string, opts ...bolt.Option) *bolt.Store {
	t.Helper()
	s, err := bolt.Open(path, opts...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func TestConformance(t *testing.T) {
	tests := []struct {
		name string
		opts []bolt.Option
	}{
		{"default", nil},
		{"nosync array freelist", []bolt.Option{bolt.WithNoSync(true), bolt.WithFreelistType(bolt.FreelistArray), bolt.WithNoFreelistSync(false)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			storetest.Run(t, func(t *testing.T) store.Store {
				return open(t, filepath.Join(t.TempDir(), "db"), tt.opts...)
			})
			storetest.RunReopen(t, func(t *testing.T, dir string) store.Store {
				return open(t, filepath.Join(dir, "db"), tt.opts...)
			})
		})
	}
}

func TestOpenCreatesDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a", "b", "db")
	s := open(t, path, bolt.WithFileMode(0o640))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o640 {
		t.Fatalf("mode %v, want 0640", fi.Mode().Perm())
	}
}

func TestOpenOptionsInvalid(t *testing.T) {
	_, err := bolt.Open(filepath.Join(t.TempDir(), "db"),
		bolt.WithFileMode(0), bolt.WithTimeout(-1), bolt.WithInitialMmapSize(-1), bolt.WithFreelistType("tree"))
	if err == nil {
		t.Fatal("Open accepted invalid options")
	}
	for _, want := range []string{"file mode", "timeout", "mmap", "freelist"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not report %s", err, want)
		}
	}
}

func TestOpenLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	s := open(t, path)
	defer s.Close()
	start := time.Now()
	_, err := bolt.Open(path, bolt.WithTimeout(100*time.Millisecond))
	if err == nil {
		t.Fatal("second Open of a locked file succeeded")
	}
	if !strings.Contains(err.Error(), path) {
		t.Fatalf("error %q does not name the file", err)
	}
	if n := strings.Count(err.Error(), "bolt: open"); n != 1 {
		t.Fatalf("error %q repeats its prefix (%d times)", err, n)
	}
	if time.Since(start) > 10*time.Second {
		t.Fatalf("Open waited %v", time.Since(start))
	}
}

func TestGarbageFile(t *testing.T) {
	tests := []struct {
		name    string
		content []byte
	}{
		{"text", []byte(strings.Repeat("this is not a bbolt file\n", 1000))},
		{"zeros", make([]byte, 64<<10)},
		{"short", []byte("x")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "db")
			if err := os.WriteFile(path, tt.content, 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := bolt.Open(path)
			if !errors.Is(err, store.ErrCorrupt) || !strings.Contains(err.Error(), path) {
				t.Fatalf("Open = %v, want ErrCorrupt naming the file", err)
			}
		})
	}
}

func TestSync(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	s := open(t, path, bolt.WithNoSync(true))
	if err := s.Update(func(tx store.Tx) error {
		b, err := tx.CreateBucket([]byte("b"))
		if err != nil {
			return err
		}
		return b.Put([]byte("k"), []byte("v"))
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Sync(); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("Sync after Close = %v, want ErrClosed", err)
	}
	if err := s.Compact(); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("Compact after Close = %v, want ErrClosed", err)
	}
}

func key(i int) []byte { return binary.BigEndian.AppendUint64(nil, uint64(i)) }

func TestCompact(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	s := open(t, path)
	defer s.Close()
	const n = 5000
	value := make([]byte, 1024)
	if err := s.Update(func(tx store.Tx) error {
		for _, name := range []string{"a", "b"} {
			b, err := tx.CreateBucket([]byte(name))
			if err != nil {
				return err
			}
			for i := range n {
				// A new slice each time: bbolt keeps it until commit.
				v := make([]byte, 1024)
				binary.BigEndian.PutUint64(v, uint64(i))
				if err := b.Put(key(i), v); err != nil {
					return err
				}
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// Retention: drop the first 90% of both buckets.
	if err := s.Update(func(tx store.Tx) error {
		for _, name := range []string{"a", "b"} {
			for i := range n * 9 / 10 {
				if err := tx.Bucket([]byte(name)).Delete(key(i)); err != nil {
					return err
				}
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	before := size(t, path)
	if err := s.Compact(); err != nil {
		t.Fatalf("Compact: %v", err)
	}
	after := size(t, path)
	t.Logf("compact: %d -> %d bytes", before, after)
	if after > before/3 {
		t.Fatalf("Compact: %d -> %d bytes, want at most a third", before, after)
	}
	if _, err := os.Stat(path + ".compact"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("temporary file left: %v", err)
	}
	check := func(s *bolt.Store) {
		t.Helper()
		if err := s.View(func(tx store.Tx) error {
			for _, name := range []string{"a", "b"} {
				c := tx.Bucket([]byte(name)).Cursor()
				i := n * 9 / 10
				for k, v := c.First(); k != nil; k, v = c.Next() {
					if string(k) != string(key(i)) || binary.BigEndian.Uint64(v) != uint64(i) || len(v) != 1024 {
						return fmt.Errorf("bucket %s: key %x, want %d", name, k, i)
					}
					i++
				}
				if i != n {
					return fmt.Errorf("bucket %s: ends at %d, want %d", name, i, n)
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	check(s)
	// Still writable, and the compacted file reopens.
	if err := s.Update(func(tx store.Tx) error { return tx.Bucket([]byte("a")).Put(key(n), value) }); err != nil {
		t.Fatal(err)
	}
	if err := s.Update(func(tx store.Tx) error { return tx.Bucket([]byte("a")).Delete(key(n)) }); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = open(t, path)
	check(s)
}

func size(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}
