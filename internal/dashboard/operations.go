package dashboard

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// opState is one operation's progress.
type opState struct {
	ID, Kind, Status, Error string
	Total, Done, Skipped    int
	Rate                    float64
	Started, Finished       time.Time
}

// Percent is the share done, 0 to 100.
func (o opState) Percent() int {
	if o.Total == 0 {
		return 100
	}
	return (o.Done + o.Skipped) * 100 / o.Total
}

type operation struct {
	mu      sync.Mutex
	st      opState
	changed chan struct{}
	cancel  context.CancelFunc
}

func (o *operation) snapshot() (opState, <-chan struct{}) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.st, o.changed
}

func (o *operation) update(fn func(*opState)) {
	o.mu.Lock()
	fn(&o.st)
	close(o.changed)
	o.changed = make(chan struct{})
	o.mu.Unlock()
}

// operations are the replays and purges started from the dashboard; the
// last 100 are kept.
type operations struct {
	mu    sync.Mutex
	seq   int
	byID  map[string]*operation
	order []string
}

func newOperations() *operations { return &operations{byID: map[string]*operation{}} }

func (s *operations) start(kind string, total int, rate float64, run func(ctx context.Context, progress func(done, skipped int)) error) string {
	ctx, cancel := context.WithCancel(context.Background())
	s.mu.Lock()
	s.seq++
	id := strconv.Itoa(s.seq)
	op := &operation{st: opState{ID: id, Kind: kind, Status: "running", Total: total, Rate: rate, Started: time.Now()},
		changed: make(chan struct{}), cancel: cancel}
	s.byID[id] = op
	s.order = append(s.order, id)
	if len(s.order) > 100 {
		if old := s.byID[s.order[0]]; old != nil {
			if st, _ := old.snapshot(); st.Status != "running" {
				delete(s.byID, s.order[0])
				s.order = s.order[1:]
			}
		}
	}
	s.mu.Unlock()
	go func() {
		defer cancel()
		err := run(ctx, func(done, skipped int) { op.update(func(st *opState) { st.Done, st.Skipped = done, skipped }) })
		op.update(func(st *opState) {
			st.Finished = time.Now()
			switch {
			case errors.Is(err, context.Canceled):
				st.Status = "cancelled"
			case err != nil:
				st.Status, st.Error = "failed", err.Error()
			default:
				st.Status = "succeeded"
			}
		})
	}()
	return id
}

func (s *operations) get(id string) (*operation, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	op, ok := s.byID[id]
	return op, ok
}

func (d *Dashboard) op(w http.ResponseWriter, r *http.Request) {
	op, ok := d.ops.get(r.PathValue("id"))
	if !ok {
		d.fail(w, http.StatusNotFound, fmt.Errorf("%w: operation %q", ErrNotFound, r.PathValue("id")))
		return
	}
	st, _ := op.snapshot()
	d.render(w, r, "op", "Operation "+st.ID, st)
}

func (d *Dashboard) opCancel(w http.ResponseWriter, r *http.Request) {
	op, ok := d.ops.get(r.PathValue("id"))
	if !ok {
		d.fail(w, http.StatusNotFound, fmt.Errorf("%w: operation %q", ErrNotFound, r.PathValue("id")))
		return
	}
	op.cancel()
	d.redirect(w, r, d.opts.Prefix+"ops/"+r.PathValue("id"))
}

// opEvents streams the operation's progress as "progress" events (one
// line of HTML each) until it ends.
func (d *Dashboard) opEvents(w http.ResponseWriter, r *http.Request) {
	op, ok := d.ops.get(r.PathValue("id"))
	if !ok {
		d.fail(w, http.StatusNotFound, fmt.Errorf("%w: operation %q", ErrNotFound, r.PathValue("id")))
		return
	}
	fl, ok := w.(http.Flusher)
	if !ok {
		d.fail(w, http.StatusInternalServerError, fmt.Errorf("dashboard: streaming unsupported"))
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	t := d.tmpl["op"]
	for {
		st, changed := op.snapshot()
		var buf stringsBuilder
		if err := t.ExecuteTemplate(&buf, "progress", st); err != nil {
			return
		}
		if _, err := fmt.Fprintf(w, "event: progress\ndata: %s\n\n", oneLine(buf.String())); err != nil {
			return
		}
		fl.Flush()
		if st.Status != "running" {
			_, _ = fmt.Fprint(w, "event: done\ndata: done\n\n")
			fl.Flush()
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-d.done:
			return
		case <-changed:
		}
	}
}
