package dashboard

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"

	"github.com/onexbus/onexbus/core"
)

type tailPage struct {
	Topic  string
	Filter string
	Events string
}

func (d *Dashboard) tailPage(w http.ResponseWriter, r *http.Request) {
	topic := r.PathValue("topic")
	if _, ok := d.bus.TopicConfig(topic); !ok {
		d.fail(w, http.StatusNotFound, fmt.Errorf("%w: topic %q", ErrNotFound, topic))
		return
	}
	f := r.URL.Query().Get("filter")
	ev := d.opts.Prefix + "tail/" + topic + "/events"
	if f != "" {
		ev += "?filter=" + urlQuery(f)
	}
	d.render(w, r, "tail", "Live tail of "+topic, tailPage{Topic: topic, Filter: f, Events: ev})
}

// tailEvents streams the topic's new messages as one-line HTML rows
// (event "message") from the end at connect time; filter keeps the rows
// whose key, value or headers contain it.
func (d *Dashboard) tailEvents(w http.ResponseWriter, r *http.Request) {
	topic := r.PathValue("topic")
	tc, ok := d.bus.TopicConfig(topic)
	if !ok {
		d.fail(w, http.StatusNotFound, fmt.Errorf("%w: topic %q", ErrNotFound, topic))
		return
	}
	fl, ok := w.(http.Flusher)
	if !ok {
		d.fail(w, http.StatusInternalServerError, fmt.Errorf("dashboard: streaming unsupported"))
		return
	}
	q := query{Text: r.URL.Query().Get("filter")}
	ctx := r.Context()
	next := make([]int64, tc.Partitions)
	for p := range tc.Partitions {
		end, err := d.bus.EndOffset(topic, p)
		if err != nil {
			d.fail(w, http.StatusInternalServerError, err)
			return
		}
		next[p] = end
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = fmt.Fprint(w, ": tail open\n\n")
	fl.Flush()
	t := d.tmpl["tail"]
	var buf bytes.Buffer
	for {
		woke := make(chan struct{})
		pos := make([]core.WatchPos, len(next))
		for p := range next {
			pos[p] = core.WatchPos{Topic: topic, Part: int32(p), After: next[p]}
		}
		cancel, err := d.bus.Kafka().Watch(pos, func() { close(woke) })
		if err != nil {
			return
		}
		// Read what arrived before the watch was set, then wait.
		sent := false
		for p := range next {
			msgs, err := d.bus.Fetch(ctx, topic, int32(p), next[p], 100)
			if err != nil {
				cancel()
				return
			}
			for _, m := range msgs {
				next[p] = m.Offset + 1
				var n int
				if !q.match(m, &n) {
					continue
				}
				buf.Reset()
				if err := t.ExecuteTemplate(&buf, "row", d.view(m)); err != nil {
					cancel()
					return
				}
				line := strings.ReplaceAll(buf.String(), "\n", " ")
				if _, err := fmt.Fprintf(w, "event: message\ndata: %s\n\n", line); err != nil {
					cancel()
					return
				}
				sent = true
			}
		}
		if sent {
			fl.Flush()
			cancel()
			continue
		}
		select {
		case <-d.done:
			cancel()
			return
		case <-ctx.Done():
			cancel()
			return
		case <-woke:
		}
		cancel()
	}
}
