package dashboard

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/onexbus/onexbus/core"
)

//go:embed static templates
var content embed.FS

// Check is one health check shown on the overview.
type Check struct {
	Name string
	OK   bool
	Info string
}

// ConfigRow is one setting on the configuration page; Value is already
// redacted when the setting is secret.
type ConfigRow struct {
	Name, Value, Source, Help string
	Secret, Reloadable        bool
}

// Forwarder is the fronting forwarder's state shown on the overview.
type Forwarder struct {
	// Backlog is the number of messages upstream has not acknowledged.
	Backlog int64
	// BudgetBytes is the most bytes the local log holds for the
	// forwarder before publishers are held back; 0 is no budget.
	BudgetBytes int64
	// Upstream is the upstream breaker's state.
	Upstream string
}

// Options describe the daemon around the bus. Every field is optional.
type Options struct {
	// Version is the build's version.
	Version string
	// Mode is "standalone" or "fronting".
	Mode func() string
	// Started is when the daemon started (uptime).
	Started time.Time
	// DataDir is the storage directory (size and free space).
	DataDir string
	// DiskSpace returns the free and total bytes of dir's file system.
	DiskSpace func(dir string) (free, total uint64, err error)
	// Gatherer is the metrics registry (fsync p99, publish rate).
	Gatherer prometheus.Gatherer
	// Checks returns the readiness checks.
	Checks func() []Check
	// Config returns the effective configuration, secrets redacted.
	Config func() []ConfigRow
	// Forwarder returns the forwarder's backlog when fronting.
	Forwarder func() (Forwarder, bool)
	// APIBase is the HTTP API's base URL for "copy as curl"
	// (http://127.0.0.1:8080); empty shows a placeholder.
	APIBase string
	// Auth wraps the whole dashboard: the hook for the API's
	// authentication middleware. Nil serves without authentication.
	Auth func(http.Handler) http.Handler
	// Prefix is where the dashboard is mounted; default "/ui/".
	Prefix string
	// ScanBudget is the most messages a browser search reads; default
	// 20,000.
	ScanBudget int
	// SampleEvery is the lag trend's sampling period; default 10s.
	SampleEvery time.Duration
}

// Dashboard serves the web console of one bus.
type Dashboard struct {
	bus    *core.Bus
	opts   Options
	tmpl   map[string]*template.Template
	secret []byte
	static http.Handler
	ops    *operations
	trend  *trends
	mux    *http.ServeMux
	done   <-chan struct{} // ctx of New: streams end with it

	rates    topicRates
	rateMu   sync.Mutex
	rateLast rateSample
}

// New returns the dashboard of bus. ctx bounds the lag sampler: it stops
// when ctx ends.
func New(ctx context.Context, bus *core.Bus, opts Options) (*Dashboard, error) {
	if bus == nil {
		return nil, fmt.Errorf("%w: nil bus", ErrInvalidOption)
	}
	if opts.Prefix == "" {
		opts.Prefix = "/ui/"
	}
	if !strings.HasPrefix(opts.Prefix, "/") || !strings.HasSuffix(opts.Prefix, "/") {
		return nil, fmt.Errorf("%w: prefix %q must start and end with /", ErrInvalidOption, opts.Prefix)
	}
	if opts.ScanBudget == 0 {
		opts.ScanBudget = 20000
	}
	if opts.ScanBudget < 0 || opts.ScanBudget > 10_000_000 {
		return nil, fmt.Errorf("%w: scan budget %d not in [1, 10000000]", ErrInvalidOption, opts.ScanBudget)
	}
	if opts.SampleEvery == 0 {
		opts.SampleEvery = 10 * time.Second
	}
	if opts.SampleEvery < 10*time.Millisecond {
		return nil, fmt.Errorf("%w: sample period %v under 10ms", ErrInvalidOption, opts.SampleEvery)
	}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return nil, fmt.Errorf("dashboard: session secret: %w", err)
	}
	d := &Dashboard{bus: bus, opts: opts, secret: secret, ops: newOperations(), trend: newTrends(120), done: ctx.Done()}
	tm, err := parseTemplates(opts.Prefix)
	if err != nil {
		return nil, err
	}
	d.tmpl = tm
	sub, err := fs.Sub(content, "static")
	if err != nil {
		return nil, fmt.Errorf("dashboard: static assets: %w", err)
	}
	d.static = http.StripPrefix(opts.Prefix+"static/", http.FileServerFS(sub))
	d.mux = d.routes()
	go d.trend.sample(ctx, d, opts.SampleEvery)
	return d, nil
}

// Handler serves the dashboard under Options.Prefix.
func (d *Dashboard) Handler() http.Handler {
	var h http.Handler = http.HandlerFunc(d.serve)
	if d.opts.Auth != nil {
		h = d.opts.Auth(h)
	}
	return h
}

const csp = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

const sessionCookie = "onexbus_ui"

func (d *Dashboard) serve(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", csp)
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "same-origin")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		if err := d.checkStateChange(r); err != nil {
			http.Error(w, err.Error(), http.StatusForbidden)
			return
		}
	}
	d.mux.ServeHTTP(w, r)
}

// checkStateChange refuses a POST without the dashboard's Origin, the
// session cookie and the CSRF token derived from it.
func (d *Dashboard) checkStateChange(r *http.Request) error {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return fmt.Errorf("%w: no Origin header", ErrForbidden)
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if origin != scheme+"://"+r.Host {
		return fmt.Errorf("%w: Origin %q is not %s://%s", ErrForbidden, origin, scheme, r.Host)
	}
	c, err := r.Cookie(sessionCookie)
	if err != nil || !d.validSession(c.Value) {
		return fmt.Errorf("%w: no valid session; reload the page", ErrForbidden)
	}
	tok := r.Header.Get("X-CSRF-Token")
	if tok == "" {
		tok = r.PostFormValue("csrf")
	}
	if !hmac.Equal([]byte(tok), []byte(d.csrfToken(c.Value))) {
		return fmt.Errorf("%w: missing or wrong CSRF token; reload the page", ErrForbidden)
	}
	return nil
}

// A session is random id + "." + its MAC, so a forged cookie fails.
func (d *Dashboard) newSession() string {
	id := make([]byte, 16)
	_, _ = rand.Read(id) // crypto/rand never fails on supported platforms
	s := hex.EncodeToString(id)
	return s + "." + d.mac("session", s)
}

func (d *Dashboard) validSession(v string) bool {
	id, sig, ok := strings.Cut(v, ".")
	return ok && len(id) == 32 && hmac.Equal([]byte(sig), []byte(d.mac("session", id)))
}

func (d *Dashboard) csrfToken(session string) string { return d.mac("csrf", session) }

func (d *Dashboard) mac(purpose, v string) string {
	m := hmac.New(sha256.New, d.secret)
	m.Write([]byte(purpose + ":" + v))
	return hex.EncodeToString(m.Sum(nil))
}

// session returns the request's session, setting a new cookie when it
// has none (or a forged one).
func (d *Dashboard) session(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(sessionCookie); err == nil && d.validSession(c.Value) {
		return c.Value
	}
	s := d.newSession()
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: s, Path: d.opts.Prefix, HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
	return s
}
