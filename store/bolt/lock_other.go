//go:build !unix

package bolt

import (
	"fmt"
	"io"
	"os"
	"time"
)

// lockFile is a no-op here: bbolt takes its own lock when Open hands it
// the file, with the configured timeout.
func lockFile(f *os.File, timeout time.Duration) error { return nil }

// mapFile reads the whole file: there is no portable read-only mapping.
func mapFile(f *os.File, size int64) (data []byte, release func() error, err error) {
	data = make([]byte, size)
	if _, err := f.ReadAt(data, 0); err != nil && err != io.EOF {
		return nil, nil, fmt.Errorf("read: %w", err)
	}
	return data, func() error { return nil }, nil
}
