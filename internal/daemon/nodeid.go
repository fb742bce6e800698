package daemon

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/google/uuid"
)

// nodeIDName is the file in the data directory holding the generated node id.
const nodeIDName = "node-id"

// nodeID returns the configured node id, or the one kept in the data
// directory, generating and durably writing it the first time.
func nodeID(configured, dir string) (uuid.UUID, error) {
	if configured != "" {
		return uuid.Parse(configured)
	}
	path := filepath.Join(dir, nodeIDName)
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		id, perr := uuid.Parse(string(bytes.TrimSpace(b)))
		if perr != nil {
			return uuid.Nil, fmt.Errorf("%w: %s does not hold a UUID (%w); remove it to generate a new node id, or set node.id", ErrCorruptData, path, perr)
		}
		return id, nil
	case !errors.Is(err, fs.ErrNotExist):
		return uuid.Nil, fmt.Errorf("onexbusd: read node id: %w", err)
	}
	id := uuid.New()
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return uuid.Nil, fmt.Errorf("onexbusd: write node id: %w", err)
	}
	_, werr := f.WriteString(id.String() + "\n")
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		return uuid.Nil, fmt.Errorf("onexbusd: write node id: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return uuid.Nil, fmt.Errorf("onexbusd: write node id: %w", err)
	}
	return id, syncDir(dir)
}

// syncDir fsyncs a directory so a new or renamed entry survives a crash.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("onexbusd: sync dir %s: %w", dir, err)
	}
	serr := d.Sync()
	cerr := d.Close()
	if err := errors.Join(serr, cerr); err != nil {
		return fmt.Errorf("onexbusd: sync dir %s: %w", dir, err)
	}
	return nil
}
