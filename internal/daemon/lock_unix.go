//go:build unix

package daemon

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// lockName is the lock file in the data directory.
const lockName = "onexbusd.lock"

// dirLock is the exclusive lock on a data directory.
type dirLock struct{ f *os.File }

// lockDir takes the data directory's lock without waiting and writes the
// process id into the lock file. Another holder makes it fail with
// ErrDataDirLocked naming that holder's pid.
func lockDir(dir string) (*dirLock, error) {
	path := filepath.Join(dir, lockName)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("onexbusd: data dir %s: open lock file: %w", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder := ""
		if b, rerr := os.ReadFile(path); rerr == nil {
			if pid, perr := strconv.Atoi(string(bytes.TrimSpace(b))); perr == nil {
				holder = fmt.Sprintf(" (pid %d)", pid)
			}
		}
		cerr := f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, errors.Join(fmt.Errorf("%w: %s is in use by another onexbusd%s; stop it, or give this one another data_dir (--data-dir, ONEXBUS_DATA_DIR)", ErrDataDirLocked, dir, holder), cerr)
		}
		return nil, errors.Join(fmt.Errorf("onexbusd: data dir %s: lock: %w", dir, err), cerr)
	}
	if err := f.Truncate(0); err != nil {
		return nil, errors.Join(fmt.Errorf("onexbusd: data dir %s: write lock file: %w", dir, err), f.Close())
	}
	if _, err := f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0); err != nil {
		return nil, errors.Join(fmt.Errorf("onexbusd: data dir %s: write lock file: %w", dir, err), f.Close())
	}
	return &dirLock{f: f}, nil
}

// lockHolder reports the pid in dir's lock file when another process
// holds the lock, and 0 when nobody does (or the directory has no lock).
func lockHolder(dir string) (int, error) {
	l, err := lockDir(dir)
	switch {
	case err == nil:
		return 0, l.release()
	case errors.Is(err, ErrDataDirLocked):
		b, _ := os.ReadFile(filepath.Join(dir, lockName))
		pid, perr := strconv.Atoi(string(bytes.TrimSpace(b)))
		if perr != nil || pid <= 0 {
			pid = -1 // held, by a process that wrote no pid yet
		}
		return pid, nil
	}
	return 0, err
}

// release drops the lock. The file stays: removing it would let a
// process that opened it before the removal lock a file nobody else sees.
func (l *dirLock) release() error {
	if err := l.f.Close(); err != nil {
		return fmt.Errorf("onexbusd: release data dir lock: %w", err)
	}
	return nil
}
