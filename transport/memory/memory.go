// Package memory is the in-memory bus: the onexbus engine on a store that
// lives in RAM. Delivery, consumer groups, retries and history behave as on
// the durable bus; nothing survives the process. Use it in tests, in
// development and on edge nodes where RAM-only is a choice.
//
// # Durability
//
// Publish returns once the message is in the log (core.DurabilityNone):
// there is no disk to wait for. Messages are lost when the process ends.
//
// # Memory
//
// A bus in RAM that kept every message would grow with the messages
// published, so topics created on first use are bounded by
// DefaultRetention (per partition), and every subscribed group holds
// retention (core.WithSubscribersHoldRetention): a message is dropped
// only once it is past the bound and every group subscribed to its topic
// has consumed it. A subscriber that lags therefore keeps its backlog (the
// partition grows past the bound until it catches up), and nothing a
// Subscription has not handled is lost to retention. History and Fetch
// see the retained messages only, as on a durable bus with retention.
// Memory freed this way is reused by the Go heap instead of fresh pages,
// which is also what keeps the bus fast: first touches of new memory
// were about a quarter of its CPU per message when it kept everything.
// Pass core.WithDefaultTopicConfig (or WithTopic) to choose other bounds,
// a zero core.Retention to keep everything, and
// core.WithSubscribersHoldRetention(false) for retention that drops
// unread messages. HTTP pull and push groups (transport/http) are
// Subscriptions and hold; groups that consume over the Kafka protocol do
// not: pair them with core.Bus.HoldRetention.
package memory

import (
	"slices"

	"github.com/onexbus/onexbus/core"
	memstore "github.com/onexbus/onexbus/store/memory"
)

// DefaultRetention is the bound of each partition of the topics a memory
// bus creates on first use: the newest 100,000 messages and at most
// 64 MiB, apart from what a subscribed group has not consumed yet (see
// the package doc, Memory). With 256-byte values that is about 30 MiB a
// partition. A function, not a variable, so no caller can change the
// default of every other memory bus in the process.
func DefaultRetention() core.Retention {
	return core.Retention{MaxMessages: 100_000, MaxBytes: 64 << 20}
}

// New returns a started bus on a fresh memory store. opts are the bus's
// options, applied after the memory bus's defaults (one partition and
// DefaultRetention per topic, subscribers holding retention), so they
// may replace them; a WithStore or WithDurability among them is
// overridden.
func New(opts ...core.Option) (*core.Bus, error) {
	all := make([]core.Option, 0, len(opts)+4)
	all = append(all,
		core.WithDefaultTopicConfig(core.TopicConfig{Partitions: 1, Retention: DefaultRetention()}),
		core.WithSubscribersHoldRetention(true))
	all = append(all, slices.Clip(opts)...)
	all = append(all, core.WithStore(memstore.New()), core.WithDurability(core.DurabilityNone, 0))
	return core.New(all...)
}
