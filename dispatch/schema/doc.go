// Package schema is onexbus's schema registry: JSON Schema and Avro
// schemas, in versions, per subject, kept in the bus's own store; the
// compatibility checks that guard a new version; validation of what is
// published, per topic; and the subset of the Confluent Schema Registry
// HTTP API that Kafka clients and serializers use.
//
// It lives under dispatch/ because the design puts schemas in the
// routing layer (message types, which dispatch routes on, are one of the
// two ways a message finds its schema), but it is a package of its own:
// the daemon, the Kafka listener and embedding applications use it
// without the dispatch engine, and the engine does not need it.
//
// # Model
//
// A subject holds versions 1, 2, ... of schemas of one format (AVRO or
// JSON; Confluent's schemaType). Every distinct schema (its format and
// its text as compact JSON, so that Avro defaults, which Avro's
// parsing canonical form drops, still tell versions apart) has
// one global id, shared by every subject that registers it; ids and
// version numbers are never reused. Subjects follow Confluent's naming:
// <topic>-value and <topic>-key for a topic's values and keys
// (TopicNameStrategy), or a message type's name (the event_type header)
// for schemas per message type.
//
// Versions are soft-deleted first (hidden, still resolvable by id) and
// then, explicitly, permanently. A registration is checked against the
// subject's compatibility level (its own, else the global one, BACKWARD
// by default): BACKWARD, FORWARD, FULL against the latest live version,
// their _TRANSITIVE forms against every live version, or NONE. Avro uses
// hamba/avro's schema compatibility (Avro's schema resolution rules);
// JSON Schema uses this package's checker (compat_json.go says what it
// covers and what it treats conservatively).
//
// # Validation
//
// Open installs the registry as the bus's publish validator
// (core.PublishValidator). Each topic has a mode: off (the default), warn
// (log and count what fails, store it anyway) or reject (refuse it, and
// refuse messages with no schema at all). A value is checked against
// <topic>-value, or when that subject has no live version, against the
// subject named by its event_type; a key against <topic>-key when that
// subject exists. A payload in the Confluent wire format (magic byte 0,
// 4-byte big-endian schema id, then the encoding) is checked against that
// id, which must be a live version of the subject; a plain payload
// against the latest version, which must then be JSON Schema. An empty
// value (a tombstone) passes. ValidateRecord is the same check for a
// record produced through the Kafka listener.
//
// # Durability and concurrency
//
// Every change is one store transaction in the bus's store (bucket
// "ext.schema", core.ExtUpdate), durable by the bus's policy when the
// call returns; the state is loaded whole by Open and served from
// memory. Changes are serialised; reads and validation run concurrently
// under a read lock that is never held across I/O.
//
// # Caveats
//
//   - Schema references, Protobuf, schema contexts, modes (READONLY,
//     IMPORT) and normalisation are not supported: a schema with
//     references is refused as invalid.
//   - JSON Schema $ref is resolved only inside the schema itself; nothing
//     is ever fetched.
//   - Several registries must not share one bus: each Open loads the
//     state once and would not see the other's changes.
package schema
