package core

import "github.com/onexbus/onexbus/message"

// The msgpack frame of a stored message is implemented in package message
// (message/codec.go); these functions are the same, under core's names.

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
