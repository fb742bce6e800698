package daemon_test

import (
	"crypto/tls"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/onexbus/onexbus/internal/daemon"
)

// TestClientCertPrincipalAndCertificateReload: on the HTTP listener with
// client_auth optional, a verified client certificate (CN alice) is the
// principal without any Authorization header; a certificate renewed in
// place (same files, a new CA) is served from the next handshake after
// Reload, and a reload whose key does not load is refused with the old
// certificate kept.
func TestClientCertPrincipalAndCertificateReload(t *testing.T) {
	p := newPKI(t)
	file := filepath.Join(t.TempDir(), "onexbusd.yaml")
	if code, _, errs := runCLI(t, "pw-alice-9\n", nil, "user", "add", "alice", "--password-stdin", "--config", file); code != 0 {
		t.Fatal(errs)
	}
	cert, key := filepath.Join(t.TempDir(), "cert.pem"), filepath.Join(t.TempDir(), "key.pem")
	copyFile(t, p.certFile, cert)
	copyFile(t, p.keyFile, key)
	env := map[string]string{"ONEXBUS_HTTP_TLS_CERT_FILE": cert, "ONEXBUS_HTTP_TLS_KEY_FILE": key,
		"ONEXBUS_HTTP_TLS_CLIENT_CA_FILE": p.caFile, "ONEXBUS_HTTP_TLS_CLIENT_AUTH": "optional"}
	load := func() daemon.Config {
		l, err := daemon.Load(daemon.Layers{File: file, LookupEnv: func(k string) (string, bool) { v, ok := env[k]; return v, ok }})
		if err != nil {
			t.Fatal(err)
		}
		c := l.Config
		c.KafkaAddr, c.AdminAddr, c.HTTPAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
		c.NodeHeartbeatInterval = 0
		return c
	}
	cfg := load()
	dataDir := t.TempDir()
	cfg.DataDir = dataDir
	r := startDaemon(t, cfg)
	url := "https://" + r.d.Addrs().HTTP.String() + "/v1/topics"
	get := func(tc *tls.Config) (int, error) {
		cl := &http.Client{Transport: &http.Transport{TLSClientConfig: tc}}
		resp, err := cl.Get(url)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	withCert := p.clientTLS()
	withCert.Certificates = []tls.Certificate{p.clientPair}
	if code, err := get(withCert); err != nil || code != 200 {
		t.Fatalf("client certificate as principal: %d %v", code, err)
	}
	if code, err := get(p.clientTLS()); err != nil || code != 401 {
		t.Fatalf("no certificate, no credentials: %d %v, want 401", code, err)
	}

	// Renew in place with another CA: after Reload, the new one is served.
	p2 := newPKI(t)
	copyFile(t, p2.certFile, cert)
	copyFile(t, p2.keyFile, key)
	next := load()
	next.DataDir = dataDir
	if _, _, err := r.d.Reload(next); err != nil {
		t.Fatal(err)
	}
	if _, err := get(p.clientTLS()); err == nil {
		t.Error("the old certificate is still served after the reload")
	}
	if code, err := get(p2.clientTLS()); err != nil || code != 401 {
		t.Errorf("renewed certificate: %d %v", code, err)
	}
	// A key that does not load: refused, the renewed certificate stays.
	if err := os.WriteFile(key, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := r.d.Reload(next); err == nil {
		t.Error("a reload with a broken key was accepted")
	}
	if code, err := get(p2.clientTLS()); err != nil || code != 401 {
		t.Errorf("after a refused reload: %d %v", code, err)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
