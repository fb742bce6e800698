package dashboard

import (
	"io/fs"
	"net/http"
	"path/filepath"
	"sort"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/dlq"
)

type overview struct {
	Mode, Version, Uptime string
	StorageBytes          int64
	FreeBytes, TotalBytes uint64
	DiskKnown             bool
	FsyncP99              string
	PublishRate           string
	Published             float64
	Topics                int
	Messages              int64
	Subscribers, Groups   int
	OpenBreakers          []core.BreakerHealth
	DLQTotal              int
	DLQOldest             *dlq.Letter
	Forwarder             *Forwarder
	Checks                []Check
	Damaged               int64
}

type rateSample struct {
	at    time.Time
	total float64
}

func (d *Dashboard) overview(w http.ResponseWriter, r *http.Request) {
	h := d.bus.Health()
	o := overview{Version: d.opts.Version, Mode: "embedded", Topics: h.Topics, Messages: h.HistorySize,
		Subscribers: h.Subscribers, Groups: h.Groups, Damaged: h.DamagedRecords, FsyncP99: "—", PublishRate: "—"}
	if d.opts.Mode != nil {
		o.Mode = d.opts.Mode()
	}
	if !d.opts.Started.IsZero() {
		o.Uptime = time.Since(d.opts.Started).Round(time.Second).String()
	}
	for _, b := range h.Breakers {
		if b.State != core.BreakerClosed {
			o.OpenBreakers = append(o.OpenBreakers, b)
		}
	}
	if d.opts.DataDir != "" {
		o.StorageBytes = dirSize(d.opts.DataDir)
		if d.opts.DiskSpace != nil {
			if free, total, err := d.opts.DiskSpace(d.opts.DataDir); err == nil {
				o.FreeBytes, o.TotalBytes, o.DiskKnown = free, total, true
			}
		}
	}
	if d.opts.Gatherer != nil {
		if mfs, err := d.opts.Gatherer.Gather(); err == nil {
			for _, mf := range mfs {
				switch mf.GetName() {
				case "onexbus_wal_fsync_duration_seconds":
					if q, ok := histogramQuantile(mf, 0.99); ok {
						o.FsyncP99 = humanSeconds(q)
					}
				case "onexbus_published_messages_total":
					for _, m := range mf.GetMetric() {
						o.Published += m.GetCounter().GetValue()
					}
					o.PublishRate = d.publishRate(o.Published)
				}
			}
		}
	}
	ctx := r.Context()
	if n, err := d.bus.DeadLetters().Count(ctx); err == nil {
		o.DLQTotal = n
	}
	if ls, err := d.bus.DeadLetters().List(ctx, dlq.Filter{Limit: 1}); err == nil && len(ls) == 1 {
		o.DLQOldest = &ls[0]
	}
	if d.opts.Forwarder != nil {
		if f, ok := d.opts.Forwarder(); ok {
			o.Forwarder = &f
		}
	}
	if d.opts.Checks != nil {
		o.Checks = d.opts.Checks()
	}
	d.render(w, r, "overview", "Overview", o)
}

// publishRate is the messages per second since the previous overview
// (at least a second apart).
func (d *Dashboard) publishRate(total float64) string {
	d.rateMu.Lock()
	defer d.rateMu.Unlock()
	now := time.Now()
	last := d.rateLast
	if last.at.IsZero() || now.Sub(last.at) >= time.Second {
		d.rateLast = rateSample{at: now, total: total}
	}
	if last.at.IsZero() {
		return "—"
	}
	dt := now.Sub(last.at).Seconds()
	if dt <= 0 {
		return "—"
	}
	return formatRate((total - last.total) / dt)
}

func formatRate(v float64) string {
	if v < 0 {
		v = 0
	}
	if v >= 100 {
		return strconvF(v, 0) + "/s"
	}
	return strconvF(v, 1) + "/s"
}

// histogramQuantile estimates quantile q of a histogram family (all
// series summed) by linear interpolation in its buckets, as PromQL's
// histogram_quantile.
func histogramQuantile(mf *dto.MetricFamily, q float64) (float64, bool) {
	type bk struct{ le, n float64 }
	sum := map[float64]float64{}
	var total float64
	for _, m := range mf.GetMetric() {
		hg := m.GetHistogram()
		if hg == nil {
			continue
		}
		total += float64(hg.GetSampleCount())
		for _, b := range hg.GetBucket() {
			sum[b.GetUpperBound()] += float64(b.GetCumulativeCount())
		}
	}
	if total == 0 {
		return 0, false
	}
	bs := make([]bk, 0, len(sum))
	for le, n := range sum {
		bs = append(bs, bk{le, n})
	}
	sort.Slice(bs, func(i, j int) bool { return bs[i].le < bs[j].le })
	rank := q * total
	prevLE, prevN := 0.0, 0.0
	for _, b := range bs {
		if b.n >= rank {
			if b.n == prevN {
				return b.le, true
			}
			return prevLE + (b.le-prevLE)*(rank-prevN)/(b.n-prevN), true
		}
		prevLE, prevN = b.le, b.n
	}
	return prevLE, true // above the last finite bucket
}

func dirSize(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, e fs.DirEntry, err error) error {
		if err != nil {
			return nil // a file removed meanwhile: skip it
		}
		if e.Type().IsRegular() {
			if fi, err := e.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}
