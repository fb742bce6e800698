package kafka

import "errors"

// Errors of configuration.
var (
	// ErrInvalidConfig is wrapped by every configuration problem that
	// LoadEnv, LoadYAML, Load, With, Validate and ClientOptions report
	// (the message names the variable, or YAML key and line), and by
	// every option problem of NewForwarder and NewIngest (the message
	// names the option's subject). Each constructor reports all of its
	// problems at once.
	ErrInvalidConfig = errors.New("kafka: invalid configuration")
)

// Errors of the forwarder.
var (
	// ErrBacklogFull is wrapped by the error of a publish to a forwarded
	// topic (Publish, PublishBatch, PublishAsync of the bus) when a
	// running Forwarder's backlog is at KAFKA_BACKLOG_BUDGET_BYTES under
	// KAFKA_BACKLOG_POLICY=reject; the message gives the backlog, the
	// refused bytes and the budget.
	ErrBacklogFull = errors.New("kafka: forwarding backlog is full")
	// ErrForwarderClosed is returned by Forwarder methods after Close.
	ErrForwarderClosed = errors.New("kafka: forwarder is closed")
	// ErrNotStarted is returned by Forwarder and Ingest methods that need
	// Start first.
	ErrNotStarted = errors.New("kafka: not started")
	// ErrTopicRefused is wrapped by the errors of Forwarder.RefusedTopics:
	// the upstream refuses a topic for what it is (an invalid or colliding
	// name, a name longer than Kafka's 249 characters, a creation policy,
	// no authorization to write it), so the forwarder stops asking and
	// leaves that topic's messages in the local log; the error wraps
	// Kafka's.
	ErrTopicRefused = errors.New("kafka: upstream refuses the topic")
)

// Errors of ingest.
var (
	// ErrIngestClosed is returned by Ingest methods after Close.
	ErrIngestClosed = errors.New("kafka: ingest is closed")
)
