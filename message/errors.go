package message

import "errors"

// Errors of topics and patterns. Package core re-exports each under the
// same name (core.ErrInvalidTopic is ErrInvalidTopic), so errors.Is works
// with either spelling.
var (
	// ErrInvalidTopic is wrapped by every error about a topic name that
	// breaks Kafka's rules; the message names the rule.
	ErrInvalidTopic = errors.New("onexbus: invalid topic")
	// ErrNotONEXTopic is wrapped when a topic does not follow the ONEX
	// grammar and enforcement is EnforceReject.
	ErrNotONEXTopic = errors.New("onexbus: topic does not follow the ONEX grammar")
	// ErrInvalidPattern is wrapped by every error about a malformed
	// subscription pattern.
	ErrInvalidPattern = errors.New("onexbus: invalid pattern")
)

// Errors of messages.
var (
	// ErrInvalidHeaders is wrapped by Headers.Validate when headers fail
	// validation after defaults (for example an empty event_type).
	ErrInvalidHeaders = errors.New("onexbus: invalid headers")
	// ErrCorruptMessage is wrapped by the decoders (DecodeMessage,
	// DecodeRecord and the others) when stored bytes do not decode as a
	// message, and when a framed record is decoded without its frame.
	ErrCorruptMessage = errors.New("onexbus: corrupt message")
)
