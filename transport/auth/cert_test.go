package auth

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"strings"
	"testing"
)

func TestPrincipalFromCert(t *testing.T) {
	cert := func(cn string) *x509.Certificate {
		return &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: cn, Organization: []string{"ignored"}}}
	}
	got, err := PrincipalFromCert(cert("svc-orders"))
	if err != nil || got != "svc-orders" {
		t.Fatalf("PrincipalFromCert = %q, %v", got, err)
	}
	for name, c := range map[string]*x509.Certificate{
		"nil":      nil,
		"empty CN": cert(""),
		"space":    cert("svc orders"),
		"colon":    cert("svc:orders"),
		"wildcard": cert("*"),
		"too long": cert(strings.Repeat("a", 256)),
		"control":  cert("svc\x00"),
		"comma":    cert("a,b"),
	} {
		t.Run(name, func(t *testing.T) {
			if p, err := PrincipalFromCert(c); !errors.Is(err, ErrInvalid) || p != "" {
				t.Fatalf("PrincipalFromCert = %q, %v; want ErrInvalid", p, err)
			}
		})
	}
}
