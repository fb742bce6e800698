package daemon

import (
	"encoding/json"
	"net/http"
	"sync/atomic"
)

// check is one line of /readyz?verbose.
type check struct {
	Name string `json:"name"`
	OK   bool   `json:"ok"`
	Info string `json:"info,omitempty"`
}

// adminMux serves /livez and /readyz. The mux is handed to Setup steps so
// metrics (/metrics) and the dashboard mount next to them.
func (d *Daemon) adminMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /livez", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", d.serveReady)
	mux.HandleFunc("GET /healthz", d.serveReady) // alias for NATS-style probes
	mux.Handle("GET /metrics", d.metrics.Handler())
	return mux
}

// readiness lists the checks behind /readyz.
func (d *Daemon) readiness() []check {
	st := d.state.Load()
	checks := []check{
		{Name: "log recovered", OK: st >= stateRecovered},
		{Name: "listeners up", OK: st >= stateReady},
		{Name: "not draining", OK: st != stateDraining},
	}
	if st := d.storeRef.Load(); st != nil {
		// A failed commit stops every write until a restart reopens the
		// file (store.ErrCommitFailed): not ready, so an orchestrator
		// restarts the daemon.
		c := check{Name: "store writable", OK: true}
		if err := st.Failed(); err != nil {
			c.OK, c.Info = false, err.Error()
		}
		checks = append(checks, c)
	}
	if in := d.ingestRef.Load(); in != nil {
		err := in.Err()
		c := check{Name: "ingest running", OK: err == nil}
		if err != nil {
			c.Info = err.Error()
		}
		checks = append(checks, c)
	}
	if f := d.forwarderRef.Load(); f != nil {
		checks = append(checks, check{Name: "forwarder", OK: true, Info: "upstream breaker " + f.BreakerState().String()})
	}
	return checks
}

func (d *Daemon) serveReady(w http.ResponseWriter, r *http.Request) {
	checks := d.readiness()
	ok := true
	for _, c := range checks {
		ok = ok && c.OK
	}
	status := http.StatusOK
	if !ok {
		status = http.StatusServiceUnavailable
	}
	if _, verbose := r.URL.Query()["verbose"]; verbose {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]any{"ready": ok, "checks": checks})
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	if ok {
		_, _ = w.Write([]byte("ok\n"))
		return
	}
	_, _ = w.Write([]byte(http.StatusText(status) + "\n"))
}

// counting wraps h to count requests in flight (the node heartbeat's
// active_operations_count).
func counting(n *atomic.Int64, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		defer n.Add(-1)
		h.ServeHTTP(w, r)
	})
}
