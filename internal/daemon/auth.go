package daemon

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"

	"github.com/onexbus/onexbus/transport/auth"
	httpapi "github.com/onexbus/onexbus/transport/http"
)

// security is the daemon's running security state: one principal store
// for every listener and each listener's certificates. Both are swapped
// in place on SIGHUP.
type security struct {
	store   *auth.Store
	limiter *auth.RateLimiter // nil: no rate limit
	kafka   *certSource       // nil: plaintext
	http    *certSource
	admin   *certSource
}

// newSecurity loads the principals and the listeners' certificates of
// cfg (already validated).
func newSecurity(cfg Config, file string) (*security, error) {
	snap, err := cfg.Security.Snapshot()
	if err != nil {
		return nil, err
	}
	s := &security{store: auth.NewStore(auth.WithRulePersister(rulePersister(file)))}
	if cfg.Security.RateLimit > 0 {
		s.limiter = auth.NewRateLimiter(cfg.Security.RateLimit, cfg.Security.RateBurst)
		names := make([]string, 0, len(snap.Users)+len(snap.Tokens))
		for u := range snap.Users {
			names = append(names, u)
		}
		for _, t := range snap.Tokens {
			names = append(names, t.Principal)
		}
		s.limiter.Track(names...)
	}
	if err := s.store.Replace(snap); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	for _, l := range []struct {
		dst    **certSource
		prefix string
		t      TLSConfig
	}{{&s.kafka, "kafka.tls", cfg.Security.KafkaTLS}, {&s.http, "http.tls", cfg.Security.HTTPTLS}, {&s.admin, "admin.tls", cfg.Security.AdminTLS}} {
		src, err := newCertSource(l.prefix, l.t)
		if err != nil {
			return nil, err
		}
		*l.dst = src
	}
	return s, nil
}

// tlsConfig is the listener's server TLS configuration; nil for
// plaintext.
func (c *certSource) tlsConfig() *tls.Config {
	if c == nil {
		return nil
	}
	return c.serverConfig()
}

// wrapTLS serves TLS on ln when src is set.
func wrapTLS(ln net.Listener, src *certSource) net.Listener {
	if src == nil {
		return ln
	}
	return tls.NewListener(ln, src.serverConfig())
}

// probes are the admin paths that answer without credentials: they tell
// a load balancer or a kubelet whether to send traffic, nothing more.
var probes = map[string]bool{"/livez": true, "/readyz": true, "/healthz": true}

// protectAdmin guards the admin listener once it authenticates: the
// probes stay open, /metrics needs describe on the cluster, the
// dashboard (/ui/, guarded by its own Options.Auth) and every other
// route (setup steps' included) admin on the cluster.
func (d *Daemon) protectAdmin(mux http.Handler) http.Handler {
	cfg := d.config()
	if !cfg.Security.httpAuthenticated(cfg.Security.AdminTLS) {
		return mux
	}
	metrics := httpapi.Protect(d.sec.store, auth.OpDescribe, mux)
	admin := httpapi.Protect(d.sec.store, auth.OpAdmin, mux)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case probes[r.URL.Path]:
			mux.ServeHTTP(w, r)
		case r.URL.Path == "/metrics":
			metrics.ServeHTTP(w, r)
		case len(r.URL.Path) >= 4 && r.URL.Path[:4] == "/ui/":
			mux.ServeHTTP(w, r) // the dashboard's Options.Auth
		default:
			admin.ServeHTTP(w, r)
		}
	})
}

// dashboardAuth is the dashboard's Options.Auth: admin on the cluster
// (it shows message bodies of every topic and replays dead letters);
// nil while the admin listener does not authenticate.
func (d *Daemon) dashboardAuth() func(http.Handler) http.Handler {
	cfg := d.config()
	if !cfg.Security.httpAuthenticated(cfg.Security.AdminTLS) {
		return nil
	}
	return func(h http.Handler) http.Handler { return httpapi.Protect(d.sec.store, auth.OpAdmin, h) }
}

// warnExposure logs, at every start, each listener that
// security.insecure lets serve a non-loopback address without
// authentication, and each one where passwords cross without TLS.
func (d *Daemon) warnExposure(cfg Config) {
	if cfg.Insecure {
		for _, l := range cfg.exposed() {
			d.log.Warn("security.insecure is set: this listener accepts unauthenticated clients on a non-loopback address",
				"setting", l.name, "addr", l.addr)
		}
	}
	s := &cfg.Security
	if len(s.Users) == 0 {
		return
	}
	if !loopback(cfg.KafkaAddr) && !s.KafkaTLS.Enabled() && s.AllowPlain {
		d.log.Warn("SASL PLAIN without TLS on a non-loopback Kafka listener: passwords cross the network in clear; set kafka.tls.cert_file",
			"setting", "kafka.addr", "addr", cfg.KafkaAddr)
	}
	for _, l := range []struct {
		name, addr string
		t          TLSConfig
	}{{"http.addr", cfg.HTTPAddr, s.HTTPTLS}, {"admin.addr", cfg.AdminAddr, s.AdminTLS}} {
		if !loopback(l.addr) && !l.t.Enabled() {
			d.log.Warn("HTTP Basic and bearer tokens without TLS on a non-loopback listener cross the network in clear; set its tls.cert_file",
				"setting", l.name, "addr", l.addr)
		}
	}
}

// scheme is the URL scheme of a listener with src.
func (d *Daemon) scheme(src *certSource) string {
	if src != nil {
		return "https://"
	}
	return "http://"
}

// rulePersister writes the rule set of a Kafka CreateAcls or DeleteAcls
// into the configuration file (security.acls) before the store applies
// it; without a file the change is refused.
func rulePersister(file string) func([]auth.Rule) error {
	return func(rules []auth.Rule) error {
		if file == "" {
			return fmt.Errorf("%w: ACL changes need a configuration file to persist them in (serve --config)", ErrInvalidConfig)
		}
		acls := make([]ACLConfig, len(rules))
		for i, r := range rules {
			acls[i] = aclConfig(r)
		}
		return EditPrincipals(file, func(p *Principals) error {
			p.ACLs = acls
			return nil
		})
	}
}
