// Package daemon is onexbusd's wiring: the settings table, the lifecycle
// of the bus and its listeners, the node events and the doctor. The
// command line (internal/cli) parses; this package builds, runs and
// drains, so tests start the daemon in process.
//
// # Configuration
//
// One table (Settings) holds every setting: its YAML path, environment
// variable (ONEXBUS_*, and the original system's KAFKA_* names for the
// upstream section, parsed by transport/kafka), flag, default, range,
// whether it is secret and whether SIGHUP reloads it. Load merges flags
// over environment over the YAML file over defaults and records where
// each value came from (Value.Source); an unknown YAML key is an error
// with its line, and every problem is reported at once.
//
// The transactions section bounds the Kafka transaction state by
// configuration, not by the ids clients use (core.TxnLimits):
// transactions.id_expiration (168h, Kafka's
// transactional.id.expiration.ms: an id unused that long with no
// transaction open is forgotten, in the store too, and starts over at a
// new producer id), transactions.max_ids (100000; a new id past it gets
// THROTTLING_QUOTA_EXCEEDED, retriable, until one expires),
// transactions.aborted_index_memory (100000 entries in memory, all
// partitions together; the rest are read from the store by the
// read_committed fetches that need them), transactions.max_timeout
// (15m, Kafka's transaction.max.timeout.ms) and
// transactions.producer_id_expiration (24h, Kafka's
// producer.id.expiration.ms, for idempotent producers).
//
// # Lifecycle
//
// Run takes the data directory's lock (a second daemon on it fails with
// ErrDataDirLocked naming the holder's pid), binds every listener (a
// taken port fails with ErrAddrInUse naming the setting), serves /livez
// at once and /readyz as 503, opens and recovers the log (a damaged file
// fails with ErrCorruptData naming it), then starts the Kafka listener,
// the HTTP API when one is mounted, the upstream forwarder and ingest,
// the Setup steps and the node events; only then does /readyz answer
// 200. When Run's context ends, /readyz turns 503 first, then the Kafka
// and HTTP listeners stop accepting and drain, the node publishes its
// shutdown event, the upstream stops, the bus drains its handlers and
// flushes the log, and the admin listener closes last, all within
// shutdown.timeout (the admin listener's requests get a further second
// once their context is cancelled; a request still running then has its
// connection closed, which the shutdown logs and does not count as an
// error).
//
// # Security
//
// One principal store (transport/auth) serves every listener. Its
// content is in the YAML file only: security.users (salted SCRAM
// credentials, never a password), security.tokens (SHA-256 hashes of
// bearer tokens) and security.acls (allow rules), edited by `onexbusd
// user` and `onexbusd token` (EditPrincipals: a lock, a temporary file,
// fsync, rename, fsync of the directory; comments kept; mode 0600) and
// by Kafka CreateAcls/DeleteAcls (the rule persister writes the file
// before the change applies). The Kafka listener requires SASL (SCRAM,
// PLAIN with security.allow_plain) once a user exists; the HTTP and
// admin listeners require a bearer token or Basic once a user or token
// exists (the admin probes /livez, /readyz and /healthz stay open;
// /metrics needs describe on the cluster, the dashboard and the rest
// admin). Each listener serves TLS with {kafka,http,admin}.tls.*; a
// verified client certificate's CommonName is a principal. Limits:
// connections per listener and per client address, requests per second
// per principal (Kafka throttle time, HTTP 429). SIGHUP replaces the
// principals, rules and certificates in one validated step (Reload); a
// failed reload keeps the old state and logs why. Secrets never reach
// the log, `config print` (which summarises users, tokens and rules) or
// errors.
//
// Every listener binds 127.0.0.1 by default. A non-loopback address is
// refused (ErrExposed) unless that listener authenticates or
// security.insecure is set explicitly, which is then warned about at
// every start.
//
// # Mount points
//
// WithKafka sets the Kafka listener (transport/kafka/broker), WithHTTPAPI
// the HTTP API on http.addr (transport/http), and WithSetup lets an
// embedding program subscribe handlers or add admin routes (/metrics)
// before the daemon is ready.
package daemon
