package dashboard

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/onexbus/onexbus/dlq"
)

const dlqPageSize = 100

type dlqPage struct {
	Form    dlqForm
	Letters []dlq.Letter
	Total   int
	More    bool
	Err     string
}

type dlqForm struct {
	Topic, Group, Error, Since, Until string
}

type letterPage struct {
	L          dlq.Letter
	Key, Value string
}

func (f dlqForm) filter() (dlq.Filter, error) {
	fl := dlq.Filter{Topic: f.Topic, Group: f.Group, ErrorContains: f.Error}
	var errs []error
	for _, x := range []struct {
		name, v string
		dst     *time.Time
	}{{"since", f.Since, &fl.Since}, {"until", f.Until, &fl.Until}} {
		if x.v == "" {
			continue
		}
		t, err := parseTime(x.v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", x.name, err))
		}
		*x.dst = t
	}
	if err := errors.Join(errs...); err != nil {
		return fl, fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	return fl, nil
}

func parseTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a time (RFC 3339, or 2006-01-02T15:04)", s)
}

func formOf(v url.Values) dlqForm {
	return dlqForm{Topic: v.Get("topic"), Group: v.Get("group"), Error: v.Get("error"), Since: v.Get("since"), Until: v.Get("until")}
}

func (d *Dashboard) dlq(w http.ResponseWriter, r *http.Request) {
	p := dlqPage{Form: formOf(r.URL.Query())}
	f, err := p.Form.filter()
	if err == nil {
		f.Limit = dlqPageSize + 1
		p.Letters, err = d.bus.DeadLetters().List(r.Context(), f)
	}
	if err != nil {
		p.Err = err.Error()
	}
	if len(p.Letters) > dlqPageSize {
		p.Letters, p.More = p.Letters[:dlqPageSize], true
	}
	p.Total, _ = d.bus.DeadLetters().Count(r.Context())
	d.render(w, r, "dlq", "Dead letters", p)
}

func (d *Dashboard) letter(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseUint(r.PathValue("id"), 10, 64)
	if err != nil {
		d.fail(w, http.StatusBadRequest, fmt.Errorf("%w: letter id %q", ErrBadRequest, r.PathValue("id")))
		return
	}
	l, err := d.bus.DeadLetters().Get(r.Context(), id)
	if errors.Is(err, dlq.ErrNotFound) {
		d.fail(w, http.StatusNotFound, fmt.Errorf("%w: letter %d", ErrNotFound, id))
		return
	}
	if err != nil {
		d.fail(w, http.StatusInternalServerError, err)
		return
	}
	d.render(w, r, "letter", fmt.Sprintf("Letter %d", id), letterPage{L: l, Key: pretty(l.Key), Value: pretty(l.Value)})
}

// selection is the letters a replay or purge acts on: the ids ticked,
// or else the filter.
func (d *Dashboard) selection(r *http.Request) (dlq.Filter, error) {
	if err := r.ParseForm(); err != nil {
		return dlq.Filter{}, fmt.Errorf("%w: %w", ErrBadRequest, err)
	}
	if ids := r.PostForm["id"]; len(ids) > 0 {
		f := dlq.Filter{}
		for _, s := range ids {
			id, err := strconv.ParseUint(s, 10, 64)
			if err != nil {
				return f, fmt.Errorf("%w: letter id %q", ErrBadRequest, s)
			}
			f.IDs = append(f.IDs, id)
		}
		return f, nil
	}
	return formOf(r.PostForm).filter()
}

// countLetters lists the ids a filter selects (the dry run).
func (d *Dashboard) countLetters(ctx context.Context, f dlq.Filter) ([]uint64, error) {
	f.Limit = dlq.All
	ls, err := d.bus.DeadLetters().List(ctx, f)
	if err != nil {
		return nil, err
	}
	ids := make([]uint64, len(ls))
	for i := range ls {
		ids[i] = ls[i].ID
	}
	return ids, nil
}

func (d *Dashboard) dlqCount(w http.ResponseWriter, r *http.Request) {
	f, err := d.selection(r)
	var ids []uint64
	if err == nil {
		ids, err = d.countLetters(r.Context(), f)
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, `<span class="err">%s</span>`, htmlEscape(err.Error()))
		return
	}
	fmt.Fprintf(w, `<span class="count" id="dry-run-count">%d letters would be affected</span>`, len(ids))
}

func (d *Dashboard) dlqReplay(w http.ResponseWriter, r *http.Request) {
	f, err := d.selection(r)
	if err != nil {
		d.fail(w, http.StatusBadRequest, err)
		return
	}
	opts := dlq.ReplayOptions{ToGroup: strings.TrimSpace(r.PostFormValue("to_group"))}
	if s := r.PostFormValue("rate"); s != "" {
		if opts.Rate, err = strconv.ParseFloat(s, 64); err != nil {
			d.fail(w, http.StatusBadRequest, fmt.Errorf("%w: rate %q is not a number", ErrBadRequest, s))
			return
		}
	}
	if opts.Rate != 0 && (opts.Rate < dlq.MinReplayRate || opts.Rate > dlq.MaxReplayRate) {
		d.fail(w, http.StatusBadRequest, fmt.Errorf("%w: rate %v not 0 or in [%v, %v]", ErrBadRequest, opts.Rate, dlq.MinReplayRate, dlq.MaxReplayRate))
		return
	}
	ids, err := d.countLetters(r.Context(), f)
	if err != nil {
		d.fail(w, http.StatusBadRequest, err)
		return
	}
	op := d.ops.start("replay", len(ids), opts.Rate, func(ctx context.Context, progress func(done, skipped int)) error {
		return d.replay(ctx, ids, opts, progress)
	})
	d.redirect(w, r, d.opts.Prefix+"ops/"+op)
}

// replay re-publishes ids one chunk at a time so progress moves; the
// rate applies across chunks.
func (d *Dashboard) replay(ctx context.Context, ids []uint64, opts dlq.ReplayOptions, progress func(done, skipped int)) error {
	chunk := 50
	var every time.Duration
	if opts.Rate > 0 {
		chunk = 1
		every = time.Duration(float64(time.Second) / opts.Rate)
	}
	done, skipped := 0, 0
	next := time.Now()
	for i := 0; i < len(ids); i += chunk {
		if every > 0 {
			if wait := time.Until(next); wait > 0 {
				t := time.NewTimer(wait)
				select {
				case <-ctx.Done():
					t.Stop()
					return ctx.Err()
				case <-t.C:
				}
			}
			next = time.Now().Add(every)
		}
		part := ids[i:min(i+chunk, len(ids))]
		n, err := d.bus.ReplayDeadLetters(ctx, dlq.Filter{IDs: part, Limit: len(part)}, dlq.ReplayOptions{ToGroup: opts.ToGroup})
		if err != nil {
			return err
		}
		done += n
		skipped += len(part) - n
		progress(done, skipped)
	}
	return nil
}

func (d *Dashboard) dlqPurge(w http.ResponseWriter, r *http.Request) {
	f, err := d.selection(r)
	if err != nil {
		d.fail(w, http.StatusBadRequest, err)
		return
	}
	if r.PostFormValue("confirm") != "purge" {
		d.fail(w, http.StatusBadRequest, fmt.Errorf("%w: type purge in the confirmation box to purge", ErrBadRequest))
		return
	}
	ids, err := d.countLetters(r.Context(), f)
	if err != nil {
		d.fail(w, http.StatusBadRequest, err)
		return
	}
	op := d.ops.start("purge", len(ids), 0, func(ctx context.Context, progress func(done, skipped int)) error {
		done := 0
		for i := 0; i < len(ids); i += 500 {
			part := ids[i:min(i+500, len(ids))]
			n, err := d.bus.DeadLetters().Remove(ctx, part...)
			if err != nil {
				return err
			}
			done += n
			progress(done, i+len(part)-done)
		}
		return nil
	})
	d.redirect(w, r, d.opts.Prefix+"ops/"+op)
}

// redirect sends the browser to url: HX-Redirect for htmx, 303 otherwise.
func (d *Dashboard) redirect(w http.ResponseWriter, r *http.Request, url string) {
	if r.Header.Get("HX-Request") == "true" {
		w.Header().Set("HX-Redirect", url)
		w.WriteHeader(http.StatusNoContent)
		return
	}
	http.Redirect(w, r, url, http.StatusSeeOther)
}
