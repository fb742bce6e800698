package kafka

import (
	"context"
	"fmt"
	"sync/atomic"
)

// budget holds every publisher of a forwarded topic to
// KAFKA_BACKLOG_BUDGET_BYTES through a core.PublishGate that the forwarder
// installs in Start and removes in Close.
//
// Measuring the backlog reads each forwarded partition's chunk index, too
// much for every publish; so the gate keeps an estimate, the last
// measurement plus every byte admitted since, and measures only when the
// estimate says the budget is reached. Acks only shrink the backlog, so
// the estimate errs high (it may measure more often than needed, never
// admit past the budget by more than the publishes racing a measurement).
type budget struct {
	f      *Forwarder
	limit  int64
	reject bool
	est    atomic.Int64 // last measured backlog plus bytes admitted since
}

// gate is the core.PublishGate: it admits n messages of bytes to topic
// while the backlog is under the budget. A publish when the backlog is
// empty is always admitted, so a message larger than the whole budget
// does not wait forever. At the budget it returns an error wrapping
// ErrBacklogFull (reject) or waits for the forwarder's acks (block), until
// ctx ends. Once the forwarder closes the budget no longer applies.
//
// Dead letters (Bus.IsDeadLetterTopic, and the ingest's
// KAFKA_DEAD_LETTER_TOPIC) are always admitted, and counted: the engine
// publishes one only to move its group past a failed message, so holding
// it would hold that group's partition until Kafka returns, and with
// reject make the dead-letter write fail; dead letters are bounded by the
// failures, not by the publishers.
func (bg *budget) gate(ctx context.Context, topic string, _ int, bytes int) error {
	f := bg.f
	if !f.forwards(topic) {
		return nil
	}
	if f.bus.IsDeadLetterTopic(topic) || topic == f.cfg.v.DeadLetterTopic {
		bg.est.Add(int64(bytes))
		return nil
	}
	add := int64(bytes)
	for {
		if f.ctx.Err() != nil {
			return nil
		}
		cur := bg.est.Load()
		if cur+add <= bg.limit {
			if bg.est.CompareAndSwap(cur, cur+add) {
				return nil
			}
			continue
		}
		// The estimate says full: measure. The wake channel is taken
		// first, so an ack that lands after the measurement wakes us.
		f.mu.Lock()
		wake := f.ackWake
		f.mu.Unlock()
		backlog, err := f.BacklogBytes()
		if err != nil {
			return fmt.Errorf("kafka: backlog budget: %w", err)
		}
		bg.est.Store(backlog)
		if backlog == 0 || backlog+add <= bg.limit {
			bg.est.Add(add)
			return nil
		}
		if bg.reject {
			return fmt.Errorf("%w: %d bytes not yet acknowledged by Kafka, %d more would pass KAFKA_BACKLOG_BUDGET_BYTES=%d",
				ErrBacklogFull, backlog, add, bg.limit)
		}
		select {
		case <-wake:
		case <-ctx.Done():
			return ctx.Err()
		case <-f.ctx.Done():
			return nil
		}
	}
}

// BacklogBytes returns about how many bytes of the forwarded topics the
// local log holds that Kafka has not acknowledged yet: for each forwarded
// partition the stored chunks reaching past the forwarded position, whole,
// plus what is not yet committed; 0 when every partition is forwarded to
// its end. This is what KAFKA_BACKLOG_BUDGET_BYTES bounds.
func (f *Forwarder) BacklogBytes() (int64, error) {
	var n int64
	for _, topic := range f.bus.Topics() {
		if !f.forwards(topic) {
			continue
		}
		tc, _ := f.bus.TopicConfig(topic)
		for p := range tc.Partitions {
			end, err := f.bus.EndOffset(topic, p)
			if err != nil {
				return 0, err
			}
			acked := f.Acked(topic, p)
			if acked >= end {
				// TopicBytes counts the uncommitted tail whole even when it
				// is forwarded; a waiter would then wait for an ack that
				// never comes.
				continue
			}
			b, err := f.bus.TopicBytes(topic, p, acked)
			if err != nil {
				return 0, err
			}
			n += b
		}
	}
	return n, nil
}
