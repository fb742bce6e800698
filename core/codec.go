package core

import "github.com/onexbus/onexbus/message"

// The stored form of a message is implemented in package message
// (message/codec*.go); these functions are the same, under core's names.
// The log's records hold message.AppendRecord's framed form, whose frame
// (wal.Record's Timestamp, MessageID and CorrelationID) carries what
// recordEnvelope says.

// AppendMessage appends the encoding of m to dst; see
// message.AppendMessage.
func AppendMessage(dst []byte, m *Message) []byte { return message.AppendMessage(dst, m) }

// EncodedLen returns the length of m's encoding; see message.EncodedLen.
func EncodedLen(m *Message) int { return message.EncodedLen(m) }

// DecodeMessage decodes b into m; see message.DecodeMessage.
func DecodeMessage(b []byte, m *Message) error { return message.DecodeMessage(b, m) }

// DecodeMessageTopic decodes b into m, sharing topic's string when the
// stored topic is the same; see message.DecodeMessageTopic.
func DecodeMessageTopic(b []byte, topic string, m *Message) error {
	return message.DecodeMessageTopic(b, topic, m)
}

// recordEnvelope is what the log's frame of m holds (the Timestamp,
// MessageID and CorrelationID of its wal.Record, and its topic): the
// body of the record leaves those fields out, and decodeEntryInto takes
// them back from the frame.
func recordEnvelope(m *Message) message.Envelope {
	return message.Envelope{Topic: m.Topic, Timestamp: m.Timestamp.UnixNano(), MessageID: m.Headers.MessageID, CorrelationID: m.Headers.CorrelationID}
}
