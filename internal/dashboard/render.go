package dashboard

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// pages are the templates rendered inside layout.html.
var pages = []string{"overview", "topics", "topic", "messages", "tail", "groups", "group", "dlq", "letter", "op", "breakers", "config"}

func parseTemplates(prefix string) (map[string]*template.Template, error) {
	funcs := template.FuncMap{
		"bytes":  humanBytes,
		"ago":    ago,
		"ts":     func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05.000Z") },
		"secs":   func(s float64) string { return humanSeconds(s) },
		"prefix": func() string { return prefix },
		"path":   url.PathEscape,
		"query":  url.QueryEscape,
	}
	out := map[string]*template.Template{}
	for _, p := range pages {
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(content, "templates/layout.html", "templates/"+p+".html")
		if err != nil {
			return nil, fmt.Errorf("dashboard: template %s: %w", p, err)
		}
		out[p] = t
	}
	return out, nil
}

// page is what layout.html renders.
type page struct {
	Title  string
	Nav    string
	Prefix string
	CSRF   string
	Data   any
}

// render writes page name; an htmx request (HX-Request) for a page with
// a "fragment" template gets only the fragment.
func (d *Dashboard) render(w http.ResponseWriter, r *http.Request, name, title string, data any) {
	sess := d.session(w, r)
	t := d.tmpl[name]
	p := page{Title: title, Nav: name, Prefix: d.opts.Prefix, CSRF: d.csrfToken(sess), Data: data}
	exec := "layout.html"
	if r.Header.Get("HX-Request") == "true" && r.Header.Get("HX-Boosted") != "true" && t.Lookup("fragment") != nil {
		exec = "fragment"
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, exec, p); err != nil {
		http.Error(w, "dashboard: render "+name+": "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(buf.Bytes())
}

// fail answers an error page with status.
func (d *Dashboard) fail(w http.ResponseWriter, status int, err error) {
	http.Error(w, err.Error(), status)
}

func humanBytes(n any) string {
	var v float64
	switch x := n.(type) {
	case int64:
		v = float64(x)
	case uint64:
		v = float64(x)
	case int:
		v = float64(x)
	default:
		return fmt.Sprint(n)
	}
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	i := 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%.0f B", v)
	}
	return fmt.Sprintf("%.1f %s", v, units[i])
}

func humanSeconds(s float64) string {
	switch {
	case s <= 0:
		return "0s"
	case s < 1:
		return fmt.Sprintf("%.0fms", s*1000)
	case s < 120:
		return fmt.Sprintf("%.1fs", s)
	}
	return (time.Duration(s) * time.Second).Round(time.Second).String()
}

func ago(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return humanSeconds(time.Since(t).Seconds()) + " ago"
}

// pretty indents a JSON value; anything else is shown as text, with
// invalid UTF-8 as a Go-quoted string.
func pretty(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	var out bytes.Buffer
	if json.Valid(b) {
		if err := json.Indent(&out, b, "", "  "); err == nil {
			return out.String()
		}
	}
	if !utf8.Valid(b) {
		return fmt.Sprintf("%q", b)
	}
	return string(b)
}

func strconvF(v float64, prec int) string { return strconv.FormatFloat(v, 'f', prec, 64) }

func htmlEscape(s string) string { return template.HTMLEscapeString(s) }

func urlQuery(s string) string { return url.QueryEscape(s) }

type stringsBuilder = strings.Builder

func oneLine(s string) string { return strings.ReplaceAll(strings.ReplaceAll(s, "\r", ""), "\n", " ") }
