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
// resource type (topic, group, cluster), a pattern in the bus's one
// grammar (core.CompilePattern: "*" one segment, "**" any number; the
// cluster's pattern is ignored) and operations. As in Kafka, read, write,
// create, delete and alter each imply describe; admin implies every
// operation on the resources the rule matches.
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
// tokens and rules. Rule sets are replaced whole (SetRules), so a reload
// never exposes half a rule set.
package auth
