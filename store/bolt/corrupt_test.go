package bolt

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/onexbus/onexbus/store"
)

// buildFile writes a bbolt file with two buckets of enough keys to need
// branch pages, and returns its path.
func buildFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a", "b"} {
		if err := s.Update(func(tx store.Tx) error {
			b, err := tx.CreateBucket([]byte(name))
			if err != nil {
				return err
			}
			for i := range 3000 {
				if err := b.Put(binary.BigEndian.AppendUint64(nil, uint64(i)), []byte(fmt.Sprintf("value-%d", i))); err != nil {
					return err
				}
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	// Free some pages so the file has a mix.
	if err := s.Update(func(tx store.Tx) error {
		for i := range 500 {
			if err := tx.Bucket([]byte("b")).Delete(binary.BigEndian.AppendUint64(nil, uint64(i))); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// layout returns the page size and the ids of the pages in use, by flags.
func layout(t *testing.T, path string) (pageSize uint64, byFlags map[uint16][]uint64) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	v := &verifier{path: path, data: data}
	if err := v.run(); err != nil {
		t.Fatalf("verify of a sound file: %v", err)
	}
	byFlags = make(map[uint16][]uint64)
	for id := range v.meta.hwm {
		if !v.reachable.has(id) {
			continue
		}
		hdr := data[id*v.pageSize:]
		if binary.LittleEndian.Uint64(hdr) != id {
			continue // an overflow page
		}
		flags := binary.LittleEndian.Uint16(hdr[8:])
		byFlags[flags] = append(byFlags[flags], id)
	}
	for _, ids := range byFlags {
		slices.Sort(ids)
	}
	return v.pageSize, byFlags
}

// patch overwrites the file at off with b.
func patch(t *testing.T, path string, off int64, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// readAll reads every bucket and key of s, and writes once.
func readAll(s *Store) error {
	if err := s.View(func(tx store.Tx) error {
		return tx.ForEachBucket(func(name []byte) error {
			c := tx.Bucket(name).Cursor()
			for k, _ := c.First(); k != nil; k, _ = c.Next() {
			}
			for k, _ := c.Last(); k != nil; k, _ = c.Prev() {
			}
			return nil
		})
	}); err != nil {
		return err
	}
	return s.Update(func(tx store.Tx) error {
		b, err := tx.CreateBucket([]byte("a"))
		if err != nil {
			return err
		}
		return b.Put([]byte("x"), []byte("y"))
	})
}

func TestCorruptPages(t *testing.T) {
	sound := buildFile(t)
	pageSize, pages := layout(t, sound)
	if len(pages[branchFlag]) == 0 || len(pages[leafFlag]) < 3 {
		t.Fatalf("test file too small: %v", pages)
	}
	branch, leaf := pages[branchFlag][0], pages[leafFlag][len(pages[leafFlag])/2]
	u64 := func(n uint64) []byte { return binary.LittleEndian.AppendUint64(nil, n) }
	u16 := func(n uint16) []byte { return binary.LittleEndian.AppendUint16(nil, n) }
	u32 := func(n uint32) []byte { return binary.LittleEndian.AppendUint32(nil, n) }
	tests := []struct {
		name  string
		off   uint64
		bytes []byte
		page  uint64 // the page the error must name; 0: any ErrCorrupt
	}{
		{"leaf page type", leaf*pageSize + 8, u16(0x55), leaf},
		{"leaf page header id", leaf * pageSize, u64(leaf + 1), leaf},
		{"leaf element count", leaf*pageSize + 10, u16(0xFFF0), leaf},
		{"leaf element position", leaf*pageSize + 16 + 4, u32(1 << 30), leaf},
		{"leaf key order", leaf*pageSize + 16 + 8, u32(0), leaf},
		{"leaf overflow", leaf*pageSize + 12, u32(1 << 20), leaf},
		{"branch child page id", branch*pageSize + 16 + 8, u64(1 << 40), 1 << 40},
		{"branch child points at a meta page", branch*pageSize + 16 + 8, u64(1), 1},
		{"branch page type", branch*pageSize + 8, u16(leafFlag | branchFlag), branch},
		{"both meta pages", 16, u64(0), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "db")
			data, err := os.ReadFile(sound)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
			patch(t, path, int64(tt.off), tt.bytes)
			if tt.name == "both meta pages" {
				patch(t, path, int64(pageSize+16), tt.bytes)
			}
			_, err = Open(path)
			if !errors.Is(err, store.ErrCorrupt) {
				t.Fatalf("Open = %v, want ErrCorrupt", err)
			}
			if !strings.Contains(err.Error(), path) {
				t.Errorf("error %q does not name the file", err)
			}
			if tt.page != 0 && !strings.Contains(err.Error(), fmt.Sprintf("page %d", tt.page)) {
				t.Errorf("error %q does not name page %d", err, tt.page)
			}
		})
	}
}

// TestCorruptOneMeta: bbolt falls back to the other meta page (the
// previous transaction), by design.
func TestCorruptOneMeta(t *testing.T) {
	for _, page := range []int64{0, 1} {
		t.Run(fmt.Sprint("meta ", page), func(t *testing.T) {
			path := buildFile(t)
			pageSize, _ := layout(t, path)
			patch(t, path, page*int64(pageSize)+16+20, []byte{0xFF, 0xFF})
			s, err := Open(path)
			if err != nil {
				t.Fatalf("Open with one meta page damaged: %v", err)
			}
			defer s.Close()
			if err := readAll(s); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestCorruptRandomBytes flips a byte in every page in use: Open and every
// read either work (a flip inside a value is invisible) or fail with
// ErrCorrupt; nothing panics.
func TestCorruptRandomBytes(t *testing.T) {
	sound := buildFile(t)
	data, err := os.ReadFile(sound)
	if err != nil {
		t.Fatal(err)
	}
	pageSize, pages := layout(t, sound)
	var ids []uint64
	for _, p := range pages {
		ids = append(ids, p...)
	}
	slices.Sort(ids)
	detected := 0
	for _, id := range ids {
		for _, off := range []uint64{8, 11, 14, 20, 33, 50, pageSize / 2} {
			path := filepath.Join(t.TempDir(), "db")
			damaged := slices.Clone(data)
			damaged[id*pageSize+off] ^= 0xA5
			if err := os.WriteFile(path, damaged, 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := Open(path)
			if err != nil {
				if !errors.Is(err, store.ErrCorrupt) {
					t.Fatalf("page %d+%d: Open = %v, want ErrCorrupt", id, off, err)
				}
				detected++
				continue
			}
			if err := readAll(s); err != nil && !errors.Is(err, store.ErrCorrupt) {
				t.Fatalf("page %d+%d: read = %v, want nil or ErrCorrupt", id, off, err)
			}
			if err := s.Close(); err != nil {
				t.Fatalf("page %d+%d: Close: %v", id, off, err)
			}
		}
	}
	t.Logf("%d of %d damaged files detected at Open", detected, len(ids)*7)
}

func TestTruncated(t *testing.T) {
	sound := buildFile(t)
	data, err := os.ReadFile(sound)
	if err != nil {
		t.Fatal(err)
	}
	pageSize, _ := layout(t, sound)
	// bbolt grows the file ahead of use: only pages below the high-water
	// mark matter, and cutting the unused tail is harmless.
	used := int(usedPages(t, data) * pageSize)
	if used > len(data) {
		t.Fatalf("used %d of %d bytes", used, len(data))
	}
	if used < len(data) {
		path := filepath.Join(t.TempDir(), "db")
		if err := os.WriteFile(path, data[:used], 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := Open(path)
		if err != nil {
			t.Fatalf("Open without the unused tail: %v", err)
		}
		if err := readAll(s); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	n := used
	for _, cut := range []int{1, 100, int(pageSize) + 100, 2 * int(pageSize), 3*int(pageSize) + 7, n / 2, n - int(pageSize), n - 1} {
		t.Run(fmt.Sprint(cut), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "db")
			if err := os.WriteFile(path, data[:cut], 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Open(path)
			if !errors.Is(err, store.ErrCorrupt) || !strings.Contains(err.Error(), path) {
				t.Fatalf("Open of %d of %d bytes = %v, want ErrCorrupt naming the file", cut, n, err)
			}
		})
	}
}

// usedPages returns the high-water mark of the sound file data.
func usedPages(t *testing.T, data []byte) uint64 {
	t.Helper()
	v := &verifier{data: data}
	if err := v.run(); err != nil {
		t.Fatal(err)
	}
	return v.meta.hwm
}

// TestCorruptWhileOpen damages a page under a running store, as bit rot
// or a stray writer would: reads fail with ErrCorrupt and do not panic.
func TestCorruptWhileOpen(t *testing.T) {
	path := buildFile(t)
	pageSize, pages := layout(t, path)
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tests := []struct {
		name  string
		off   uint64
		bytes []byte
	}{
		{"page type", pages[leafFlag][1]*pageSize + 8, []byte{0x55, 0}},
		{"child id past the mapping", pages[branchFlag][0]*pageSize + 16 + 8, binary.LittleEndian.AppendUint64(nil, 1<<40)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The store maps the file shared, so it sees the write.
			patch(t, path, int64(tt.off), tt.bytes)
			err := readAll(s)
			if !errors.Is(err, store.ErrCorrupt) || !strings.Contains(err.Error(), path) {
				t.Fatalf("read = %v, want ErrCorrupt naming the file", err)
			}
		})
	}
}

// TestVerifyManyWorkloads checks that Open's structural check accepts
// every file bbolt writes under a mixed workload.
func TestVerifyManyWorkloads(t *testing.T) {
	path := filepath.Join(t.TempDir(), "db")
	for round := range 20 {
		s, err := Open(path)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if err := s.Update(func(tx store.Tx) error {
			b, err := tx.CreateBucket([]byte(fmt.Sprint("b", round%3)))
			if err != nil {
				return err
			}
			for i := range 2000 {
				k := binary.BigEndian.AppendUint64(nil, uint64((i*7919+round*104729)%50000))
				if i%3 == 0 {
					if err := b.Delete(k); err != nil {
						return err
					}
					continue
				}
				if err := b.Put(k, make([]byte, (i*37)%9000)); err != nil {
					return err
				}
			}
			if round%5 == 4 {
				return tx.DeleteBucket([]byte("b0"))
			}
			return nil
		}); err != nil && !errors.Is(err, store.ErrBucketNotFound) {
			t.Fatalf("round %d: %v", round, err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
