package broker

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/onexbus/onexbus/internal/kafkawire"

	"github.com/onexbus/onexbus/transport/auth"
)

// Option configures a Server.
type Option func(*config)

type config struct {
	observer          RequestObserver // WithRequestObserver; nil: none
	validator         RecordValidator // WithRecordValidator; nil: none
	advertised        string
	nodeID            int32
	logger            hclog.Logger
	maxFrameBytes     int
	maxInFlightBytes  int64
	maxConnections    int
	idleTimeout       time.Duration
	frameTimeout      time.Duration
	writeTimeout      time.Duration
	window            int
	maxWait           time.Duration // longest long poll a Fetch may ask for
	autoCreate        bool
	defaultPartitions int32
	tls               *tls.Config
	sasl              Authenticator
	acl               *auth.Store       // WithACL; nil: no authorization
	maxPerAddr        int               // WithMaxConnectionsPerAddr; 0: no cap
	limiter           *auth.RateLimiter // WithRateLimiter; nil: none
	sessionLifetime   time.Duration     // WithSASLSessionLifetime; 0: unbounded
	authTimeout       time.Duration     // WithAuthTimeout
	now               func() time.Time  // session expiry clock (tests)
	maxTxnTimeout     time.Duration     // WithMaxTransactionTimeout
}

func defaultConfig() config {
	return config{
		logger:           hclog.NewNullLogger(),
		maxFrameBytes:    kafkawire.DefaultMaxFrameBytes,
		maxInFlightBytes: 256 << 20,
		maxConnections:   4096,
		idleTimeout:      10 * time.Minute,
		frameTimeout:     time.Minute,
		writeTimeout:     time.Minute,
		window:           32,
		maxWait:          5 * time.Minute,
		autoCreate:       true,
		authTimeout:      30 * time.Second,
		now:              time.Now,
	}
}

func (c *config) validate() error {
	var errs []error
	if c.advertised != "" {
		host, port, err := net.SplitHostPort(c.advertised)
		if err != nil {
			errs = append(errs, fmt.Errorf("advertised address %q: %w", c.advertised, err))
		} else if p, err := strconv.ParseUint(port, 10, 16); err != nil || p == 0 || host == "" {
			errs = append(errs, fmt.Errorf("advertised address %q needs a host and a port in [1, 65535]", c.advertised))
		}
	}
	if c.nodeID < 0 {
		errs = append(errs, fmt.Errorf("node id %d below 0", c.nodeID))
	}
	if c.maxFrameBytes < 1<<10 || c.maxFrameBytes > 1<<30 {
		errs = append(errs, fmt.Errorf("max frame bytes %d not in [1 KiB, 1 GiB]", c.maxFrameBytes))
	}
	if c.maxInFlightBytes < int64(c.maxFrameBytes) {
		errs = append(errs, fmt.Errorf("max in-flight bytes %d below the max frame bytes %d", c.maxInFlightBytes, c.maxFrameBytes))
	}
	if c.maxConnections < 1 {
		errs = append(errs, fmt.Errorf("max connections %d below 1", c.maxConnections))
	}
	if c.idleTimeout <= 0 {
		errs = append(errs, fmt.Errorf("idle timeout %v not positive", c.idleTimeout))
	}
	if c.defaultPartitions < 0 {
		errs = append(errs, fmt.Errorf("default partitions %d below 0", c.defaultPartitions))
	}
	if c.logger == nil {
		c.logger = hclog.NewNullLogger()
	}
	errs = c.validateSecurity(errs)
	if c.maxTxnTimeout < 0 || (c.maxTxnTimeout > 0 && c.maxTxnTimeout < time.Millisecond) {
		errs = append(errs, fmt.Errorf("max transaction timeout %v below 1ms", c.maxTxnTimeout))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrInvalidOption, errors.Join(errs...))
	}
	return nil
}

// WithAdvertisedAddr sets the host:port Metadata and FindCoordinator name
// as this broker's address. Default: the address of the listener Serve was
// first given (127.0.0.1 for an unspecified IP). Advertise an IP, not
// "localhost": librdkafka may resolve that to ::1 first.
func WithAdvertisedAddr(hostport string) Option { return func(c *config) { c.advertised = hostport } }

// WithNodeID sets the broker's node id (default 0). Keep it stable across
// restarts: clients cache it.
func WithNodeID(id int32) Option { return func(c *config) { c.nodeID = id } }

// WithLogger sets the logger (default: discard). Connection closes are
// logged at info with the client's id and address.
func WithLogger(l hclog.Logger) Option { return func(c *config) { c.logger = l } }

// WithMaxFrameBytes sets the largest request accepted (default 100 MiB,
// Kafka's socket.request.max.bytes); a larger size prefix closes the
// connection before anything is allocated.
func WithMaxFrameBytes(n int) Option { return func(c *config) { c.maxFrameBytes = n } }

// WithMaxInFlightBytes sets the budget of request bytes held by all
// connections at once (default 256 MiB, at least the max frame bytes).
// When it is spent, connections stop reading until responses go out.
func WithMaxInFlightBytes(n int64) Option { return func(c *config) { c.maxInFlightBytes = n } }

// WithMaxConnections caps open connections (default 4096); a connection
// over the cap is closed at once with a log line.
func WithMaxConnections(n int) Option { return func(c *config) { c.maxConnections = n } }

// WithIdleTimeout closes a connection that sends nothing for d (default
// 10 minutes, Kafka's connections.max.idle.ms).
func WithIdleTimeout(d time.Duration) Option { return func(c *config) { c.idleTimeout = d } }

// WithAutoCreateTopics sets whether Metadata and Produce create unknown
// topics (default true, Kafka's auto.create.topics.enable).
func WithAutoCreateTopics(on bool) Option { return func(c *config) { c.autoCreate = on } }

// WithDefaultPartitions sets the partition count of topics created by
// CreateTopics with NumPartitions -1 (default 0: the bus's default topic
// configuration).
func WithDefaultPartitions(n int32) Option { return func(c *config) { c.defaultPartitions = n } }

// WithTLS serves TLS on every connection with cfg. With cfg.ClientAuth
// set to verify client certificates (tls.RequireAndVerifyClientCert, or
// VerifyClientCertIfGiven) and no WithSASL, a connection's principal is
// the verified certificate's (auth.PrincipalFromCert); a certificate the
// configuration does not trust fails the handshake and closes the
// connection. With WithSASL, the SASL user is the principal.
func WithTLS(cfg *tls.Config) Option { return func(c *config) { c.tls = cfg } }

// WithSASL requires SASL authentication with a: before it succeeds, a
// connection may send only ApiVersions, SaslHandshake and SaslAuthenticate;
// anything else closes it.
func WithSASL(a Authenticator) Option { return func(c *config) { c.sasl = a } }
