package daemon

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/transport/auth"
	"github.com/onexbus/onexbus/transport/kafka/broker"
)

// APIFactory builds the HTTP API served on http.addr from the running
// bus. transport/http provides one; a binary without an API passes none
// and the HTTP listener is not opened.
type APIFactory func(bus *core.Bus, s HTTPSettings) (http.Handler, error)

// HTTPSettings are the settings an APIFactory applies.
type HTTPSettings struct {
	// Logger is the API's logger.
	Logger hclog.Logger
	// Auth is the principal store requests authenticate against and
	// whose ACLs they pass; nil when http.addr does not authenticate.
	Auth *auth.Store
	// RateLimiter refuses a principal's requests over security.rate_limit
	// with 429; nil for none.
	RateLimiter *auth.RateLimiter
}

// Setup runs once the bus is recovered and before the daemon reports
// ready: an embedding program subscribes its handlers or mounts extra
// admin routes here. Returning an error stops the start-up.
type Setup func(ctx context.Context, bus *core.Bus, admin *http.ServeMux) error

type options struct {
	configFile string
	logOutput  io.Writer
	api        APIFactory
	kafka      KafkaFactory
	setups     []Setup
}

// Option configures New.
type Option func(*options)

// WithConfigFile names the YAML file the configuration came from: ACL
// rules changed over the Kafka protocol (CreateAcls, DeleteAcls) are
// written into it (EditPrincipals) before they apply. Without it such
// changes are refused.
func WithConfigFile(path string) Option { return func(o *options) { o.configFile = path } }

// WithLogOutput sets where the log goes (default os.Stderr).
func WithLogOutput(w io.Writer) Option { return func(o *options) { o.logOutput = w } }

// WithHTTPAPI mounts an HTTP API on http.addr: the mount point of
// transport/http.
func WithHTTPAPI(f APIFactory) Option { return func(o *options) { o.api = f } }

// WithSetup adds a Setup step; steps run in the order given.
func WithSetup(s Setup) Option { return func(o *options) { o.setups = append(o.setups, s) } }

// KafkaServer is a Kafka wire protocol server on the bus: what
// transport/kafka/broker's Server provides.
type KafkaServer interface {
	// Serve accepts connections on ln until Close; it returns nil after
	// Close.
	Serve(ln net.Listener) error
	// Close stops accepting, answers parked requests and drains the
	// connections within ctx; it is idempotent.
	Close(ctx context.Context) error
}

// KafkaSettings are the settings a KafkaFactory applies.
type KafkaSettings struct {
	// AdvertisedAddr is the host:port given to clients (kafka.advertised_addr,
	// or the bound address).
	AdvertisedAddr string
	// NodeID is the broker id (kafka.node_id).
	NodeID int32
	// MaxFrameBytes is the largest request (limits.max_request_bytes).
	MaxFrameBytes int
	// MaxInFlightBytes, MaxConnections and IdleTimeout bound the clients
	// (limits.max_in_flight_bytes, limits.max_connections,
	// kafka.idle_timeout).
	MaxInFlightBytes int64
	MaxConnections   int
	IdleTimeout      time.Duration
	// AutoCreateTopics is topics.auto_create; DefaultPartitions is
	// topics.default_partitions.
	AutoCreateTopics  bool
	DefaultPartitions int32
	// Logger is the listener's logger.
	Logger hclog.Logger
	// RequestObserver is told of every answered request (the daemon's
	// Kafka request metrics); nil for none.
	RequestObserver func(api string, d time.Duration)
	// RecordValidator checks produced records against the schema
	// registry; nil for none.
	RecordValidator broker.RecordValidator
	// TLS is the listener's TLS configuration (kafka.tls.*); nil for
	// plaintext.
	TLS *tls.Config
	// Users is the principal store SASL authenticates against (SCRAM, and
	// PLAIN when AllowPlain); nil when no user is configured (no SASL).
	Users      *auth.Store
	AllowPlain bool
	// ACL is the principal store whose rules every request passes.
	ACL *auth.Store
	// MaxConnectionsPerAddr is limits.max_connections_per_addr (0: none).
	MaxConnectionsPerAddr int
	// RateLimiter charges requests per principal (security.rate_limit);
	// nil for none.
	RateLimiter *auth.RateLimiter
	// SASLSessionLifetime is security.sasl_session_lifetime (0: none).
	SASLSessionLifetime time.Duration
	// MaxTransactionTimeout is transactions.max_timeout.
	MaxTransactionTimeout time.Duration
}

// KafkaFactory builds the Kafka listener's server. Without one the Kafka
// listener is not opened.
type KafkaFactory func(bus *core.Bus, s KafkaSettings) (KafkaServer, error)

// WithKafka sets the Kafka listener's server (default DefaultKafka); nil
// leaves the Kafka listener closed.
func WithKafka(f KafkaFactory) Option { return func(o *options) { o.kafka = f } }
