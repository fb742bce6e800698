// Package dashboard is onexbusd's web console: server-rendered
// html/template pages with htmx (and its SSE extension) and uPlot charts,
// all vendored under static/vendor with their versions and licences and
// served from an embed.FS, so the binary needs no node and no network.
//
// onexbusd mounts Handler under /ui/ on the admin listener. The pages are
// Overview, Topics and topic detail, the message browser (newest first by
// default, or from the oldest, an offset or a time; filters by key,
// header, correlation id, time range, text and an expr-lang expression
// evaluated on the server within a scan budget), a live tail over SSE,
// Groups with lag in messages and seconds and a trend chart, the
// dead-letter queue with replay and purge as operations whose progress
// streams over SSE, Breakers with reset, and the read-only Configuration.
//
// # Security
//
// Every response carries a content security policy without inline
// scripts or styles (default-src 'self'), X-Frame-Options DENY and
// nosniff. The first page sets a session cookie (HttpOnly,
// SameSite=Strict) and every page carries a CSRF token derived from it;
// every state-changing request (POST) must come with an Origin equal to
// the dashboard's own, the session cookie and the token (header
// X-CSRF-Token or form field csrf), else it is refused with 403.
// Options.Auth is the hook for the API's authentication: it wraps the
// whole handler, pages and assets included.
package dashboard
