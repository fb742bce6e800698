//go:build !linux

package cli

import (
	"errors"
	"io"
	"os"
)

// isTTY is false here: use --password-stdin.
func isTTY(*os.File) bool { return false }

func promptNoEcho(*os.File, io.Writer, string) (string, error) {
	return "", errors.New("no password prompt on this platform: use --password-stdin")
}
