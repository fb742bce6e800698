package daemon_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/internal/daemon"
)

// TestShutdownCutsAStuckAdminRequest: an admin request that outlives the
// admin listener's grace (a dashboard render on a starved machine, an
// embedder's route that ignores its context) is cut once the bus is
// closed and flushed; it does not turn a clean shutdown into an error.
func TestShutdownCutsAStuckAdminRequest(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	defer close(release)
	stuck := func(_ context.Context, _ *core.Bus, admin *http.ServeMux) error {
		admin.HandleFunc("GET /stuck", func(w http.ResponseWriter, r *http.Request) {
			close(entered)
			<-release // ignores r.Context() on purpose
		})
		return nil
	}
	r := startDaemon(t, testConfig(t), daemon.WithSetup(stuck))
	url := "http://" + r.d.Addrs().Admin.String() + "/stuck"
	go func() {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
		}
	}()
	select {
	case <-entered:
	case <-time.After(30 * time.Second):
		t.Fatal("the stuck handler was never called")
	}
	if err := r.stop(t); err != nil {
		t.Fatalf("shutdown with a stuck admin request: %v, want nil (cut after the grace)", err)
	}
}
