package core

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
)

// PublishGate is asked before every publish whether n messages of bytes
// encoded bytes in all may go to topic. A non-nil error refuses them (the
// publisher gets it, wrapped); blocking delays them (honour ctx). Gates
// run on the publisher's goroutine, concurrently.
type PublishGate func(ctx context.Context, topic string, n, bytes int) error

// gates is the set of installed gates, swapped as a whole so that the
// publish path reads it without a lock.
type gates struct {
	mu   sync.Mutex // serialises AddPublishGate and its removals
	list atomic.Pointer[[]*PublishGate]
}

// AddPublishGate installs g in front of every Publish, PublishBatch and
// PublishAsync, for instance a backlog budget of a forwarder that must
// block or refuse publishers while its upstream is down. It returns the
// function that removes g again.
func (b *Bus) AddPublishGate(g PublishGate) (remove func()) {
	b.gates.mu.Lock()
	defer b.gates.mu.Unlock()
	p := &g
	var next []*PublishGate
	if cur := b.gates.list.Load(); cur != nil {
		next = append(next, *cur...)
	}
	next = append(next, p)
	b.gates.list.Store(&next)
	return func() {
		b.gates.mu.Lock()
		defer b.gates.mu.Unlock()
		cur := b.gates.list.Load()
		if cur == nil {
			return
		}
		var kept []*PublishGate
		for _, q := range *cur {
			if q != p {
				kept = append(kept, q)
			}
		}
		b.gates.list.Store(&kept)
	}
}

// admit asks every gate about a run of messages to one topic.
func (b *Bus) admit(ctx context.Context, topic string, n, bytes int) error {
	list := b.gates.list.Load()
	if list == nil {
		return nil
	}
	for _, g := range *list {
		if err := (*g)(ctx, topic, n, bytes); err != nil {
			return fmt.Errorf("onexbus: publish to %s refused: %w", topic, err)
		}
	}
	return nil
}

// TopicBytes returns about how many bytes partition part of topic stores
// from offset from to its end (whole chunks: it may count up to one chunk
// more), for budgets on what a reader has yet to read. An unknown topic
// has 0.
func (b *Bus) TopicBytes(topic string, part int32, from int64) (int64, error) {
	n, err := b.log.BytesFrom(topic, part, from)
	return n, b.wrapLogErr(err)
}
