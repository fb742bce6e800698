package daemon

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/internal/dashboard"
)

// dashboard builds the web console mounted under /ui/ on the admin
// listener. It shares the admin listener's (absent, until the security
// work lands) authentication: dashboard.Options.Auth is the hook. A
// dashboard that cannot be built is logged and /ui/ answers 503, so the
// daemon still serves.
func (d *Daemon) dashboard(ctx context.Context, bus *core.Bus) http.Handler {
	cfg := d.config()
	started := time.Now()
	opts := dashboard.Options{
		Version:   Version,
		Mode:      d.mode,
		Started:   started,
		DataDir:   cfg.DataDir,
		DiskSpace: diskSpace,
		Gatherer:  d.metrics.Registry(),
		Checks: func() []dashboard.Check {
			var out []dashboard.Check
			for _, c := range d.readiness() {
				out = append(out, dashboard.Check{Name: c.Name, OK: c.OK, Info: c.Info})
			}
			return out
		},
		Config: func() []dashboard.ConfigRow { return ConfigRows(d.config()) },
		Auth:   d.dashboardAuth(),
		Forwarder: func() (dashboard.Forwarder, bool) {
			f := d.forwarderRef.Load()
			if f == nil {
				return dashboard.Forwarder{}, false
			}
			fw := dashboard.Forwarder{Backlog: f.Backlog(), Upstream: f.BreakerState().String()}
			if v, ok := cfg.Upstream.Value("KAFKA_BACKLOG_BUDGET_BYTES"); ok {
				fw.BudgetBytes, _ = strconv.ParseInt(v, 10, 64) // the table's own text form
			}
			return fw, true
		},
	}
	if a := d.Addrs().HTTP; a != nil {
		opts.APIBase = d.scheme(d.sec.http) + a.String()
	}
	ui, err := dashboard.New(ctx, bus, opts)
	if err != nil {
		d.log.Error("dashboard disabled", "error", err)
		return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "dashboard unavailable: "+err.Error(), http.StatusServiceUnavailable)
		})
	}
	return ui.Handler()
}

// ConfigRows is the effective configuration for the dashboard, one row
// per setting in table order, secrets redacted. The source is "default"
// when the value is the default and "set" otherwise: the daemon keeps the
// parsed Config, not the layers it came from (`config print --sources`
// has those).
func ConfigRows(cfg Config) []dashboard.ConfigRow {
	out := make([]dashboard.ConfigRow, 0, len(settings))
	for _, s := range settings {
		var v string
		var ok bool
		if s.upstream {
			v, ok = cfg.Upstream.Value(s.env)
		} else {
			v, ok = cfg.text(s.name)
		}
		if !ok {
			continue
		}
		src := "default"
		if v != s.def {
			src = "set"
		}
		val := Value{Setting: Setting{Secret: s.secret}, Text: v}.Shown()
		out = append(out, dashboard.ConfigRow{Name: s.name, Value: val, Source: src, Help: s.help, Secret: s.secret, Reloadable: s.reloadable})
	}
	return out
}
