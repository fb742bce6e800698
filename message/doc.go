// Package message is the onexbus message model and its encodings, with no
// dependency on the engine: Message and Headers (every ONEX header, their
// defaults and validation), Category and the topic grammar and parser,
// subscription patterns, Kafka's murmur2 partitioner, the mapping of
// Headers to and from Kafka record headers, and the stored form of a
// message.
//
// It imports nothing of onexbus, so the Kafka broker, the HTTP API, tools
// and fuzz targets can use it without linking the engine. Package core
// re-exports every name here (core.Message is message.Message), so code
// written against core needs no change.
//
// # Topics
//
// Names follow Kafka's rules (1-255 of [a-zA-Z0-9._-], not "." or "..").
// The ONEX grammar onex.<evt|cmd|intent|dlq>.<domain>.<name>.v<N> (and two
// older forms) gives a topic its Category; Enforcement decides what
// happens to names outside it. In patterns, `*` matches one segment and
// `**` any number of segments (zero included); there is one parser and
// one matcher for the whole code base.
//
// # Headers
//
// Header names on the Kafka wire are the Header* constants; values travel
// as UTF-8 text. HeadersFromRecord never fails: a foreign value that does
// not parse falls back to the default with a warning, and the raw value
// is kept in Headers.Unparsed.
//
// # Encoding
//
// The stored form is versioned by its first byte. Version 2 is written: a
// field bitmap and only the fields that differ from their defaults.
// AppendRecord writes the body of a log record, leaving out what the
// log's frame already holds (timestamp, message_id, correlation_id, the
// topic as event_type) and the CRC the frame's covers; DecodeRecord reads
// it back given that Envelope. AppendMessage writes a standalone form with
// everything and its own CRC-32C, for DecodeMessage. Version 1, the
// msgpack array written before 72fbfab, is still read by every decoder, so
// logs written then read unchanged. Decoders wrap ErrCorruptMessage for
// bytes that do not decode; they never panic.
package message
