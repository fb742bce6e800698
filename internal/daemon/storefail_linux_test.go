package daemon_test

import (
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/onexbus/onexbus/internal/daemon"
	"github.com/onexbus/onexbus/internal/testutil"
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
	restore := testutil.FailWrites(t, filepath.Join(cfg.DataDir, daemon.DataFile))
	code, _ := publish(admin, "lost")
	restore()
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
