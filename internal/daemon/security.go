package daemon

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/onexbus/onexbus/transport/auth"
)

// SecurityConfig is the security section: the principal store's content
// (security.users, security.tokens and security.acls, lists of mappings
// that only the YAML file holds; `onexbusd user` and `onexbusd token` edit
// them), the listeners' TLS, SASL and the limits against abuse.
type SecurityConfig struct {
	// Users (security.users) are the users with their stored SCRAM
	// credentials; never a password.
	Users []UserConfig
	// Tokens (security.tokens) are the HTTP bearer tokens, as hashes.
	Tokens []TokenConfig
	// ACLs (security.acls) are the allow rules; none means any
	// authenticated principal may do everything.
	ACLs []ACLConfig

	// AllowPlain (security.allow_plain) offers SASL PLAIN on the Kafka
	// listener besides SCRAM.
	AllowPlain bool
	// SASLSessionLifetime (security.sasl_session_lifetime) is how long a
	// Kafka SASL session lasts before the client must re-authenticate
	// (KIP-368); 0 is unlimited.
	SASLSessionLifetime time.Duration
	// RateLimit (security.rate_limit) is the requests per second each
	// principal may make on the Kafka and HTTP listeners (0: no limit);
	// RateBurst (security.rate_burst) the requests it may make at once.
	RateLimit float64
	RateBurst int

	// KafkaTLS, HTTPTLS and AdminTLS are the listeners' TLS
	// (kafka.tls.*, http.tls.*, admin.tls.*).
	KafkaTLS, HTTPTLS, AdminTLS TLSConfig

	// MaxConnectionsPerAddr (limits.max_connections_per_addr) bounds the
	// Kafka connections of one client address (0: only
	// limits.max_connections).
	MaxConnectionsPerAddr int
	// HTTPMaxConnections and HTTPMaxConnectionsPerAddr
	// (http.max_connections, http.max_connections_per_addr), and the same
	// for the admin listener, bound its connections.
	HTTPMaxConnections, HTTPMaxConnectionsPerAddr   int
	AdminMaxConnections, AdminMaxConnectionsPerAddr int
}

// TLSConfig is one listener's TLS: off while CertFile is empty.
type TLSConfig struct {
	// CertFile and KeyFile are the PEM certificate chain and private key.
	CertFile, KeyFile string
	// ClientCAFile is the PEM bundle client certificates are verified
	// against.
	ClientCAFile string
	// ClientAuth is none, optional (verified when given) or require.
	ClientAuth string
}

// Enabled reports whether the listener serves TLS.
func (t TLSConfig) Enabled() bool { return t.CertFile != "" }

// UserConfig is one entry of security.users.
type UserConfig struct {
	Name        string             `yaml:"name"`
	Credentials []CredentialConfig `yaml:"credentials"`
}

// CredentialConfig is a stored SCRAM credential in the file: base64
// salt, StoredKey and ServerKey. It prints redacted.
type CredentialConfig struct {
	Mechanism  string `yaml:"mechanism"`
	Salt       string `yaml:"salt"`
	Iterations int    `yaml:"iterations"`
	StoredKey  string `yaml:"stored_key"`
	ServerKey  string `yaml:"server_key"`
}

// String names the mechanism and iterations only.
func (c CredentialConfig) String() string {
	return fmt.Sprintf("%s credential (%d iterations, keys redacted)", c.Mechanism, c.Iterations)
}

// GoString is String.
func (c CredentialConfig) GoString() string { return c.String() }

// TokenConfig is one entry of security.tokens: the SHA-256 of the token,
// never the token. It prints without the hash.
type TokenConfig struct {
	ID        string    `yaml:"id"`
	Principal string    `yaml:"principal"`
	SHA256    string    `yaml:"sha256"`
	Created   time.Time `yaml:"created,omitempty"`
	Expires   time.Time `yaml:"expires,omitempty"`
	Revoked   bool      `yaml:"revoked,omitempty"`
}

// String names the token by id and principal.
func (t TokenConfig) String() string { return fmt.Sprintf("token %s of %s", t.ID, t.Principal) }

// GoString is String.
func (t TokenConfig) GoString() string { return t.String() }

// ACLConfig is one entry of security.acls.
type ACLConfig struct {
	Principal  string   `yaml:"principal"`
	Resource   string   `yaml:"resource"`
	Pattern    string   `yaml:"pattern,omitempty"`
	Operations []string `yaml:"operations,flow"`
}

// structuredSettings are the settings only the YAML file gives, as lists
// of mappings; `config print` shows a summary of each.
var structuredSettings = []Setting{
	{Name: "security.users", Reloadable: true,
		Help: "users with salted SCRAM-SHA-256/512 credentials (never a password); edit with onexbusd user add|passwd|rm"},
	{Name: "security.tokens", Reloadable: true,
		Help: "HTTP bearer tokens kept as SHA-256 hashes; edit with onexbusd token create|revoke|list"},
	{Name: "security.acls", Reloadable: true,
		Help: "allow rules: principal (* any), resource (topic, group, cluster), pattern (* one segment, ** any), operations"},
}

// summary is the printed form of a structured setting: names, ids and
// rules, never a key or a hash.
func (s *SecurityConfig) summary(name string) string {
	var parts []string
	switch name {
	case "security.users":
		for _, u := range s.Users {
			mechs := make([]string, len(u.Credentials))
			for i, c := range u.Credentials {
				mechs[i] = c.Mechanism
			}
			parts = append(parts, u.Name+" ("+strings.Join(mechs, " ")+")")
		}
	case "security.tokens":
		for _, t := range s.Tokens {
			p := t.ID + " of " + t.Principal
			switch {
			case t.Revoked:
				p += " (revoked)"
			case !t.Expires.IsZero():
				p += " (expires " + t.Expires.UTC().Format(time.RFC3339) + ")"
			}
			parts = append(parts, p)
		}
	case "security.acls":
		for _, a := range s.ACLs {
			r := "allow " + a.Principal + " " + strings.Join(a.Operations, ",") + " on " + a.Resource
			if a.Pattern != "" {
				r += " " + a.Pattern
			}
			parts = append(parts, r)
		}
	}
	return strings.Join(parts, "; ")
}

// Snapshot converts the principals and rules for auth.Store.Replace,
// reporting every malformed entry (each wrapping ErrInvalidConfig and
// naming its setting and position).
func (s *SecurityConfig) Snapshot() (auth.Snapshot, error) {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...)))
	}
	snap := auth.Snapshot{Users: map[string][]auth.Credential{}}
	for i, u := range s.Users {
		if _, dup := snap.Users[u.Name]; dup {
			bad("security.users[%d]: user %q given twice", i, u.Name)
			continue
		}
		creds := make([]auth.Credential, 0, len(u.Credentials))
		for j, c := range u.Credentials {
			cred, err := c.credential()
			if err != nil {
				bad("security.users[%d] (%s) credentials[%d]: %v", i, u.Name, j, err)
				continue
			}
			creds = append(creds, cred)
		}
		snap.Users[u.Name] = creds
	}
	for i, t := range s.Tokens {
		sum, err := hex.DecodeString(t.SHA256)
		if err != nil || len(sum) != 32 {
			bad("security.tokens[%d] (%s): sha256 must be 64 hex digits", i, t.ID)
			continue
		}
		rec := auth.TokenRecord{ID: t.ID, Principal: t.Principal, Created: t.Created, Expires: t.Expires, Revoked: t.Revoked}
		copy(rec.Hash[:], sum)
		snap.Tokens = append(snap.Tokens, rec)
	}
	for i, a := range s.ACLs {
		r, err := a.rule()
		if err != nil {
			bad("security.acls[%d]: %v", i, err)
			continue
		}
		snap.Rules = append(snap.Rules, r)
	}
	if len(errs) == 0 {
		// The store's own checks: names, key sizes, iterations, rules.
		if err := auth.NewStore().Replace(snap); err != nil {
			bad("security: %v", err)
		}
	}
	return snap, errors.Join(errs...)
}

func (c CredentialConfig) credential() (auth.Credential, error) {
	dec := func(field, v string) ([]byte, error) {
		b, err := base64.StdEncoding.DecodeString(v)
		if err != nil || len(b) == 0 {
			return nil, fmt.Errorf("%s is not base64", field)
		}
		return b, nil
	}
	salt, err1 := dec("salt", c.Salt)
	stored, err2 := dec("stored_key", c.StoredKey)
	server, err3 := dec("server_key", c.ServerKey)
	if err := errors.Join(err1, err2, err3); err != nil {
		return auth.Credential{}, err
	}
	m := auth.Mechanism(strings.ToUpper(c.Mechanism))
	if _, ok := m.Hash(); !ok {
		return auth.Credential{}, fmt.Errorf("mechanism %q is not SCRAM-SHA-256 or SCRAM-SHA-512", c.Mechanism)
	}
	return auth.Credential{Mechanism: m, Salt: salt, Iterations: c.Iterations, StoredKey: stored, ServerKey: server}, nil
}

// credentialConfig is the file form of a credential.
func credentialConfig(c auth.Credential) CredentialConfig {
	enc := base64.StdEncoding.EncodeToString
	return CredentialConfig{Mechanism: string(c.Mechanism), Salt: enc(c.Salt), Iterations: c.Iterations,
		StoredKey: enc(c.StoredKey), ServerKey: enc(c.ServerKey)}
}

// tokenConfig is the file form of a token record.
func tokenConfig(r auth.TokenRecord) TokenConfig {
	return TokenConfig{ID: r.ID, Principal: r.Principal, SHA256: hex.EncodeToString(r.Hash[:]),
		Created: r.Created.UTC(), Expires: r.Expires.UTC(), Revoked: r.Revoked}
}

func (a ACLConfig) rule() (auth.Rule, error) {
	res, err := auth.ParseResource(a.Resource)
	if err != nil {
		return auth.Rule{}, err
	}
	r := auth.Rule{Principal: a.Principal, Resource: res, Pattern: a.Pattern}
	if res == auth.ResourceCluster && a.Pattern != "" {
		return auth.Rule{}, fmt.Errorf("a cluster rule has no pattern (got %q)", a.Pattern)
	}
	for _, o := range a.Operations {
		op, err := auth.ParseOperation(o)
		if err != nil {
			return auth.Rule{}, err
		}
		r.Operations = append(r.Operations, op)
	}
	return r, nil
}

// aclConfig is the file form of a rule.
func aclConfig(r auth.Rule) ACLConfig {
	a := ACLConfig{Principal: r.Principal, Resource: r.Resource.String(), Pattern: r.Pattern}
	if r.Resource == auth.ResourceCluster {
		a.Pattern = ""
	}
	for _, o := range r.Operations {
		a.Operations = append(a.Operations, o.String())
	}
	return a
}

// kafkaAuthenticated reports whether the Kafka listener authenticates
// its clients: SASL once any user exists, or a required client
// certificate.
func (s *SecurityConfig) kafkaAuthenticated() bool {
	return len(s.Users) > 0 || s.KafkaTLS.ClientAuth == "require"
}

// httpAuthenticated reports whether an HTTP listener with t authenticates
// its requests: users (Basic) or tokens (Bearer) exist, or a client
// certificate is required.
func (s *SecurityConfig) httpAuthenticated(t TLSConfig) bool {
	return len(s.Users) > 0 || len(s.Tokens) > 0 || t.ClientAuth == "require"
}

// principalsChanged reports whether a reload changes users, tokens or
// rules.
func (s *SecurityConfig) principalsChanged(next *SecurityConfig) []string {
	var out []string
	if !reflect.DeepEqual(s.Users, next.Users) {
		out = append(out, "security.users")
	}
	if !reflect.DeepEqual(s.Tokens, next.Tokens) {
		out = append(out, "security.tokens")
	}
	if !reflect.DeepEqual(s.ACLs, next.ACLs) {
		out = append(out, "security.acls")
	}
	return out
}

// validateSecurity checks the security section's rules between settings.
func (c *Config) validateSecurity() []error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...)))
	}
	s := &c.Security
	for _, l := range []struct {
		prefix string
		t      TLSConfig
	}{{"kafka.tls", s.KafkaTLS}, {"http.tls", s.HTTPTLS}, {"admin.tls", s.AdminTLS}} {
		if (l.t.CertFile == "") != (l.t.KeyFile == "") {
			bad("%s.cert_file and %s.key_file go together: give both or neither", l.prefix, l.prefix)
		}
		if l.t.ClientAuth != "none" && l.t.ClientAuth != "" {
			if !l.t.Enabled() {
				bad("%s.client_auth %s needs TLS: set %s.cert_file and %s.key_file", l.prefix, l.t.ClientAuth, l.prefix, l.prefix)
			}
			if l.t.ClientCAFile == "" {
				bad("%s.client_auth %s needs %s.client_ca_file to verify client certificates", l.prefix, l.t.ClientAuth, l.prefix)
			}
		}
	}
	if _, err := s.Snapshot(); err != nil {
		errs = append(errs, err)
	}
	return errs
}

// decodeStructured decodes the structured settings' nodes into s, each
// item strictly (an unknown key is an error with its line).
func decodeStructured(file string, nodes map[string]*yaml.Node, s *SecurityConfig) []error {
	var errs []error
	each := func(name string, decode func(*yaml.Node) error) {
		n, ok := nodes[name]
		if !ok || n.Kind != yaml.SequenceNode {
			return
		}
		for i, item := range n.Content {
			if err := decode(item); err != nil {
				errs = append(errs, fmt.Errorf("%w: %s:%d: %s[%d]: %w", ErrInvalidConfig, file, item.Line, name, i, err))
			}
		}
	}
	each("security.users", func(n *yaml.Node) error {
		var u UserConfig
		err := strictDecode(n, &u)
		if err == nil {
			s.Users = append(s.Users, u)
		}
		return err
	})
	each("security.tokens", func(n *yaml.Node) error {
		var t TokenConfig
		err := strictDecode(n, &t)
		if err == nil {
			s.Tokens = append(s.Tokens, t)
		}
		return err
	})
	each("security.acls", func(n *yaml.Node) error {
		var a ACLConfig
		err := strictDecode(n, &a)
		if err == nil {
			s.ACLs = append(s.ACLs, a)
		}
		return err
	})
	return errs
}

// strictDecode decodes one mapping node into v, refusing unknown keys.
// Its errors never quote values (a credential's keys are in them).
func strictDecode(n *yaml.Node, v any) error {
	if n.Kind != yaml.MappingNode {
		return errors.New("not a mapping")
	}
	b, err := yaml.Marshal(n)
	if err != nil {
		return fmt.Errorf("re-encode: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			// TypeError lines quote the offending value; keep the field
			// names only.
			return fmt.Errorf("%s", redactYAMLErrors(te.Errors))
		}
		return errors.New("malformed entry")
	}
	return nil
}

// redactYAMLErrors keeps the part of yaml's messages before a quoted
// value.
func redactYAMLErrors(msgs []string) string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		if j := strings.Index(m, "`"); j >= 0 {
			m = m[:j] + "<value>" + m[strings.LastIndex(m, "`")+1:]
		}
		out[i] = m
	}
	return strings.Join(out, "; ")
}

// StoredCredential is the file form of a credential (base64 salt and
// keys), for `onexbusd user`.
func StoredCredential(c auth.Credential) CredentialConfig { return credentialConfig(c) }

// StoredToken is the file form of a token record (its hash), for
// `onexbusd token`.
func StoredToken(r auth.TokenRecord) TokenConfig { return tokenConfig(r) }
