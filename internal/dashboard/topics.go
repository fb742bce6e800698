package dashboard

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/onexbus/onexbus/core"
)

type topicRow struct {
	Name, Category, Rate string
	Partitions           int32
	Messages, Bytes      int64
	Retention            string
}

type partitionRow struct {
	Partition       int32
	Start, End      int64
	Messages, Bytes int64
	LastAppend      time.Time
}

type topicDetail struct {
	topicRow
	Parts  []partitionRow
	Groups []partitionLag
}

// topicRates keeps the previous per-topic publish counts for rates.
type topicRates struct {
	mu   sync.Mutex
	at   time.Time
	last map[string]float64
	rate map[string]float64
}

func (d *Dashboard) publishedByTopic() map[string]float64 {
	out := map[string]float64{}
	if d.opts.Gatherer == nil {
		return out
	}
	mfs, err := d.opts.Gatherer.Gather()
	if err != nil {
		return out
	}
	for _, mf := range mfs {
		if mf.GetName() != "onexbus_published_messages_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "topic" {
					out[l.GetValue()] += m.GetCounter().GetValue()
				}
			}
		}
	}
	return out
}

// topicRate returns each topic's publish rate since the previous sample
// at least a second old.
func (d *Dashboard) topicRate() map[string]float64 {
	now := d.publishedByTopic()
	d.rates.mu.Lock()
	defer d.rates.mu.Unlock()
	t := time.Now()
	if d.rates.last != nil {
		if dt := t.Sub(d.rates.at).Seconds(); dt >= 1 {
			d.rates.rate = map[string]float64{}
			for k, v := range now {
				d.rates.rate[k] = (v - d.rates.last[k]) / dt
			}
			d.rates.last, d.rates.at = now, t
		}
	} else {
		d.rates.last, d.rates.at = now, t
	}
	return d.rates.rate
}

func (d *Dashboard) topicRow(name string, rate map[string]float64) (topicRow, bool) {
	tc, ok := d.bus.TopicConfig(name)
	if !ok {
		return topicRow{}, false
	}
	cat := "NONE"
	if t, err := core.ParseTopic(name); err == nil && t.Conforms() {
		cat = t.Category.String()
	}
	row := topicRow{Name: name, Category: cat, Partitions: tc.Partitions, Rate: "—", Retention: retentionText(tc.Retention)}
	if rate != nil {
		row.Rate = formatRate(rate[name])
	}
	for p := range tc.Partitions {
		start, err1 := d.bus.StartOffset(name, p)
		end, err2 := d.bus.EndOffset(name, p)
		if err1 == nil && err2 == nil {
			row.Messages += end - start
			if b, err := d.bus.TopicBytes(name, p, start); err == nil {
				row.Bytes += b
			}
		}
	}
	return row, true
}

func retentionText(r core.Retention) string {
	s := ""
	add := func(v string) {
		if s != "" {
			s += ", "
		}
		s += v
	}
	if r.MaxMessages > 0 {
		add(fmt.Sprintf("%d msgs", r.MaxMessages))
	}
	if r.MaxBytes > 0 {
		add(humanBytes(r.MaxBytes))
	}
	if r.MaxAge > 0 {
		add(r.MaxAge.String())
	}
	if s == "" {
		return "unlimited"
	}
	return s + " per partition"
}

func (d *Dashboard) topics(w http.ResponseWriter, r *http.Request) {
	rate := d.topicRate()
	names := d.bus.Topics()
	rows := make([]topicRow, 0, len(names))
	for _, n := range names {
		if row, ok := d.topicRow(n, rate); ok {
			rows = append(rows, row)
		}
	}
	d.render(w, r, "topics", "Topics", rows)
}

func (d *Dashboard) topic(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("topic")
	row, ok := d.topicRow(name, d.topicRate())
	if !ok {
		d.fail(w, http.StatusNotFound, fmt.Errorf("%w: topic %q", ErrNotFound, name))
		return
	}
	td := topicDetail{topicRow: row}
	for p := range row.Partitions {
		pr := partitionRow{Partition: p}
		pr.Start, _ = d.bus.StartOffset(name, p)
		pr.End, _ = d.bus.EndOffset(name, p)
		pr.Messages = pr.End - pr.Start
		pr.Bytes, _ = d.bus.TopicBytes(name, p, pr.Start)
		if pr.End > pr.Start {
			if last, err := d.bus.Fetch(r.Context(), name, p, pr.End-1, 1); err == nil && len(last) == 1 {
				pr.LastAppend = last[0].Timestamp
			}
		}
		td.Parts = append(td.Parts, pr)
	}
	for _, g := range d.bus.OffsetGroups() {
		for _, pl := range d.groupLag(r.Context(), g) {
			if pl.Topic == name {
				td.Groups = append(td.Groups, pl)
			}
		}
	}
	d.render(w, r, "topic", name, td)
}

// partitionLag is a group's position in one partition.
type partitionLag struct {
	Group, Topic        string
	Partition           int32
	Committed, End, Lag int64
	LagSeconds          float64
}

func (d *Dashboard) groupLag(ctx context.Context, group string) []partitionLag {
	now := time.Now()
	var out []partitionLag
	for _, o := range d.bus.GroupOffsets(group) {
		end, err := d.bus.EndOffset(o.Topic, o.Partition)
		if err != nil {
			continue // topic deleted meanwhile
		}
		pl := partitionLag{Group: group, Topic: o.Topic, Partition: o.Partition, Committed: o.Offset, End: end}
		if start, err := d.bus.StartOffset(o.Topic, o.Partition); err == nil {
			pl.Lag = max(0, end-max(o.Offset, start))
		}
		if pl.Lag > 0 {
			if m, err := d.bus.Fetch(ctx, o.Topic, o.Partition, o.Offset, 1); err == nil && len(m) == 1 {
				pl.LagSeconds = max(0, now.Sub(m[0].Timestamp).Seconds())
			}
		}
		out = append(out, pl)
	}
	return out
}
