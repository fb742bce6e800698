// Package memory is the in-memory bus: the onexbus engine on a store that
// lives in RAM. Delivery, consumer groups, retries and history behave as on
// the durable bus; nothing survives the process. Use it in tests, in
// development and on edge nodes where RAM-only is a choice.
//
// # Durability
//
// Publish returns once the message is in the log (core.DurabilityNone):
// there is no disk to wait for. Messages are lost when the process ends.
package memory

import (
	"slices"

	"github.com/onexbus/onexbus/core"
	memstore "github.com/onexbus/onexbus/store/memory"
)

// New returns a started bus on a fresh memory store. opts are the bus's
// options; a WithStore or WithDurability among them is overridden.
func New(opts ...core.Option) (*core.Bus, error) {
	opts = append(slices.Clip(opts), core.WithStore(memstore.New()), core.WithDurability(core.DurabilityNone, 0))
	return core.New(opts...)
}
