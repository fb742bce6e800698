package daemon

import (
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"time"
)

// securitySettings are the security rows of the settings table: SASL,
// rate and connection limits, and each listener's TLS. The principals
// themselves (security.users, tokens, acls) are structuredSettings.
var securitySettings = append([]setting{
	{name: "security.allow_plain", env: "ONEXBUS_SECURITY_ALLOW_PLAIN", flag: "allow-plain", def: "false", boolean: true,
		help: "offer SASL PLAIN on the Kafka listener besides SCRAM (the password crosses the connection: use TLS)",
		set:  boolSetter(func(c *Config) *bool { return &c.Security.AllowPlain })},
	{name: "security.sasl_session_lifetime", env: "ONEXBUS_SECURITY_SASL_SESSION_LIFETIME", flag: "sasl-session-lifetime", def: "0s",
		help: "Kafka SASL sessions end after this and the client re-authenticates (KIP-368); 0 (unlimited) or 1s..720h",
		set:  durationSetter(func(c *Config) *time.Duration { return &c.Security.SASLSessionLifetime }, time.Second, 720*time.Hour, true)},
	{name: "security.rate_limit", env: "ONEXBUS_SECURITY_RATE_LIMIT", flag: "rate-limit", def: "0",
		help: "requests per second per principal on the Kafka and HTTP listeners (Kafka throttle time, HTTP 429); 0 (off) or 0.001..1000000",
		set: func(c *Config, v string) error {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil || math.IsNaN(f) {
				return fmt.Errorf("%q is not a number", v)
			}
			if f != 0 && (f < 0.001 || f > 1e6) {
				return fmt.Errorf("%v not 0 or in 0.001..1000000", f)
			}
			c.Security.RateLimit = f
			return nil
		}},
	{name: "security.rate_burst", env: "ONEXBUS_SECURITY_RATE_BURST", flag: "rate-burst", def: "100",
		help: "requests a principal may make at once under security.rate_limit; 1..1000000",
		set:  intSetter(func(c *Config, n int64) { c.Security.RateBurst = int(n) }, 1, 1_000_000)},
	{name: "limits.max_connections_per_addr", env: "ONEXBUS_LIMITS_MAX_CONNECTIONS_PER_ADDR", flag: "max-connections-per-addr", def: "0",
		help: "Kafka connections from one client address at once; 0 (only limits.max_connections) or 1..1000000",
		set:  intSetter(func(c *Config, n int64) { c.Security.MaxConnectionsPerAddr = int(n) }, 0, 1_000_000)},
	{name: "http.max_connections", env: "ONEXBUS_HTTP_MAX_CONNECTIONS", flag: "http-max-connections", def: "1024",
		help: "HTTP API connections at once; 1..1000000",
		set:  intSetter(func(c *Config, n int64) { c.Security.HTTPMaxConnections = int(n) }, 1, 1_000_000)},
	{name: "http.max_connections_per_addr", env: "ONEXBUS_HTTP_MAX_CONNECTIONS_PER_ADDR", flag: "http-max-connections-per-addr", def: "0",
		help: "HTTP API connections from one client address; 0 (only http.max_connections) or 1..1000000",
		set:  intSetter(func(c *Config, n int64) { c.Security.HTTPMaxConnectionsPerAddr = int(n) }, 0, 1_000_000)},
	{name: "admin.max_connections", env: "ONEXBUS_ADMIN_MAX_CONNECTIONS", flag: "admin-max-connections", def: "256",
		help: "admin listener connections at once; 1..1000000",
		set:  intSetter(func(c *Config, n int64) { c.Security.AdminMaxConnections = int(n) }, 1, 1_000_000)},
	{name: "admin.max_connections_per_addr", env: "ONEXBUS_ADMIN_MAX_CONNECTIONS_PER_ADDR", flag: "admin-max-connections-per-addr", def: "0",
		help: "admin listener connections from one client address; 0 (only admin.max_connections) or 1..1000000",
		set:  intSetter(func(c *Config, n int64) { c.Security.AdminMaxConnectionsPerAddr = int(n) }, 0, 1_000_000)},
}, append(append(tlsSettings("kafka", "Kafka", func(c *Config) *TLSConfig { return &c.Security.KafkaTLS }),
	tlsSettings("http", "HTTP API", func(c *Config) *TLSConfig { return &c.Security.HTTPTLS })...),
	tlsSettings("admin", "admin", func(c *Config) *TLSConfig { return &c.Security.AdminTLS })...)...)

// tlsSettings are the four TLS rows of one listener. The files are read
// at start and again on SIGHUP (a failed read keeps the old certificate).
func tlsSettings(prefix, what string, field func(*Config) *TLSConfig) []setting {
	up := strings.ToUpper(prefix)
	file := func(set func(t *TLSConfig, v string)) func(*Config, string) error {
		return func(c *Config, v string) error {
			v = strings.TrimSpace(v)
			if v != "" {
				// Checked here so that a missing file is a configuration
				// error with its setting; the content is checked at start.
				fi, err := os.Stat(v)
				if err != nil {
					return fmt.Errorf("cannot read %s: %w", v, errors.Unwrap(err))
				}
				if !fi.Mode().IsRegular() {
					return fmt.Errorf("%s is not a regular file", v)
				}
			}
			set(field(c), v)
			return nil
		}
	}
	return []setting{
		{name: prefix + ".tls.cert_file", env: "ONEXBUS_" + up + "_TLS_CERT_FILE", flag: prefix + "-tls-cert-file", reloadable: true,
			help: "PEM certificate chain of the " + what + " listener; empty: no TLS",
			set:  file(func(t *TLSConfig, v string) { t.CertFile = v })},
		{name: prefix + ".tls.key_file", env: "ONEXBUS_" + up + "_TLS_KEY_FILE", flag: prefix + "-tls-key-file", reloadable: true,
			help: "PEM private key of " + prefix + ".tls.cert_file",
			set:  file(func(t *TLSConfig, v string) { t.KeyFile = v })},
		{name: prefix + ".tls.client_ca_file", env: "ONEXBUS_" + up + "_TLS_CLIENT_CA_FILE", flag: prefix + "-tls-client-ca-file", reloadable: true,
			help: "PEM CA bundle that client certificates of the " + what + " listener are verified against",
			set:  file(func(t *TLSConfig, v string) { t.ClientCAFile = v })},
		{name: prefix + ".tls.client_auth", env: "ONEXBUS_" + up + "_TLS_CLIENT_AUTH", flag: prefix + "-tls-client-auth", def: "none", reloadable: true,
			help: "client certificates on the " + what + " listener: none, optional (verified when given; its CN is the principal) or require",
			set: func(c *Config, v string) error {
				switch v = strings.ToLower(strings.TrimSpace(v)); v {
				case "none", "optional", "require":
					field(c).ClientAuth = v
					return nil
				}
				return fmt.Errorf("%q is not none, optional or require", v)
			}},
	}
}

// securityText is text for the security rows.
func (c *Config) securityText(name string) (string, bool) {
	s := &c.Security
	i := func(n int) string { return strconv.Itoa(n) }
	switch name {
	case "security.allow_plain":
		return strconv.FormatBool(s.AllowPlain), true
	case "security.sasl_session_lifetime":
		return s.SASLSessionLifetime.String(), true
	case "security.rate_limit":
		return strconv.FormatFloat(s.RateLimit, 'g', -1, 64), true
	case "security.rate_burst":
		return i(s.RateBurst), true
	case "limits.max_connections_per_addr":
		return i(s.MaxConnectionsPerAddr), true
	case "http.max_connections":
		return i(s.HTTPMaxConnections), true
	case "http.max_connections_per_addr":
		return i(s.HTTPMaxConnectionsPerAddr), true
	case "admin.max_connections":
		return i(s.AdminMaxConnections), true
	case "admin.max_connections_per_addr":
		return i(s.AdminMaxConnectionsPerAddr), true
	case "security.users", "security.tokens", "security.acls":
		return s.summary(name), true
	}
	for _, l := range []struct {
		prefix string
		t      *TLSConfig
	}{{"kafka", &s.KafkaTLS}, {"http", &s.HTTPTLS}, {"admin", &s.AdminTLS}} {
		switch name {
		case l.prefix + ".tls.cert_file":
			return l.t.CertFile, true
		case l.prefix + ".tls.key_file":
			return l.t.KeyFile, true
		case l.prefix + ".tls.client_ca_file":
			return l.t.ClientCAFile, true
		case l.prefix + ".tls.client_auth":
			return l.t.ClientAuth, true
		}
	}
	return "", false
}
