package daemon

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"sync/atomic"
)

// certSource is one listener's TLS configuration, swapped whole on
// SIGHUP: every handshake reads the current one (GetConfigForClient), so
// a renewed certificate or CA bundle applies to the next connection and
// open connections keep theirs.
type certSource struct {
	prefix string // kafka.tls, http.tls, admin.tls
	cur    atomic.Pointer[tls.Config]
}

// newCertSource loads t's files; nil when t has no certificate.
func newCertSource(prefix string, t TLSConfig) (*certSource, error) {
	if !t.Enabled() {
		return nil, nil
	}
	s := &certSource{prefix: prefix}
	conf, err := loadTLS(prefix, t)
	if err != nil {
		return nil, err
	}
	s.cur.Store(conf)
	return s, nil
}

// serverConfig is the tls.Config a listener serves with.
func (s *certSource) serverConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return s.cur.Load(), nil
		},
	}
}

// loadTLS reads the certificate, key and client CA bundle of t. Its
// errors name the setting and the file, never the key's content.
func loadTLS(prefix string, t TLSConfig) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("%w: %s.cert_file %s and %s.key_file %s: not a matching PEM certificate and key: %w",
			ErrInvalidConfig, prefix, t.CertFile, prefix, t.KeyFile, err)
	}
	conf := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	if t.ClientCAFile != "" {
		pem, err := os.ReadFile(t.ClientCAFile)
		if err != nil {
			return nil, fmt.Errorf("%w: %s.client_ca_file: %w", ErrInvalidConfig, prefix, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%w: %s.client_ca_file %s holds no PEM certificate", ErrInvalidConfig, prefix, t.ClientCAFile)
		}
		conf.ClientCAs = pool
	}
	switch t.ClientAuth {
	case "optional":
		conf.ClientAuth = tls.VerifyClientCertIfGiven
	case "require":
		conf.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return conf, nil
}
