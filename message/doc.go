// Package message is the onexbus message model and its encodings, with no
// dependency on the engine: Message and Headers (every ONEX header, their
// defaults and validation), Category and the topic grammar and parser,
// subscription patterns, Kafka's murmur2 partitioner, the mapping of
// Headers to and from Kafka record headers, and the msgpack frame the log
// stores.
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
// AppendMessage writes a message as one msgpack array (the frame the wal
// stores, under its own CRC); DecodeMessage reads it back and wraps
// ErrCorruptMessage for bytes that do not decode; it never panics.
package message
