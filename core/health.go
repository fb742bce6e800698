package core

// Health is a snapshot of the bus's state.
type Health struct {
	// Status is "started" while the bus runs and "stopped" once Close began.
	Status string
	// Subscribers is the number of live subscriptions.
	Subscribers int
	// Groups is the number of consumer groups with a live member.
	Groups int
	// Topics is the number of topics.
	Topics int
	// HistorySize is the number of messages retained across all topics.
	HistorySize int64
}

// Health returns the bus's state. It works after Close too.
func (b *Bus) Health() Health {
	h := Health{Status: "started"}
	if b.closed.Load() {
		h.Status = "stopped"
	}
	b.mu.Lock()
	h.Subscribers = b.subs
	for _, g := range b.groups {
		if len(g.members) > 0 {
			h.Groups++
		}
	}
	b.mu.Unlock()
	topics := b.log.Topics()
	h.Topics = len(topics)
	for _, t := range topics {
		tc, _ := b.log.Topic(t)
		for p := int32(0); p < tc.Partitions; p++ {
			if start, end, err := b.log.Offsets(t, p); err == nil {
				h.HistorySize += end - start
			}
		}
	}
	return h
}
