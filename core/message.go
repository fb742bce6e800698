package core

import "github.com/onexbus/onexbus/message"

// The message model lives in package message, which imports nothing of
// the engine, so that the broker, the HTTP API and tools can use it alone.
// The names below keep core's API as it was: each is the same type,
// constant or function as its namesake in package message.

// Message is one record of a topic; see message.Message.
type Message = message.Message

// Header is one free-form header; see message.Header.
type Header = message.Header

// Headers is the structured metadata of a message; see message.Headers.
type Headers = message.Headers

// Priority is a message's priority header; see message.Priority.
type Priority = message.Priority

// Priorities; see message.PriorityUnset.
const (
	PriorityUnset    = message.PriorityUnset
	PriorityLow      = message.PriorityLow
	PriorityNormal   = message.PriorityNormal
	PriorityHigh     = message.PriorityHigh
	PriorityCritical = message.PriorityCritical
)

// Header defaults and limits; see message.DefaultContentType.
const (
	// DefaultContentType is the content_type of a message that sets none.
	DefaultContentType = message.DefaultContentType
	// DefaultSchemaVersion is the schema_version of a message that sets none.
	DefaultSchemaVersion = message.DefaultSchemaVersion
	// DefaultMaxRetries is the max_retries of a message that sets zero.
	DefaultMaxRetries = message.DefaultMaxRetries
	// MaxHeaderLen caps the length in bytes of each named text header.
	MaxHeaderLen = message.MaxHeaderLen
)

// ParsePriority parses low, normal, high or critical; see
// message.ParsePriority.
func ParsePriority(s string) (Priority, error) { return message.ParsePriority(s) }

// Category is the kind of a topic in the ONEX grammar; see
// message.Category.
type Category = message.Category

// Categories; see message.CategoryNone.
const (
	CategoryNone       = message.CategoryNone
	CategoryEvent      = message.CategoryEvent
	CategoryCommand    = message.CategoryCommand
	CategoryIntent     = message.CategoryIntent
	CategoryDeadLetter = message.CategoryDeadLetter
)

// ParseCategory parses a category name; see message.ParseCategory.
func ParseCategory(s string) (Category, error) { return message.ParseCategory(s) }

// Grammar is the form of a topic name; see message.Grammar.
type Grammar = message.Grammar

// Grammars; see message.GrammarNone.
const (
	GrammarNone       = message.GrammarNone
	GrammarONEX       = message.GrammarONEX
	GrammarLegacyEnv  = message.GrammarLegacyEnv
	GrammarLegacyONEX = message.GrammarLegacyONEX
)

// ONEXGrammar describes the ONEX topic grammar in error messages; see
// message.ONEXGrammar.
const ONEXGrammar = message.ONEXGrammar

// MaxTopicLen is the longest topic name, in bytes; see message.MaxTopicLen.
const MaxTopicLen = message.MaxTopicLen

// Topic is a parsed topic name; see message.Topic.
type Topic = message.Topic

// ValidateTopic checks a topic name against Kafka's rules; see
// message.ValidateTopic.
func ValidateTopic(name string) error { return message.ValidateTopic(name) }

// ParseTopic validates and parses a topic name; see message.ParseTopic.
func ParseTopic(name string) (Topic, error) { return message.ParseTopic(name) }

// Enforcement says what happens to topic names outside the ONEX grammar;
// see message.Enforcement.
type Enforcement = message.Enforcement

// Enforcement modes; see message.EnforceWarn.
const (
	EnforceWarn   = message.EnforceWarn
	EnforceReject = message.EnforceReject
	EnforceOff    = message.EnforceOff
)

// ParseEnforcement parses warn, reject or off; see message.ParseEnforcement.
func ParseEnforcement(s string) (Enforcement, error) { return message.ParseEnforcement(s) }

// Pattern is a compiled subscription pattern; see message.Pattern.
type Pattern = message.Pattern

// CompilePattern compiles a subscription pattern; see
// message.CompilePattern.
func CompilePattern(p string) (Pattern, error) { return message.CompilePattern(p) }

// Murmur2 is Kafka's murmur2 hash; see message.Murmur2.
func Murmur2(data []byte) int32 { return message.Murmur2(data) }

// KafkaPartition picks a key's partition as Kafka's default partitioner
// does; see message.KafkaPartition.
func KafkaPartition(key []byte, partitions int32) int32 {
	return message.KafkaPartition(key, partitions)
}
