package core_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/store"
)

// A 0-byte data file where the data directory's log is expected is
// refused, not opened as an empty bus (issue 9).
func TestEmptyDataFileRefused(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "onexbus.db")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := core.New(core.WithDataDir(dir))
	if err == nil {
		_ = b.Close(context.Background())
		t.Fatal("an empty data file opened as an empty bus")
	}
	if !errors.Is(err, store.ErrCorrupt) || !strings.Contains(err.Error(), "empty (0 bytes)") {
		t.Fatalf("error %v, want store.ErrCorrupt saying the file is empty", err)
	}
}
