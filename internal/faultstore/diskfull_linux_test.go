//go:build linux

package faultstore_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"testing"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/wal"
)

// TestDiskFullTmpfs fills a real file system: a 4 MiB tmpfs mounted for
// the test (so it needs root; CI runs as root). Publishing 16 KiB messages
// until the disk is full, the first failure wraps ENOSPC and is not
// acknowledged; after the tmpfs is remounted larger the same bus goes on;
// after a restart every acknowledged message is there at its offset.
func TestDiskFullTmpfs(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a tmpfs (CI runs as root)")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=4m"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("mount tmpfs on %s: %v", dir, err)
		}
		t.Skipf("mount tmpfs on %s: %v (no CAP_SYS_ADMIN here)", dir, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	bus, err := core.New(core.WithDataDir(dir), core.WithDurability(wal.PolicySync, 0))
	if err != nil {
		t.Fatal(err)
	}
	value := bytes.Repeat([]byte("x"), 16<<10)
	acked := map[string]int64{}
	unacked := map[string]bool{}
	publish := func(v string) error {
		msg := &core.Message{Topic: faultTopic, Key: []byte(v), Value: append([]byte(v+":"), value...)}
		off, err := bus.Publish(context.Background(), msg)
		if err == nil {
			acked[v] = off
		}
		return err
	}
	var full error
	for i := 0; i < 1000 && full == nil; i++ {
		v := fmt.Sprintf("fill-%d", i)
		if err := publish(v); err != nil {
			full, unacked[v] = err, true
		}
	}
	if full == nil {
		t.Fatal("16 MiB published on a 4 MiB tmpfs without an error")
	}
	if !errors.Is(full, syscall.ENOSPC) {
		t.Fatalf("disk full: Publish returned %v, want it to wrap ENOSPC", full)
	}
	t.Logf("disk full after %d acknowledged messages: %v", len(acked), full)
	// More space: the bus goes on without a restart.
	if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_REMOUNT, "size=64m"); err != nil {
		t.Fatalf("remount larger: %v", err)
	}
	for i := range 20 {
		v := fmt.Sprintf("after-%d", i)
		if err := publish(v); err != nil {
			t.Fatalf("publish %s once space is back: %v", v, err)
		}
	}
	if err := bus.Close(context.Background()); err != nil {
		t.Fatalf("close: %v", err)
	}
	msgs := reopenLog(t, dir)
	for _, m := range msgs {
		m.Value, _, _ = bytes.Cut(m.Value, []byte(":"))
	}
	checkLog(t, msgs, acked, unacked)
}
