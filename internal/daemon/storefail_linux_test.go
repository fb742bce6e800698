package daemon_test

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/onexbus/onexbus/internal/daemon"
)

// TestReadyzReportsAFailedCommit: when a commit of the store fails with an
// I/O error (made real here: the data file's descriptor is a pipe for one
// publish, so bbolt's write fails with ESPIPE), writes stop until a
// restart and /readyz answers 503 naming "store writable", so an
// orchestrator restarts the daemon; the restart reads the file again,
// keeps what was acknowledged and writes again.
func TestReadyzReportsAFailedCommit(t *testing.T) {
	cfg := testConfig(t)
	r := startDaemon(t, cfg, daemon.WithSetup(hookSetup))
	admin := "http://" + r.d.Addrs().Admin.String()
	publish := func(admin, value string) (int, string) {
		t.Helper()
		resp, err := http.Post(admin+"/test/publish?topic=onex.evt.test.storefail.v1&value="+value, "text/plain", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp.StatusCode, strings.TrimSpace(string(b))
	}
	if code, body := publish(admin, "acked"); code != 200 {
		t.Fatalf("first publish: %d %s", code, body)
	}
	fd := descriptorOf(t, filepath.Join(cfg.DataDir, daemon.DataFile))
	saved, err := syscall.Dup(fd)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(saved)
	var pipe [2]int
	if err := syscall.Pipe(pipe[:]); err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(pipe[0])
	defer syscall.Close(pipe[1])
	if err := syscall.Dup3(pipe[1], fd, 0); err != nil {
		t.Fatal(err)
	}
	code, _ := publish(admin, "lost")
	if err := syscall.Dup3(saved, fd, 0); err != nil {
		t.Fatal(err)
	}
	if code == 200 {
		t.Fatal("a publish whose commit failed was acknowledged")
	}
	if code, _ := publish(admin, "after"); code == 200 {
		t.Fatal("a publish after the failed commit was acknowledged before a restart")
	}
	if code, body := get(t, admin+"/readyz?verbose"); code != 503 || !strings.Contains(body, `"name":"store writable","ok":false`) {
		t.Fatalf("/readyz after a failed commit: %d %s, want 503 with store writable false", code, body)
	}
	if err := r.stop(t); err != nil {
		t.Logf("stop after the failed commit: %v", err)
	}

	r2 := startDaemon(t, cfg, daemon.WithSetup(hookSetup))
	admin2 := "http://" + r2.d.Addrs().Admin.String()
	if code, body := get(t, admin2+"/readyz?verbose"); code != 200 {
		t.Fatalf("/readyz after the restart: %d %s", code, body)
	}
	code, off := publish(admin2, "restarted")
	if code != 200 {
		t.Fatalf("publish after the restart: %d %s", code, off)
	}
	if off != "1" {
		t.Fatalf("publish after the restart took offset %s, want 1: only the acknowledged record before it", off)
	}
}

// descriptorOf finds the descriptor this process holds on path.
func descriptorOf(t *testing.T, path string) int {
	t.Helper()
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name())); err == nil && target == path {
			fd, err := strconv.Atoi(e.Name())
			if err != nil {
				t.Fatal(err)
			}
			return fd
		}
	}
	t.Fatalf("no descriptor on %s", path)
	return -1
}
