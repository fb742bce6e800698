package dashboard

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/onexbus/onexbus/core"
)

type groupRow struct {
	Name          string
	Members       int
	State         string
	Lag           int64
	MaxLagSeconds float64
	InFlight      float64
	Breakers      []core.BreakerHealth
}

type groupDetail struct {
	groupRow
	Parts    []partitionLag
	Members  []core.EmbeddedMember
	TrendURL string
}

func (d *Dashboard) groupNames() []string {
	names := slices.Clone(d.bus.OffsetGroups())
	for _, g := range d.bus.EmbeddedGroups() {
		names = append(names, g.Name)
	}
	slices.Sort(names)
	return slices.Compact(names)
}

func (d *Dashboard) inFlight() map[string]float64 {
	out := map[string]float64{}
	if d.opts.Gatherer == nil {
		return out
	}
	mfs, err := d.opts.Gatherer.Gather()
	if err != nil {
		return out
	}
	for _, mf := range mfs {
		if mf.GetName() != "onexbus_in_flight_messages" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "group" {
					out[l.GetValue()] += m.GetGauge().GetValue()
				}
			}
		}
	}
	return out
}

func (d *Dashboard) groupRow(ctx context.Context, name string, h core.Health, inflight map[string]float64) (groupRow, []partitionLag) {
	row := groupRow{Name: name, State: "Empty", InFlight: inflight[name]}
	if g, ok := d.bus.EmbeddedGroupOf(name); ok && len(g.Members) > 0 {
		row.Members, row.State = len(g.Members), "Stable"
	}
	lags := d.groupLag(ctx, name)
	for _, pl := range lags {
		row.Lag += pl.Lag
		row.MaxLagSeconds = max(row.MaxLagSeconds, pl.LagSeconds)
	}
	for _, b := range h.Breakers {
		if b.Group == name {
			row.Breakers = append(row.Breakers, b)
		}
	}
	return row, lags
}

func (d *Dashboard) groups(w http.ResponseWriter, r *http.Request) {
	h, inf := d.bus.Health(), d.inFlight()
	var rows []groupRow
	for _, n := range d.groupNames() {
		row, _ := d.groupRow(r.Context(), n, h, inf)
		rows = append(rows, row)
	}
	d.render(w, r, "groups", "Groups", rows)
}

func (d *Dashboard) group(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("group")
	if !slices.Contains(d.groupNames(), name) {
		d.fail(w, http.StatusNotFound, fmt.Errorf("%w: group %q has no members and no committed offsets", ErrNotFound, name))
		return
	}
	row, lags := d.groupRow(r.Context(), name, d.bus.Health(), d.inFlight())
	gd := groupDetail{groupRow: row, Parts: lags, TrendURL: d.opts.Prefix + "groups/" + name + "/trend.json"}
	if g, ok := d.bus.EmbeddedGroupOf(name); ok {
		gd.Members = g.Members
	}
	d.trend.add(name, time.Now(), row.Lag, row.MaxLagSeconds)
	d.render(w, r, "group", "Group "+name, gd)
}

// trendJSON is uPlot's data: [times (unix s), lag, lag seconds].
func (d *Dashboard) trendJSON(w http.ResponseWriter, r *http.Request) {
	pts := d.trend.get(r.PathValue("group"))
	data := [3][]float64{{}, {}, {}}
	for _, p := range pts {
		data[0] = append(data[0], float64(p.at.UnixMilli())/1000)
		data[1] = append(data[1], float64(p.lag))
		data[2] = append(data[2], p.secs)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(data)
}

type trendPoint struct {
	at   time.Time
	lag  int64
	secs float64
}

// trends keeps the last n lag samples of each group.
type trends struct {
	mu  sync.Mutex
	n   int
	pts map[string][]trendPoint
}

func newTrends(n int) *trends { return &trends{n: n, pts: map[string][]trendPoint{}} }

func (t *trends) add(group string, at time.Time, lag int64, secs float64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := append(t.pts[group], trendPoint{at, lag, secs})
	if len(p) > t.n {
		p = slices.Delete(p, 0, len(p)-t.n)
	}
	t.pts[group] = p
}

func (t *trends) get(group string) []trendPoint {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.pts[group])
}

// sample records every group's lag each period until ctx ends.
func (t *trends) sample(ctx context.Context, d *Dashboard, every time.Duration) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		for _, g := range d.bus.OffsetGroups() {
			var lag int64
			var secs float64
			for _, pl := range d.groupLag(ctx, g) {
				lag += pl.Lag
				secs = max(secs, pl.LagSeconds)
			}
			t.add(g, time.Now(), lag, secs)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
