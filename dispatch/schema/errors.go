package schema

import "errors"

// Registry operations. Each maps to one Confluent Schema Registry error
// code in the HTTP API (see http.go).
var (
	// ErrSubjectNotFound is returned for a subject with no live version
	// (or none at all, with deleted ones included). Code 40401.
	ErrSubjectNotFound = errors.New("schema: subject not found")
	// ErrVersionNotFound is returned for a version the subject does not
	// have (or has soft-deleted, unless deleted ones are asked for). Code 40402.
	ErrVersionNotFound = errors.New("schema: version not found")
	// ErrSchemaNotFound is returned for an unknown schema id, and by Lookup
	// for a schema the subject does not hold. Code 40403.
	ErrSchemaNotFound = errors.New("schema: schema not found")
	// ErrSubjectSoftDeleted is returned when soft-deleting a subject whose
	// versions are all soft-deleted already. Code 40404.
	ErrSubjectSoftDeleted = errors.New("schema: subject was soft deleted")
	// ErrSubjectNotSoftDeleted is returned by a permanent delete of a
	// subject that still has live versions. Code 40405.
	ErrSubjectNotSoftDeleted = errors.New("schema: subject must be soft deleted first")
	// ErrVersionSoftDeleted is returned when soft-deleting a version that
	// is soft-deleted already. Code 40406.
	ErrVersionSoftDeleted = errors.New("schema: version was soft deleted")
	// ErrVersionNotSoftDeleted is returned by a permanent delete of a live
	// version. Code 40407.
	ErrVersionNotSoftDeleted = errors.New("schema: version must be soft deleted first")
	// ErrCompatibilityNotSet is returned by SubjectCompatibility for a
	// subject without a level of its own. Code 40408.
	ErrCompatibilityNotSet = errors.New("schema: subject compatibility level not configured")
	// ErrIncompatible is returned by Register for a schema the subject's
	// compatibility level refuses; the error carries the reasons. Code 409.
	ErrIncompatible = errors.New("schema: incompatible schema")
	// ErrInvalidSchema is returned for a schema that does not parse or
	// compile, an unsupported type (only AVRO and JSON are) or one with
	// references (not supported). Code 42201.
	ErrInvalidSchema = errors.New("schema: invalid schema")
	// ErrInvalidVersion is returned for a version that is not a positive
	// number (or "latest", or -1). Code 42202.
	ErrInvalidVersion = errors.New("schema: invalid version")
	// ErrInvalidCompatibility is returned for an unknown compatibility
	// level. Code 42203.
	ErrInvalidCompatibility = errors.New("schema: invalid compatibility level")
	// ErrInvalidSubject is returned for an empty subject, one longer than
	// 255 bytes, or one with control characters. Code 42208.
	ErrInvalidSubject = errors.New("schema: invalid subject")
	// ErrClosed is returned by every operation after Close, and when the
	// bus under the registry is closed. Code 50001.
	ErrClosed = errors.New("schema: registry is closed")
)

// Validation of payloads (on publish, and for Kafka records).
var (
	// ErrInvalidPayload is returned for a value (or key) that does not
	// conform to its schema; the error says where.
	ErrInvalidPayload = errors.New("schema: payload does not match its schema")
	// ErrNoSchema is returned in reject mode for a topic whose messages
	// have no schema: no subject <topic>-value, and none named by the
	// message's type (event_type).
	ErrNoSchema = errors.New("schema: no schema for the message")
	// ErrUnknownSchemaID is returned for a payload in the Confluent wire
	// format whose schema id the registry does not know.
	ErrUnknownSchemaID = errors.New("schema: unknown schema id")
	// ErrSchemaNotInSubject is returned for a payload whose schema id is
	// not a live version of the subject its topic (or type) uses.
	ErrSchemaNotInSubject = errors.New("schema: schema id is not a version of the subject")
	// ErrInvalidMode is returned by SetValidation for an unknown mode.
	ErrInvalidMode = errors.New("schema: invalid validation mode")
)
