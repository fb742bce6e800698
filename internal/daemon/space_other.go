//go:build !unix

package daemon

import "errors"

// diskSpace is not measured on this platform; the check reports UNKNOWN.
func diskSpace(string) (free, total uint64, err error) {
	return 0, 0, errors.New("free space is not measured on this platform")
}
