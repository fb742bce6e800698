// Package auth is the one model of who may do what on onexbusd's
// listeners: a principal store (users with salted SCRAM credentials,
// bearer tokens kept as hashes) and allow-rule ACLs over topics, groups
// and the cluster. The HTTP API (transport/http) and the Kafka broker
// (transport/kafka/broker) both enforce it; this package imports neither.
//
// # Principals and credentials
//
// A principal is a name. A user is a principal with SCRAM-SHA-256 and/or
// SCRAM-SHA-512 credentials (RFC 5802): salt, iteration count, StoredKey
// and ServerKey. The password itself is never kept. PLAIN and HTTP Basic
// verify a password by re-deriving the StoredKey from the stored salt and
// iterations and comparing in constant time.
//
// A bearer token is "oxb_<id>_<secret>". The store keeps only its id, the
// SHA-256 of the whole token, its principal, its expiry and whether it is
// revoked: CreateToken returns the token once and it cannot be recovered.
//
// # Authorization
//
// Rules only allow. With no rule at all every authenticated principal may
// do everything (authentication alone); once any rule exists, whatever no
// rule allows is denied. A rule names a principal ("*" for any), a
// resource type (topic, group, cluster, transactional-id), a pattern in
// the bus's one grammar (core.CompilePattern: "*" one segment, "**" any
// number; the cluster's pattern is ignored) and operations. As in Kafka,
// read, write, create, delete and alter each imply describe; admin
// implies every operation on the resources the rule matches. A
// transactional id (a Kafka producer's transactional.id) takes write and
// describe only, and idempotent-write exists on the cluster only; a rule
// naming another operation is ErrInvalid. AuthorizeAny asks whether some
// rule grants an operation on any resource of a type (Kafka's "write on
// any topic" for idempotent producers).
//
// Rules are edited whole by SetRules (configuration), or one change at a
// time by AddRules, DeleteRules and EditRules (the Kafka ACL requests),
// which call the WithRulePersister hook with the complete new set first:
// its error refuses the change.
//
// # Client certificates and rate limits
//
// PrincipalFromCert names the principal of a verified TLS client
// certificate: its subject common name, under the same name rules as
// users. A RateLimiter is a token bucket per principal with bounded
// memory: Reserve refuses without charging (HTTP 429), Take charges into
// a capped debt (Kafka's throttle time).
//
// # Errors and secrets
//
// Every rejection is a sentinel of errors.go, wrapped with the user or
// token id, never with a password, a token or a key. Credential and the
// token records print as redacted.
//
// # Concurrency
//
// A Store is safe for concurrent use; one RWMutex protects its users,
// tokens and rules. Rule sets are replaced whole, so a reload never
// exposes half a rule set. Lock order: the edit lock (serializes rule
// edits with their persister call, and replacements with their load),
// then mu.
package auth
