package core

import (
	"errors"

	"github.com/onexbus/onexbus/message"
	"github.com/onexbus/onexbus/wal"
)

// Errors of the bus's lifecycle.
var (
	// ErrClosed is returned by every operation after Close has begun.
	ErrClosed = errors.New("onexbus: bus is closed")
	// ErrInvalidConfig is wrapped by New when an option is out of range.
	ErrInvalidConfig = errors.New("onexbus: invalid configuration")
)

// Errors of topics and patterns. Each is the same value as its namesake
// in package message.
var (
	// ErrInvalidTopic is wrapped by every error about a topic name that
	// breaks Kafka's rules; the message names the rule.
	ErrInvalidTopic = message.ErrInvalidTopic
	// ErrNotONEXTopic is wrapped when a topic does not follow the ONEX
	// grammar and enforcement is EnforceReject.
	ErrNotONEXTopic = message.ErrNotONEXTopic
	// ErrInvalidPattern is wrapped by every error about a malformed
	// subscription pattern.
	ErrInvalidPattern = message.ErrInvalidPattern
	// ErrUnknownTopic is returned by operations on a topic that does not
	// exist where one is needed.
	ErrUnknownTopic = errors.New("onexbus: unknown topic")
	// ErrInvalidPartition is returned for a partition outside the topic.
	ErrInvalidPartition = errors.New("onexbus: invalid partition")
)

// Errors of messages. ErrInvalidHeaders and ErrCorruptMessage are the
// same values as their namesakes in package message.
var (
	// ErrInvalidHeaders is wrapped when a message's headers fail
	// validation after defaults (for example an empty event_type).
	ErrInvalidHeaders = message.ErrInvalidHeaders
	// ErrMessageTooLarge is returned by Publish for a message whose
	// encoding exceeds the configured maximum.
	ErrMessageTooLarge = errors.New("onexbus: message too large")
	// ErrCorruptMessage is wrapped when a stored message fails its CRC or
	// does not decode.
	ErrCorruptMessage = message.ErrCorruptMessage
)

// ErrNilCallback is returned by PublishAsync without a callback.
var ErrNilCallback = errors.New("onexbus: nil callback")

// Errors of subscriptions and queries.
var (
	// ErrInvalidGroup is returned by Subscribe for an empty or malformed
	// group name.
	ErrInvalidGroup = errors.New("onexbus: invalid group")
	// ErrGroupSettings is wrapped by Subscribe when a member asks for a
	// retry policy or ordering other than its group's.
	ErrGroupSettings = errors.New("onexbus: member settings conflict with its group's")
	// ErrNilHandler is returned by Subscribe without a handler.
	ErrNilHandler = errors.New("onexbus: nil handler")
	// ErrUnknownGroup is wrapped by ReplayDeadLetters when the target
	// group has neither a member on the letter's topic nor a committed
	// offset there; the letter stays queued.
	ErrUnknownGroup = errors.New("onexbus: unknown consumer group")
	// ErrInvalidLimit is returned by History and Query for a negative limit.
	ErrInvalidLimit = errors.New("onexbus: invalid limit")
	// ErrGroupInUse is returned by Subscribe while Kafka-protocol members
	// (a broker's consumer group) hold the group name, and by ClaimGroup
	// and CommitGroupOffsets while it has live embedded members: a group
	// has members of one kind at a time.
	ErrGroupInUse = errors.New("onexbus: group in use by members of the other kind")
	// ErrInvalidOffset is wrapped by CommitOffset and CommitGroupOffsets
	// for an offset outside [0, end] of its partition (and by
	// CommitGroupOffsets for metadata over 4096 bytes).
	ErrInvalidOffset = errors.New("onexbus: invalid offset")
	// ErrReleased is returned by a handler that gives its message back
	// unhandled, for instance because its member is shutting down: the
	// message is delivered again, and no attempt is counted and the
	// breaker is not told, since nothing failed.
	ErrReleased = errors.New("onexbus: message released")
)

// Errors of transactional handlers (txn.go).
var (
	// ErrNotTransactional is returned by Txn.Publish on the nil Txn that
	// TxnFrom gives outside a handler subscribed with
	// SubscribeTransactional.
	ErrNotTransactional = errors.New("onexbus: not a transactional handler call")
	// ErrTxnDone is returned by Txn.Publish after the handler returned.
	ErrTxnDone = errors.New("onexbus: transaction already ended")
)

// Errors of Kafka transactions (rawlog_txn.go).
var (
	// ErrTxnIDsFull is wrapped by KafkaLog.SetTxnProducer for a new
	// transactional id while the log holds its maximum
	// (TxnLimits.MaxIDs), none expired. The same value as
	// wal.ErrTxnIDsFull.
	ErrTxnIDsFull = wal.ErrTxnIDsFull
)
