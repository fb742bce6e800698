// Package kafkawire is the Kafka wire protocol's framing layer for the
// onexbus broker: the 4-byte size prefix and its limits, the request
// header, the response header and the table of API versions the broker
// advertises and accepts.
//
// It depends on nothing of onexbus (only on franz-go's kmsg and kbin), so
// it can be fuzzed on its own.
//
// # Framing
//
// A request is a big-endian int32 size followed by that many bytes. Sizes
// below MinFrameBytes (the smallest possible request header) or above the
// caller's maximum (DefaultMaxFrameBytes, 100 MiB, Kafka's
// socket.request.max.bytes) are refused before anything is allocated.
//
// # Requests
//
// ParseRequest reads the header (key, version, correlation id, the
// non-compact nullable client id, and the header's tag section in flexible
// versions), checks the key and version against Versions, and decodes the
// body with kmsg. The decoded request aliases the frame: the frame must
// stay untouched until the request is done.
//
// ApiVersions is special (KIP-511): a version above the table's maximum is
// not an error but a request the broker answers with a version 0 reply
// carrying UNSUPPORTED_VERSION, so ParseRequest returns it with
// Request.Downgrade set; its body is not parsed then.
//
// # Responses
//
// AppendResponse writes the size, the correlation id, the tag byte of a
// flexible response header (never for ApiVersions, whose response header
// is always version 0) and the body.
package kafkawire
