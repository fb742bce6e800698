package broker

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/onexbus/onexbus/transport/auth"
)

// writePEM writes the CA certificate, and a certificate with its key when
// given, into dir for librdkafka; it returns their paths.
func writePEM(t *testing.T, dir string, ca *testCA, cert *tls.Certificate) (caFile, certFile, keyFile string) {
	t.Helper()
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	caFile = write("ca.pem", "CERTIFICATE", ca.cert.Raw)
	if cert != nil {
		key, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
		if err != nil {
			t.Fatal(err)
		}
		certFile = write("client.pem", "CERTIFICATE", cert.Certificate[0])
		keyFile = write("client.key", "PRIVATE KEY", key)
	}
	return caFile, certFile, keyFile
}

// TestKcatSASLOverTLS: kcat (librdkafka 2.0.2) produces and consumes with
// SASL PLAIN and SCRAM-SHA-256/512 over TLS, verifying the broker's
// certificate; a wrong password is refused.
func TestKcatSASLOverTLS(t *testing.T) {
	needTool(t, "kcat")
	ca := newTestCA(t, "kcat ca")
	serverTLS := &tls.Config{Certificates: []tls.Certificate{ca.issue(t, "broker", true)}, MinVersion: tls.VersionTLS12}
	tb := startBroker(t, WithTLS(serverTLS), WithSASL(testAuthenticator(t, map[string]string{"alice": "s3cret-pw"})))
	caFile, _, _ := writePEM(t, t.TempDir(), ca, nil)
	for _, mech := range []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"} {
		t.Run(mech, func(t *testing.T) {
			args := func(pass string) []string {
				return []string{"-b", tb.addr, "-X", "security.protocol=SASL_SSL", "-X", "ssl.ca.location=" + caFile,
					"-X", "sasl.mechanisms=" + mech, "-X", "sasl.username=alice", "-X", "sasl.password=" + pass}
			}
			topic := "tls-sasl-" + strings.ToLower(mech)
			kcat(t, "hello\n", append(args("s3cret-pw"), "-P", "-t", topic)...)
			out, _ := kcat(t, "", append(args("s3cret-pw"), "-C", "-t", topic, "-o", "beginning", "-e", "-q")...)
			if out != "hello\n" {
				t.Fatalf("consumed %q", out)
			}
			if out, err := kcatFails(t, append(args("wrong"), "-L", "-m", "3")...); !strings.Contains(out, "uthentication") {
				t.Fatalf("wrong password over TLS: %v\n%s", err, out)
			}
		})
	}
}

// TestKcatClientCertificate: kcat with a client certificate of the
// trusted CA is the certificate's principal under the ACLs; one of
// another CA fails the handshake.
func TestKcatClientCertificate(t *testing.T) {
	needTool(t, "kcat")
	ca := newTestCA(t, "kcat ca")
	store := auth.NewStore()
	if err := store.SetRules([]auth.Rule{
		{Principal: "svc-kcat", Resource: auth.ResourceTopic, Pattern: "orders.*", Operations: []auth.Operation{auth.OpWrite, auth.OpCreate, auth.OpRead}},
	}); err != nil {
		t.Fatal(err)
	}
	tb := startBroker(t, WithTLS(ca.mutualTLS(t)), WithACL(store))
	good := ca.issue(t, "svc-kcat", false)
	caFile, certFile, keyFile := writePEM(t, t.TempDir(), ca, &good)
	args := []string{"-b", tb.addr, "-X", "security.protocol=SSL", "-X", "ssl.ca.location=" + caFile,
		"-X", "ssl.certificate.location=" + certFile, "-X", "ssl.key.location=" + keyFile}
	kcat(t, "hello\n", append(args, "-P", "-t", "orders.eu")...)
	out, _ := kcat(t, "", append(args, "-C", "-t", "orders.eu", "-o", "beginning", "-e", "-q")...)
	if out != "hello\n" {
		t.Fatalf("consumed %q", out)
	}
	if out, err := kcatFails(t, append(args, "-C", "-t", "secret", "-o", "beginning", "-e", "-q")...); !strings.Contains(out, "uthoriz") {
		t.Fatalf("reading a topic the certificate may not: %v\n%s", err, out)
	}
	other := newTestCA(t, "other ca")
	bad := other.issue(t, "svc-kcat", false)
	_, badCert, badKey := writePEM(t, t.TempDir(), other, &bad)
	badArgs := []string{"-b", tb.addr, "-X", "security.protocol=SSL", "-X", "ssl.ca.location=" + caFile,
		"-X", "ssl.certificate.location=" + badCert, "-X", "ssl.key.location=" + badKey, "-L", "-m", "3"}
	if out, err := kcatFails(t, badArgs...); err == nil {
		t.Fatalf("untrusted client certificate accepted:\n%s", out)
	}
}

// kcatFails runs kcat expecting it to fail, bounded by 20s; it returns the
// combined output and the error (nil: it succeeded).
func kcatFails(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, needTool(t, "kcat"), args...).CombinedOutput()
	return string(out), err
}
