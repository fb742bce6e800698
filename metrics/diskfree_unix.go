//go:build unix

package metrics

import (
	"fmt"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// diskFree is the space available to unprivileged users on the
// filesystem holding path.
func diskFree(path string) (uint64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(filepath.Dir(path), &st); err != nil {
		return 0, fmt.Errorf("metrics: statfs %s: %w", filepath.Dir(path), err)
	}
	return st.Bavail * uint64(st.Bsize), nil
}
