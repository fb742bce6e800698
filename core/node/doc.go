// Package node publishes the node registration events of the ONEX
// platform for a process that runs a bus: an introspection event when the
// node starts, when it shuts down and whenever it is asked, and a
// heartbeat at a fixed interval.
//
// # Topics
//
//   - IntrospectionTopic (onex.evt.platform.node-introspection.v1): one
//     Introspection, JSON, on Start (reason startup), on Close (reason
//     shutdown) and for every command on RequestTopic (reason request).
//   - HeartbeatTopic (onex.evt.platform.node-heartbeat.v1): one Heartbeat,
//     JSON, every heartbeat interval while the reporter runs.
//   - RequestTopic (onex.cmd.platform.request-introspection.v1): a command
//     asking every node (or the one named by its node_id) to introspect.
//     Each reporter consumes it in a consumer group of its own
//     (onex-node-<node_id>), so every node answers.
//
// # Models
//
// The models are those of the original system: they reject unknown
// fields when parsed, and Validate checks the same rules (node_id a UUID,
// node_type one of the node kinds, node_version a semantic version,
// timestamps with a time zone, counters and uptime not negative,
// cpu_usage_percent in 0..100, endpoints valid absolute URLs). The
// correlation_id of an event is also the correlation_id header of the
// message that carries it: one identity.
//
// # Lifecycle
//
// New validates the identity and options; Start publishes the startup
// event, subscribes to requests and starts the heartbeat; Close stops the
// heartbeat, unsubscribes and publishes the shutdown event. Close is
// idempotent and waits for the reporter's goroutines. Start and Close
// take a context for the publishes they make; the reporter never logs
// and returns the same error.
package node
