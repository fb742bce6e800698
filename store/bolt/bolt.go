package bolt

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	bbolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/onexbus/onexbus/store"
)

// compactTxSize is how many bytes Compact copies per transaction of the
// new file.
const compactTxSize = 64 << 20

// Store is a store.Store on a bbolt file. It implements store.Syncer and
// store.Compacter.
type Store struct {
	path string
	cfg  config

	// mu guards db and dead. Update, View and Sync hold it for reading;
	// Close and Compact for writing, so they wait for running
	// transactions and hold new ones back. It is taken before bbolt's own
	// locks.
	mu sync.RWMutex
	db *bbolt.DB // nil after Close
	// dead is why the store is unusable although not closed: Compact
	// replaced the file but could not open the new one.
	dead error

	// broken is set when bbolt panicked while committing or rolling back
	// an Update (not inside fn), or when a commit failed with an I/O
	// error (see commitFailed): its in-memory state is then suspect, so
	// every later Update returns this error. Views go on.
	broken atomic.Pointer[error]
}

// Open opens the bbolt file at path, creating it and its directory if
// they do not exist. Before bbolt reads the file, Open checks its
// structure (see the package doc): a file that is not a bbolt file, or is
// damaged, makes Open fail with an error wrapping store.ErrCorrupt that
// names the page. Invalid options are reported together. A second Open
// of the same file waits for the first Store's Close (see WithTimeout).
func Open(path string, opts ...Option) (*Store, error) {
	cfg := defaults()
	for _, o := range opts {
		o(&cfg)
	}
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("bolt: open %s: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("bolt: open %s: %w", path, err)
	}
	// A compaction or a creation that crashed before its rename left only
	// garbage.
	for _, stale := range []string{compactPath(path), initPath(path)} {
		if err := os.Remove(stale); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("bolt: open %s: remove stale file %s: %w", path, stale, err)
		}
	}
	s := &Store{path: path, cfg: cfg}
	fi, statErr := os.Stat(path)
	switch {
	case errors.Is(statErr, fs.ErrNotExist):
		if err := s.create(path); err != nil {
			return nil, err
		}
	case statErr != nil:
		return nil, fmt.Errorf("bolt: open %s: %w", path, statErr)
	case fi.Size() == 0:
		// Open never leaves an empty file (see create): an empty file is
		// a truncated store or someone else's file, not a new store.
		return nil, fmt.Errorf("bolt: open %s: %w: the file is empty (0 bytes), not a bbolt file; "+
			"it was truncated or is not a store: move it away to start a new store", path, store.ErrCorrupt)
	}
	db, err := s.openDB(path, cfg.noSync)
	if err != nil {
		return nil, err
	}
	s.db = db
	return s, nil
}

// initPath is where create builds a new file before renaming it.
func initPath(path string) string { return path + ".init" }

// create makes a new, initialised bbolt file at path: bbolt writes and
// fsyncs its first pages into a file next to it, which is then renamed
// into place and the directory fsync'd. So no crash can leave an empty
// or half-written file at path, and Open can refuse an empty file.
func (s *Store) create(path string) error {
	tmp := initPath(path)
	db, err := bbolt.Open(tmp, s.cfg.mode, &bbolt.Options{Timeout: time.Nanosecond})
	if err != nil {
		return errors.Join(fmt.Errorf("bolt: create %s: %w", path, err), os.Remove(tmp))
	}
	if err := db.Close(); err != nil {
		return errors.Join(fmt.Errorf("bolt: create %s: %w", path, err), os.Remove(tmp))
	}
	if err := os.Rename(tmp, path); err != nil {
		return errors.Join(fmt.Errorf("bolt: create %s: %w", path, err), os.Remove(tmp))
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return fmt.Errorf("bolt: create %s: %w", path, err)
	}
	return nil
}

// openDB opens path with bbolt after verify passed, converting any panic
// into an error wrapping store.ErrCorrupt.
func (s *Store) openDB(path string, noSync bool) (db *bbolt.DB, err error) {
	var file *os.File
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			// bbolt gave up half way: release the lock it may hold through
			// our file (the mapping is leaked, the process keeps going).
			if file != nil {
				_ = file.Close() // the panic is the error reported
			}
			db, err = nil, panicCorrupt("open", path, r)
		}
	}()
	timeout := s.cfg.timeout
	if timeout == 0 {
		timeout = time.Nanosecond // bbolt reads 0 as "wait forever"
	}
	db, err = bbolt.Open(path, s.cfg.mode, &bbolt.Options{
		Timeout:         timeout,
		NoSync:          noSync,
		NoFreelistSync:  s.cfg.noFreelistSync,
		FreelistType:    bbolt.FreelistType(s.cfg.freelistType),
		InitialMmapSize: s.cfg.initialMmapSize,
		OpenFile: func(name string, flag int, mode os.FileMode) (*os.File, error) {
			f, err := os.OpenFile(name, flag, mode)
			if err != nil {
				return nil, err
			}
			if err := lockFile(f, s.cfg.timeout); err != nil {
				return nil, errors.Join(err, f.Close()) // Open's wrap names the file once
			}
			if err := verify(f, name); err != nil {
				return nil, errors.Join(err, f.Close())
			}
			file = f
			return f, nil
		},
	})
	if err != nil {
		if errors.Is(err, store.ErrCorrupt) {
			return nil, err
		}
		if errors.Is(err, berrors.ErrInvalid) || errors.Is(err, berrors.ErrChecksum) || errors.Is(err, berrors.ErrVersionMismatch) {
			return nil, fmt.Errorf("bolt: open %s: %w: %w", path, store.ErrCorrupt, err)
		}
		if errors.Is(err, berrors.ErrTimeout) {
			return nil, fmt.Errorf("bolt: open %s: lock held by another process or store: %w", path, err)
		}
		return nil, fmt.Errorf("bolt: open %s: %w", path, err)
	}
	return db, nil
}

// Failed returns the error that stopped the store's writes (a commit
// that failed with an I/O error, or a bbolt panic while committing; see
// the package doc), or nil while Updates are possible. Only reopening
// the store clears it.
func (s *Store) Failed() error {
	if b := s.broken.Load(); b != nil {
		return *b
	}
	return nil
}

// Path returns the path of the bbolt file.
func (s *Store) Path() string { return s.path }

// Update runs fn in a read-write bbolt transaction; see store.Store. When
// it returns nil the commit is fsync'd, unless the store was opened
// WithNoSync(true). It returns fn's error as is, store.ErrClosed after
// Close, an error wrapping store.ErrTxPanicked if fn panicked, one
// wrapping store.ErrCorrupt if bbolt met a damaged page (or panicked),
// and commit errors (I/O, disk full) wrapped with the path. Every error
// means nothing was written.
func (s *Store) Update(fn func(store.Tx) error) error {
	return s.run(true, fn)
}

// View runs fn in a read-only bbolt transaction; see store.Store. It runs
// alongside other Views and the Update. A long View holds back the reuse
// of the pages it sees, and a commit that must grow the memory mapping
// waits for it (see WithInitialMmapSize). Errors are as for Update.
func (s *Store) View(fn func(store.Tx) error) error {
	return s.run(false, fn)
}

func (s *Store) run(writable bool, fn func(store.Tx) error) (err error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.db == nil {
		if s.dead != nil {
			return s.dead
		}
		return store.ErrClosed
	}
	op := "view"
	if writable {
		op = "update"
		if b := s.broken.Load(); b != nil {
			return *b
		}
	}
	// bbolt reads pages through its memory mapping: a corrupt page id can
	// point past the mapped file, which would kill the process with
	// SIGBUS or SIGSEGV instead of panicking.
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			// The panic came from bbolt itself, outside fn.
			err = panicCorrupt(op, s.path, r)
			if writable {
				s.broken.CompareAndSwap(nil, &err)
			}
		}
	}()
	var fnErr error
	inner := func(btx *bbolt.Tx) error {
		t := &tx{s: s, btx: btx, writable: writable}
		fnErr = t.run(op, fn)
		return fnErr
	}
	if writable {
		err = s.db.Update(inner)
	} else {
		err = s.db.View(inner)
	}
	if err == nil || err == fnErr {
		return err
	}
	if writable && commitFailed(err) {
		err = fmt.Errorf("bolt: %s %s: %w: %w", op, s.path, store.ErrCommitFailed, err)
		s.broken.CompareAndSwap(nil, &err)
		return err
	}
	return fmt.Errorf("bolt: %s %s: %w", op, s.path, err)
}

// commitFailed reports whether err, returned by bbolt's Update but not by
// fn, leaves the file in an unknown state. bbolt writes the pages, syncs,
// writes the meta page and syncs again; on an error it rolls back in
// memory, reloading the freelist through the meta page it reads from its
// memory mapping - which, when the meta page was written but its fsync
// failed, is the meta page of the transaction that failed. And Linux may
// drop the dirty pages of a failed fsync, so a later fsync that succeeds
// proves nothing about them. Only a reopen, which reads the file, knows
// what is durable: so every commit error is one, except a full disk or
// quota (the write was refused before anything changed, and the disk-full
// test shows the bus going on once there is room) and bbolt refusing to
// start a write transaction at all.
func commitFailed(err error) bool {
	switch {
	case errors.Is(err, syscall.ENOSPC), errors.Is(err, syscall.EDQUOT):
		return false
	case errors.Is(err, berrors.ErrDatabaseNotOpen), errors.Is(err, berrors.ErrDatabaseReadOnly), errors.Is(err, berrors.ErrTxClosed):
		return false
	}
	return true
}

// Sync flushes every committed transaction to stable storage (fdatasync).
// It is needed only with WithNoSync(true); otherwise every commit already
// synced. It returns store.ErrClosed after Close.
func (s *Store) Sync() error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.db == nil {
		return store.ErrClosed
	}
	if err := s.db.Sync(); err != nil {
		return fmt.Errorf("bolt: sync %s: %w", s.path, err)
	}
	return nil
}

// Close waits for running transactions, then closes the file (with a
// final fdatasync when opened WithNoSync(true), so nothing committed is
// lost). It is idempotent: later calls return nil.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.db == nil {
		return nil
	}
	db := s.db
	s.db, s.dead = nil, nil
	var syncErr error
	if s.cfg.noSync {
		if err := db.Sync(); err != nil {
			syncErr = fmt.Errorf("bolt: close %s: sync: %w", s.path, err)
		}
	}
	return errors.Join(syncErr, closeDB(db, s.path))
}

// Compact rewrites the file without its free pages: it copies every
// bucket into a new file next to it (path + ".compact") with
// bbolt.Compact, fsyncs it, renames it over the original, fsyncs the
// directory and reopens. Update, View and Sync wait while it runs. The
// rename is atomic: a crash leaves either file whole, and Open removes a
// leftover ".compact" file. If the copy fails the store keeps the
// original; if the new file cannot be reopened, every later call returns
// that error until Close.
func (s *Store) Compact() (err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.db == nil {
		if s.dead != nil {
			return s.dead
		}
		return store.ErrClosed
	}
	tmp := compactPath(s.path)
	if err := s.copyTo(tmp); err != nil {
		if rerr := os.Remove(tmp); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
			err = errors.Join(err, fmt.Errorf("bolt: compact %s: %w", s.path, rerr))
		}
		return err
	}
	if err := os.Rename(tmp, s.path); err != nil {
		return errors.Join(fmt.Errorf("bolt: compact %s: %w", s.path, err), os.Remove(tmp))
	}
	// From here the file at path is the new one: the old handle must go.
	dirErr := syncDir(filepath.Dir(s.path))
	if dirErr != nil {
		dirErr = fmt.Errorf("bolt: compact %s: %w", s.path, dirErr)
	}
	closeErr := closeDB(s.db, s.path)
	s.db = nil
	db, openErr := s.openDB(s.path, s.cfg.noSync)
	if openErr != nil {
		s.dead = fmt.Errorf("bolt: compact %s: reopen: %w", s.path, openErr)
		return errors.Join(s.dead, dirErr, closeErr)
	}
	s.db = db
	return errors.Join(dirErr, closeErr)
}

// copyTo writes a compacted copy of the store into a new file at tmp and
// fsyncs it. It needs s.mu held.
func (s *Store) copyTo(tmp string) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = panicCorrupt("compact", s.path, r)
		}
	}()
	if err := os.Remove(tmp); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("bolt: compact %s: %w", s.path, err)
	}
	dst, err := bbolt.Open(tmp, s.cfg.mode, &bbolt.Options{
		Timeout:        time.Second,
		NoSync:         true, // one fsync at the end instead of one per chunk
		NoFreelistSync: s.cfg.noFreelistSync,
		FreelistType:   bbolt.FreelistType(s.cfg.freelistType),
	})
	if err != nil {
		return fmt.Errorf("bolt: compact %s: create %s: %w", s.path, tmp, err)
	}
	if err := bbolt.Compact(dst, s.db, compactTxSize); err != nil {
		return errors.Join(fmt.Errorf("bolt: compact %s: %w", s.path, err), closeDB(dst, tmp))
	}
	if err := dst.Sync(); err != nil {
		return errors.Join(fmt.Errorf("bolt: compact %s: sync %s: %w", s.path, tmp, err), closeDB(dst, tmp))
	}
	return closeDB(dst, tmp)
}

func compactPath(path string) string { return path + ".compact" }

func closeDB(db *bbolt.DB, path string) error {
	if err := db.Close(); err != nil {
		return fmt.Errorf("bolt: close %s: %w", path, err)
	}
	return nil
}

// syncDir fsyncs a directory so that a file created or renamed in it
// survives a crash.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync dir: %w", err)
	}
	if err := d.Sync(); err != nil {
		return errors.Join(fmt.Errorf("sync dir %s: %w", dir, err), d.Close())
	}
	if err := d.Close(); err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	return nil
}

// panicCorrupt turns a panic of bbolt into an error wrapping
// store.ErrCorrupt. bbolt's panic messages name the page when it knows it
// ("invalid page type: 7: 10", "pgid (12) above high water mark (9)").
func panicCorrupt(op, path string, r any) error {
	return fmt.Errorf("bolt: %s %s: bbolt panicked (damaged page?): %v: %w", op, path, r, store.ErrCorrupt)
}

// panicError turns a panic of fn into an error wrapping
// store.ErrTxPanicked (and the value when it is an error), with the stack.
func panicError(op, path string, r any) error {
	stack := debug.Stack()
	if e, ok := r.(error); ok {
		return fmt.Errorf("bolt: %s %s: %w: %w\n%s", op, path, store.ErrTxPanicked, e, stack)
	}
	return fmt.Errorf("bolt: %s %s: %w: %v\n%s", op, path, store.ErrTxPanicked, r, stack)
}

var (
	_ store.Store     = (*Store)(nil)
	_ store.Syncer    = (*Store)(nil)
	_ store.Compacter = (*Store)(nil)
)
