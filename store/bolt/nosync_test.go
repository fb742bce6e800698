package bolt

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/onexbus/onexbus/store"
)

// TestNoSyncPowerLossCanCorrupt shows why a log must not run on
// WithNoSync(true) when a power loss should cost at most the unsynced
// commits (issue 9: DurabilityInterval ran bbolt with NoSync).
//
// bbolt commits by writing the transaction's pages, then its meta page,
// which makes them live. With fsync on (the default), tx.Commit fdatasyncs
// after the pages and again after the meta page (bbolt tx.go, Commit:
// tx.write then tx.writeMeta, each followed by fdatasync when !NoSync), so
// no meta page can reach the disk before the pages it points to. With
// NoSync there is no barrier: the kernel writes dirty pages back in any
// order, and a power loss can persist the new meta page without the pages
// it points to. The test builds exactly that image (the synced file of
// one commit, overlaid with the meta pages of the next, unsynced commit)
// and opens it: it is not the older state, it is a damaged file (Open
// refuses it), so the whole store is lost, not one interval.
func TestNoSyncPowerLossCanCorrupt(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "db")
	put := func(s *Store, round int) {
		t.Helper()
		err := s.Update(func(tx store.Tx) error {
			b, err := tx.CreateBucket([]byte("b"))
			if err != nil {
				return err
			}
			for i := range 300 {
				if err := b.Put([]byte(fmt.Sprintf("key-%04d", i)), bytes.Repeat([]byte{byte(round)}, 900)); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	put(s, 1)
	put(s, 2)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	synced, err := os.ReadFile(path) // what the disk holds after a sync
	if err != nil {
		t.Fatal(err)
	}
	s, err = Open(path, WithNoSync(true))
	if err != nil {
		t.Fatal(err)
	}
	put(s, 3) // not synced: its pages and meta page are only in the page cache
	unsynced, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pageSize := int(s.db.Info().PageSize)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Power loss: the meta pages of commit 3 reached the disk, its data
	// pages did not (file growth reads as zeros).
	image := make([]byte, max(len(synced), len(unsynced)))
	copy(image, synced)
	copy(image[:2*pageSize], unsynced[:2*pageSize])
	if bytes.Equal(image, unsynced) {
		t.Fatal("commit 3 wrote only meta pages; the test needs data pages")
	}
	lost := filepath.Join(dir, "lost")
	if err := os.WriteFile(lost, image, 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := Open(lost)
	if err == nil {
		// Opened: then it must hold neither round 2 nor round 3 intact for
		// the point to stand; anything else is the damage the test claims.
		defer st.Close()
		intact := true
		_ = st.View(func(tx store.Tx) error {
			b := tx.Bucket([]byte("b"))
			for i := 0; b != nil && i < 300; i++ {
				v := b.Get([]byte(fmt.Sprintf("key-%04d", i)))
				if len(v) != 900 || (v[0] != 2 && v[0] != 3) {
					intact = false
				}
			}
			return nil
		})
		if intact {
			t.Fatal("the torn image opened as a consistent older state: NoSync would be safe")
		}
		t.Log("the torn image opened with damaged contents")
		return
	}
	t.Logf("the torn image is refused: %v", err)
}
