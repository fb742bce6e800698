package testutil

import (
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
)

// FailWrites makes every write through this process's descriptor on path
// fail for real (ESPIPE: the descriptor is swapped for a pipe's write end)
// until restore is called, which swaps the file back. It fails the test
// unless exactly one descriptor of the process is open on path.
func FailWrites(t testing.TB, path string) (restore func()) {
	t.Helper()
	fd := descriptorOf(t, path)
	saved, err := syscall.Dup(fd)
	if err != nil {
		t.Fatal(err)
	}
	var pipe [2]int
	if err := syscall.Pipe(pipe[:]); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Dup3(pipe[1], fd, 0); err != nil {
		t.Fatal(err)
	}
	return func() {
		t.Helper()
		if err := syscall.Dup3(saved, fd, 0); err != nil {
			t.Fatal(err)
		}
		for _, d := range []int{saved, pipe[0], pipe[1]} {
			_ = syscall.Close(d)
		}
	}
}

// descriptorOf finds the one descriptor this process holds on path.
func descriptorOf(t testing.TB, path string) int {
	t.Helper()
	want, err := filepath.EvalSymlinks(path)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	found := -1
	for _, e := range entries {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name()))
		if err != nil || target != want {
			continue
		}
		fd, err := strconv.Atoi(e.Name())
		if err != nil {
			t.Fatal(err)
		}
		if found >= 0 {
			t.Fatalf("two descriptors on %s (%d and %d)", path, found, fd)
		}
		found = fd
	}
	if found < 0 {
		t.Fatalf("no descriptor on %s", path)
	}
	return found
}
