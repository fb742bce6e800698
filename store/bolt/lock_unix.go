//go:build unix

package bolt

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// lockFile takes the exclusive flock bbolt takes, waiting up to timeout.
// bbolt locks the same open file again later, which is a no-op on the
// same file description, and unlocks it on Close.
func lockFile(f *os.File, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			return fmt.Errorf("lock: %w", err)
		}
		if !time.Now().Before(deadline) {
			return fmt.Errorf("lock: held by another process or store after %v: %w", timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// mapFile maps size bytes of f read-only.
func mapFile(f *os.File, size int64) (data []byte, release func() error, err error) {
	if int64(int(size)) != size {
		return nil, nil, fmt.Errorf("map: file of %d bytes too large", size)
	}
	data, err = syscall.Mmap(int(f.Fd()), 0, int(size), syscall.PROT_READ, syscall.MAP_SHARED)
	if err != nil {
		return nil, nil, fmt.Errorf("map: %w", err)
	}
	return data, func() error { return syscall.Munmap(data) }, nil
}
