package checker

import (
	"fmt"
	"sort"
	"strings"
)

// Options tune Check.
type Options struct {
	// Unordered names groups whose deliveries need not follow offset
	// order within a session (parallel ordering modes): only their
	// redeliveries and losses are checked.
	Unordered map[string]bool
	// ForeignOffsets says the acknowledged positions are in another log
	// than the final read (a forwarder's local log, read back upstream):
	// acks are matched to the final read by value only.
	ForeignOffsets bool
	// MaxReport caps the examples kept per anomaly class (default 20).
	MaxReport int
}

// Result is what Check found. Each slice holds up to Options.MaxReport
// examples of one class of anomaly; the counts hold every one.
type Result struct {
	Invoked, Acked, Failed, Delivered, Stored int

	Lost          []string // acknowledged, then missing from the log or a drained group
	BadAck        []string // acknowledged at an offset that holds something else, or twice
	Unexpected    []string // in the log or delivered, never published
	Duplicates    []string // stored twice, or redelivered below a committed cursor
	Reordered     []string // a key's values out of publish order
	OffsetBack    []string // offsets that go backwards or repeat in a session; holes
	CursorAhead   []string // committed cursor past the partition's end, or moving back
	Counts        map[string]int
	DeliveredOnce int // distinct (group, value) pairs delivered
}

// OK reports whether no anomaly was found.
func (r *Result) OK() bool {
	for _, n := range r.Counts {
		if n > 0 {
			return false
		}
	}
	return true
}

// String summarizes the result: the counts, then the examples.
func (r *Result) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "invoked=%d acked=%d failed=%d delivered=%d (distinct group/value %d) stored=%d",
		r.Invoked, r.Acked, r.Failed, r.Delivered, r.DeliveredOnce, r.Stored)
	for _, c := range r.classes() {
		if n := r.Counts[c.name]; n > 0 {
			fmt.Fprintf(&b, "\n%s: %d", c.name, n)
			for _, ex := range *c.list {
				fmt.Fprintf(&b, "\n  %s", ex)
			}
		}
	}
	return b.String()
}

type class struct {
	name string
	list *[]string
}

func (r *Result) classes() []class {
	return []class{
		{"lost", &r.Lost}, {"bad-ack", &r.BadAck}, {"unexpected", &r.Unexpected},
		{"duplicate", &r.Duplicates}, {"reordered", &r.Reordered},
		{"offset-back", &r.OffsetBack}, {"cursor-ahead", &r.CursorAhead},
	}
}

func (r *Result) note(list *[]string, name string, max int, format string, args ...any) {
	r.Counts[name]++
	if len(*list) < max {
		*list = append(*list, fmt.Sprintf(format, args...))
	}
}

type pos struct {
	tp
	off int64
}

type gtp struct {
	group string
	tp
}

// Check checks the history; see the package doc for what it looks for.
func (h *History) Check(opts Options) *Result {
	if opts.MaxReport <= 0 {
		opts.MaxReport = 20
	}
	h.mu.Lock()
	events := append([]Event(nil), h.events...)
	final := make(map[tp][]Record, len(h.final))
	for k, v := range h.final {
		final[k] = v
	}
	drained := append([]string(nil), h.drained...)
	start := make(map[tp]int64, len(h.start))
	for k, v := range h.start {
		start[k] = v
	}
	h.mu.Unlock()

	r := &Result{Counts: map[string]int{}}
	max := opts.MaxReport
	for _, c := range r.classes() {
		r.Counts[c.name] = 0
	}

	// Publishes: each value's key, its place in its key's publish order,
	// and its acknowledged position.
	type pub struct {
		key   string
		seq   int // index in its key's invocation order
		acked bool
		at    pos
	}
	pubs := map[string]*pub{}
	keySeq := map[string]int{}
	ackAt := map[pos]string{}
	for _, e := range events {
		switch e.Kind {
		case Invoke:
			r.Invoked++
			pubs[e.Value] = &pub{key: e.Key, seq: keySeq[e.Key]}
			keySeq[e.Key]++
		case Ack:
			r.Acked++
			p := pubs[e.Value]
			if p == nil {
				r.note(&r.Unexpected, "unexpected", max, "ack of %q never invoked", e.Value)
				continue
			}
			p.acked, p.at = true, pos{tp{e.Topic, e.Partition}, e.Offset}
			if opts.ForeignOffsets {
				continue
			}
			if other, dup := ackAt[p.at]; dup {
				r.note(&r.BadAck, "bad-ack", max, "%s/%d@%d acknowledged for %q and %q", e.Topic, e.Partition, e.Offset, other, e.Value)
			}
			ackAt[p.at] = e.Value
		case Fail:
			r.Failed++
		}
	}

	// The final read: dense offsets, known values, each once, acks kept,
	// keys in publish order.
	stored := map[string]pos{}
	ends := map[tp]int64{}
	tps := make([]tp, 0, len(final))
	for k := range final {
		tps = append(tps, k)
	}
	sort.Slice(tps, func(i, j int) bool {
		if tps[i].topic != tps[j].topic {
			return tps[i].topic < tps[j].topic
		}
		return tps[i].part < tps[j].part
	})
	lastSeq := map[string]struct {
		seq int
		at  pos
	}{}
	for _, k := range tps {
		recs := final[k]
		for i, rec := range recs {
			r.Stored++
			at := pos{k, rec.Offset}
			if i == 0 && rec.Offset != start[k] {
				r.note(&r.OffsetBack, "offset-back", max, "final read of %s/%d starts at %d, the log at %d", k.topic, k.part, rec.Offset, start[k])
			}
			if i > 0 && rec.Offset != recs[i-1].Offset+1 {
				r.note(&r.OffsetBack, "offset-back", max, "final read of %s/%d: offset %d after %d", k.topic, k.part, rec.Offset, recs[i-1].Offset)
			}
			if want, ok := ackAt[at]; ok && want != rec.Value {
				r.note(&r.BadAck, "bad-ack", max, "%q acknowledged at %s/%d@%d, which holds %q", want, k.topic, k.part, rec.Offset, rec.Value)
			}
			p := pubs[rec.Value]
			if p == nil {
				r.note(&r.Unexpected, "unexpected", max, "%s/%d@%d holds %q, never published", k.topic, k.part, rec.Offset, rec.Value)
				continue
			}
			if prev, dup := stored[rec.Value]; dup {
				r.note(&r.Duplicates, "duplicate", max, "%q stored at %s/%d@%d and %s/%d@%d", rec.Value, prev.topic, prev.part, prev.off, k.topic, k.part, rec.Offset)
				continue
			}
			stored[rec.Value] = at
			if last, ok := lastSeq[p.key]; ok && p.key != "" {
				if last.at.tp != k {
					r.note(&r.Reordered, "reordered", max, "key %q stored in %s/%d and %s/%d", p.key, last.at.topic, last.at.part, k.topic, k.part)
				} else if p.seq < last.seq {
					r.note(&r.Reordered, "reordered", max, "key %q: %q (published #%d) at offset %d after #%d at %d", p.key, rec.Value, p.seq, rec.Offset, last.seq, last.at.off)
				}
			}
			lastSeq[p.key] = struct {
				seq int
				at  pos
			}{p.seq, at}
		}
		if n := len(recs); n > 0 {
			ends[k] = recs[n-1].Offset + 1
		}
	}
	for v, p := range pubs {
		if !p.acked {
			continue
		}
		if opts.ForeignOffsets {
			if _, ok := stored[v]; !ok && finalHas(final, p.at.topic) {
				r.note(&r.Lost, "lost", max, "%q acknowledged (locally at %s/%d@%d), missing from the final read", v, p.at.topic, p.at.part, p.at.off)
			}
			continue
		}
		if _, have := final[p.at.tp]; !have {
			continue // no final read of that partition
		}
		if p.at.off < start[p.at.tp] {
			continue // removed by retention
		}
		if _, ok := stored[v]; !ok {
			r.note(&r.Lost, "lost", max, "%q acknowledged at %s/%d@%d, missing from the final read", v, p.at.topic, p.at.part, p.at.off)
		}
	}

	// Deliveries and commits, in history order.
	committed := map[gtp]int64{}
	type sessTP struct {
		session string
		tp
	}
	lastOff := map[sessTP]int64{}
	type sessKey struct{ session, key string }
	lastKeyOff := map[sessKey]pos{}
	delivered := map[string]map[string]bool{} // group -> values
	for _, e := range events {
		k := tp{e.Topic, e.Partition}
		switch e.Kind {
		case Commit:
			g := gtp{e.Group, k}
			if prev, ok := committed[g]; ok && e.Offset < prev {
				r.note(&r.CursorAhead, "cursor-ahead", max, "group %s cursor of %s/%d moved back from %d to %d", e.Group, e.Topic, e.Partition, prev, e.Offset)
			}
			committed[g] = e.Offset
		case Deliver:
			r.Delivered++
			if delivered[e.Group] == nil {
				delivered[e.Group] = map[string]bool{}
			}
			if !delivered[e.Group][e.Value] {
				r.DeliveredOnce++
			}
			delivered[e.Group][e.Value] = true
			if pubs[e.Value] == nil {
				r.note(&r.Unexpected, "unexpected", max, "group %s got %q at %s/%d@%d, never published", e.Group, e.Value, e.Topic, e.Partition, e.Offset)
			}
			if at, ok := stored[e.Value]; ok && !opts.ForeignOffsets && (at.tp != k || at.off != e.Offset) {
				r.note(&r.BadAck, "bad-ack", max, "group %s got %q at %s/%d@%d, stored at %s/%d@%d", e.Group, e.Value, e.Topic, e.Partition, e.Offset, at.topic, at.part, at.off)
			}
			if c, ok := committed[gtp{e.Group, k}]; ok && e.Offset < c {
				r.note(&r.Duplicates, "duplicate", max, "group %s got %s/%d@%d again after committing %d", e.Group, e.Topic, e.Partition, e.Offset, c)
			}
			if opts.Unordered[e.Group] {
				continue
			}
			st := sessTP{e.Client, k}
			if prev, ok := lastOff[st]; ok && e.Offset <= prev {
				r.note(&r.OffsetBack, "offset-back", max, "session %s of group %s: %s/%d@%d after @%d", e.Client, e.Group, e.Topic, e.Partition, e.Offset, prev)
			}
			lastOff[st] = e.Offset
			if e.Key != "" {
				sk := sessKey{e.Client, e.Key}
				if prev, ok := lastKeyOff[sk]; ok && prev.tp == k && e.Offset < prev.off {
					r.note(&r.Reordered, "reordered", max, "session %s of group %s: key %q at @%d after @%d", e.Client, e.Group, e.Key, e.Offset, prev.off)
				}
				lastKeyOff[sk] = pos{k, e.Offset}
			}
		}
	}
	for g, c := range committed {
		if end, ok := ends[g.tp]; ok && c > end {
			r.note(&r.CursorAhead, "cursor-ahead", max, "group %s cursor of %s/%d at %d, past the end %d", g.group, g.topic, g.part, c, end)
		} else if _, have := final[g.tp]; have && !ok && c > 0 {
			r.note(&r.CursorAhead, "cursor-ahead", max, "group %s cursor of %s/%d at %d, the partition is empty", g.group, g.topic, g.part, c)
		}
	}
	for _, g := range drained {
		for v, p := range pubs {
			if p.acked && !delivered[g][v] && p.at.off >= start[p.at.tp] {
				r.note(&r.Lost, "lost", max, "%q acknowledged at %s/%d@%d, never delivered to drained group %s", v, p.at.topic, p.at.part, p.at.off, g)
			}
		}
	}
	for _, c := range r.classes() {
		sort.Strings(*c.list)
	}
	return r
}

// finalHas reports whether the final read covers any partition of topic.
func finalHas(final map[tp][]Record, topic string) bool {
	for k := range final {
		if k.topic == topic {
			return true
		}
	}
	return false
}
