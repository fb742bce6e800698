package bolt

import (
	"errors"
	"fmt"
	"os"
	"time"
)

// FreelistType selects how bbolt keeps its list of free pages in memory.
type FreelistType string

const (
	// FreelistMap keeps free pages in a hash map: allocation stays fast
	// when the file has many free pages (large files, heavy retention).
	// It is the default.
	FreelistMap FreelistType = "map"
	// FreelistArray keeps free pages in a sorted array: less memory, but
	// allocation is linear in the number of free pages.
	FreelistArray FreelistType = "array"
)

// Option configures Open.
type Option func(*config)

// config is the private configuration Options set; see defaults.
type config struct {
	noSync          bool
	noFreelistSync  bool
	mode            os.FileMode
	timeout         time.Duration
	initialMmapSize int
	freelistType    FreelistType
}

func defaults() config {
	return config{
		noFreelistSync: false,
		mode:           0o600,
		timeout:        5 * time.Second,
		freelistType:   FreelistMap,
	}
}

// validate reports every invalid setting at once.
func (c config) validate() error {
	var errs []error
	if c.mode&os.ModePerm == 0 || c.mode&^os.ModePerm != 0 {
		errs = append(errs, fmt.Errorf("file mode %v: want permission bits only, not zero", c.mode))
	}
	if c.timeout < 0 {
		errs = append(errs, fmt.Errorf("lock timeout %v: want >= 0", c.timeout))
	}
	if c.initialMmapSize < 0 {
		errs = append(errs, fmt.Errorf("initial mmap size %d: want >= 0", c.initialMmapSize))
	}
	if c.freelistType != FreelistMap && c.freelistType != FreelistArray {
		errs = append(errs, fmt.Errorf("freelist type %q: want %q or %q", c.freelistType, FreelistMap, FreelistArray))
	}
	return errors.Join(errs...)
}

// WithNoSync turns off the fsync of every commit when on (default off).
// Committed transactions are then durable only after Store.Sync, which
// the caller runs on its own schedule. It is safe against a process crash
// (the kernel keeps the writes) but not against a power loss or an OS
// crash: without the fsync between a commit's pages and its meta page,
// the disk can end up with the new meta page and not its pages, a damaged
// file rather than the loss of the unsynced commits
// (TestNoSyncPowerLossCanCorrupt). For periodic durability, keep it off
// and commit less often instead.
func WithNoSync(on bool) Option { return func(c *config) { c.noSync = on } }

// WithFileMode sets the permissions of a file Open creates (default
// 0600). The directory, when Open creates it, gets 0750.
func WithFileMode(mode os.FileMode) Option { return func(c *config) { c.mode = mode } }

// WithTimeout sets how long Open waits for the file lock held by another
// process (or another Store on the same file) before it fails (default
// 5s; 0 fails at once).
func WithTimeout(d time.Duration) Option { return func(c *config) { c.timeout = d } }

// WithInitialMmapSize sets the size in bytes of the first memory mapping
// (default 0: the file size). bbolt maps the file with room to grow: the
// mapping doubles from 32 KiB up to 1 GiB, then grows 1 GiB at a time.
// Each remap happens inside the commit that needs it, waits for every
// open read transaction (and holds back new ones) and unmaps the old
// mapping: measured here, about 0.1 ms for a mapping of a few MiB with
// short Views open, and 1.5-2 ms to unmap a 512 MiB mapping whose pages
// had all been read. So a size above the expected file size keeps long
// Views from stalling commits, and saves the remaps. Its cost on Unix is
// virtual address space only (no memory and no disk until pages are
// written), but a mapping above 16 MiB makes bbolt grow the file 16 MiB
// past what it needs at each growth (a sparse extension: only written
// pages take disk); on Windows bbolt extends the file to the mapping's
// size at once. The default keeps the file as small as its data: the
// remaps are rare (one per doubling) and cheap against a commit's two
// fsyncs.
func WithInitialMmapSize(n int) Option { return func(c *config) { c.initialMmapSize = n } }

// WithFreelistType selects the in-memory freelist (default FreelistMap).
func WithFreelistType(t FreelistType) Option { return func(c *config) { c.freelistType = t } }

// WithNoFreelistSync controls whether bbolt skips writing its freelist to
// the file on every commit (default false). Skipping makes commits a
// little cheaper, most of all in a file with many free pages, but Open
// then rebuilds the freelist by walking every page of the file, and
// Open's own check of the file (see the package doc) runs either way, so
// the rebuild roughly doubles the time to reopen a large file.
func WithNoFreelistSync(on bool) Option { return func(c *config) { c.noFreelistSync = on } }
