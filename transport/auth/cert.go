package auth

import (
	"crypto/x509"
	"fmt"
)

// PrincipalFromCert returns the principal a verified client certificate
// names: its Subject CommonName, held to the store's name rules (1 to
// 255 printable bytes, no spaces, ':', ',' or '='; not "*"). Call it
// only on a certificate the TLS layer verified against the trusted
// client CAs: the name is taken as is. The Kafka broker and the HTTP API
// both map client certificates with it, so a certificate and a SASL or
// Basic login of the same name are the same principal under the ACLs.
// ErrInvalid for a nil certificate, an empty CommonName or a name the
// rules refuse.
func PrincipalFromCert(cert *x509.Certificate) (string, error) {
	if cert == nil {
		return "", fmt.Errorf("%w: no client certificate", ErrInvalid)
	}
	cn := cert.Subject.CommonName
	if cn == "" {
		return "", fmt.Errorf("%w: client certificate (serial %s) has no subject common name", ErrInvalid, cert.SerialNumber)
	}
	if err := validName("certificate", cn); err != nil {
		return "", fmt.Errorf("auth: client certificate (serial %s): %w", cert.SerialNumber, err)
	}
	return cn, nil
}
