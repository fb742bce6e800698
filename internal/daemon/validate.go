package daemon

import (
	"errors"
	"fmt"
	"net"
	"strings"
)

// Validate checks every field's range (the upstream section with
// transport/kafka's rules) and the rules between settings, and reports
// every problem at once (errors.Join), each wrapping ErrInvalidConfig and
// naming the settings involved.
func (c *Config) Validate() error {
	err := c.validate()
	if uerr := c.Upstream.Validate(); uerr != nil {
		err = errors.Join(append([]error{err}, upstreamErrors(uerr, nil)...)...)
	}
	return err
}

// validate is Validate without the upstream section, which Load has
// already checked through transport/kafka.
func (c *Config) validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: %s", ErrInvalidConfig, fmt.Sprintf(format, args...)))
	}
	// Ranges, for a Config built in code: each field's text form must
	// parse as it would from a file.
	for _, s := range settings {
		if s.upstream {
			continue
		}
		text, ok := c.text(s.name)
		if !ok {
			continue
		}
		probe := *c
		if err := s.set(&probe, text); err != nil {
			bad("%s (%s): %v", s.name, s.env, err)
		}
	}
	if c.RetryMax < c.RetryBase {
		bad("retry.max (ONEXBUS_RETRY_MAX) %v is less than retry.base (ONEXBUS_RETRY_BASE) %v", c.RetryMax, c.RetryBase)
	}
	if c.MaxInFlightBytes < int64(c.MaxRequestBytes) {
		bad("limits.max_in_flight_bytes (ONEXBUS_LIMITS_MAX_IN_FLIGHT_BYTES) %d is less than limits.max_request_bytes (ONEXBUS_LIMITS_MAX_REQUEST_BYTES) %d: one request must fit", c.MaxInFlightBytes, c.MaxRequestBytes)
	}
	errs = append(errs, c.exposure()...)
	errs = append(errs, c.validateSecurity()...)
	listeners := map[string]string{}
	for _, l := range c.listeners() {
		_, port, _ := net.SplitHostPort(l.addr)
		if port == "0" {
			continue
		}
		if other, dup := listeners[l.addr]; dup {
			bad("%s and %s are both %s", other, l.name, l.addr)
		}
		listeners[l.addr] = l.name
	}
	if c.KafkaAdvertisedAddr != "" {
		host, port, err := net.SplitHostPort(c.KafkaAdvertisedAddr)
		ip := net.ParseIP(host)
		if err == nil && (host == "" || port == "0" || ip != nil && ip.IsUnspecified()) {
			bad("kafka.advertised_addr (ONEXBUS_KAFKA_ADVERTISED_ADDR) %s: clients need a host and a port to connect to", c.KafkaAdvertisedAddr)
		}
	}
	if c.Fronting() {
		for _, b := range c.Upstream.BootstrapServers() {
			if sameAddr(b, c.KafkaAddr) {
				bad("upstream.bootstrap_servers (KAFKA_BOOTSTRAP_SERVERS) %s is this daemon's own kafka.addr: forwarding or ingesting would loop; point it at the upstream Kafka", b)
			}
		}
	}
	return errors.Join(errs...)
}

type listener struct{ name, env, addr string }

func (c *Config) listeners() []listener {
	return []listener{
		{"kafka.addr", "ONEXBUS_KAFKA_ADDR", c.KafkaAddr},
		{"http.addr", "ONEXBUS_HTTP_ADDR", c.HTTPAddr},
		{"admin.addr", "ONEXBUS_ADMIN_ADDR", c.AdminAddr},
	}
}

// authenticated reports whether the listener of setting name
// authenticates its clients: the Kafka listener once a user exists (SASL)
// or client certificates are required; the HTTP and admin listeners once
// a user (Basic) or a token (Bearer) exists or client certificates are
// required.
func (c *Config) authenticated(name string) bool {
	switch name {
	case "kafka.addr":
		return c.Security.kafkaAuthenticated()
	case "http.addr":
		return c.Security.httpAuthenticated(c.Security.HTTPTLS)
	case "admin.addr":
		return c.Security.httpAuthenticated(c.Security.AdminTLS)
	}
	return false
}

// exposed lists the listeners on a non-loopback address without
// authentication.
func (c *Config) exposed() []listener {
	var out []listener
	for _, l := range c.listeners() {
		if l.addr == "" || loopback(l.addr) || c.authenticated(l.name) {
			continue
		}
		out = append(out, l)
	}
	return out
}

// exposure refuses a listener on a non-loopback address without
// authentication, unless security.insecure says so explicitly (Run then
// warns at every start).
func (c *Config) exposure() []error {
	if c.Insecure {
		return nil
	}
	var errs []error
	for _, l := range c.exposed() {
		errs = append(errs, fmt.Errorf("%w: %w: %s (%s) %s is not a loopback address and no authentication is configured on it; bind 127.0.0.1, configure authentication (security.users, security.tokens or required client certificates), or set security.insecure=true (ONEXBUS_INSECURE, --insecure) to expose it unauthenticated", ErrInvalidConfig, ErrExposed, l.name, l.env, l.addr))
	}
	return errs
}

// loopback reports whether host:port binds only a loopback interface.
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// sameAddr reports whether two host:port name the same loopback or
// literal address.
func sameAddr(a, b string) bool {
	ha, pa, err1 := net.SplitHostPort(a)
	hb, pb, err2 := net.SplitHostPort(b)
	if err1 != nil || err2 != nil || pa != pb {
		return false
	}
	if ha == hb {
		return true
	}
	return loopback(a) && loopback(b)
}
