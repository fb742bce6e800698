// Package dispatch is onexbus's routing layer, the message dispatch
// engine of the original system done right: dispatchers registered by id
// for a category (and optionally some message types), routes from topic
// patterns to dispatchers with priorities, and a message-type registry
// with domain ownership. It sits on top of core and works the same
// embedded and under onexbusd.
//
// # Model
//
// A Dispatcher handles messages of one category and returns the messages
// it produces (its outputs), which the engine publishes. A Route sends
// the messages of topics matching its pattern (the bus's one grammar: `*`
// one segment, `**` any number, exactly as in subscriptions) and of its
// category (and message type, when set) to one dispatcher. The message
// type is the event_type header.
//
// Registration happens before Freeze: duplicate ids are refused, Freeze
// checks that every route names a registered dispatcher and makes the
// table read-only. Dispatch before Freeze, or registration after it, is
// ErrFrozen / ErrNotFrozen. After Freeze the engine is safe for
// concurrent use without locks on the table.
//
// # Dispatch
//
// Routes are tried by priority, highest first, then in registration
// order (the original ignored priority). Every matching, enabled route
// contributes its dispatcher once; a dispatcher that lists message types
// only takes those. The dispatchers run in that order; outputs are
// published after all succeeded, so a failed dispatch publishes nothing
// (a retry does not duplicate outputs). The Result carries one of the
// original statuses, the duration, the outputs' positions and the
// correlation id.
//
// Engine.Handler adapts the engine to core.Handler: success acks, a
// handler error or timeout is retried by the subscription's policy, and
// a message no dispatcher takes (or an invalid one) is dead-lettered at
// once with its reason, so nothing is dropped in silence.
//
// # Registry
//
// A Registry holds an entry per message type: its handlers, the
// categories it may travel in, and a domain constraint (the owning domain
// and the domains allowed to consume it). With WithRegistry the engine
// checks every message against it: an unknown type, a wrong category or a
// domain not allowed is an invalid message, and only the type's handlers
// are run.
//
// # Caveats
//
// Outputs are published with PublishBatch, which is not atomic: a crash
// between an output's append and the input's ack may publish that output
// again on the retry (at least once, with the same derived message_id,
// which the dedup window drops). Effects outside the bus are not covered.
package dispatch
