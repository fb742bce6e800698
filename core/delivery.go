package core

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/onexbus/onexbus/internal/backoff"
	"github.com/onexbus/onexbus/internal/breaker"
	"github.com/onexbus/onexbus/message"
	"github.com/onexbus/onexbus/wal"
)

// loop delivers one topic-partition to one consumer group. It is the only
// goroutine that moves the group's cursor on that partition, so its own
// state needs no lock (a loop that a handler's runtime.Goexit ended hands
// that state to the goroutine it starts to carry on).
type loop struct {
	bus      *Bus
	group    *group
	topic    string
	part     int32
	assigned atomic.Pointer[Subscription] // the member receiving, nil if none
	kick     chan struct{}                // buffer 1: assignment changed
	breaker  *breaker.Breaker             // of the (topic, group) subscriber
	// stop is closed when the loop must exit: the bus closes, or the
	// group has no member left for the topic. stopped (guarded by
	// Bus.mu) makes closing it idempotent.
	stop    chan struct{}
	stopped bool
	// ctx is cancelled with stop, so that a loop blocked in the log, a
	// dead-letter publish or a publish gate lets go when it must exit.
	ctx    context.Context
	cancel context.CancelFunc
	// prev is the loop this one replaces on the same partition (retired
	// when the group's last member left); done closes when a loop exits.
	// A new loop waits for prev, so two loops never deliver one partition.
	prev *loop
	done chan struct{}

	// The group's settings, fixed when the loop starts (see groupSettings).
	ordering    Ordering
	concurrency int
	retry       RetryPolicy
	readOnly    bool // SubscribeReadOnly: Key and Value may alias stable log bytes

	// ready is set once run has read the cursor and the in-flight mark; a
	// goroutine that carries on after a handler's runtime.Goexit skips it.
	ready bool
	// cursor is the first offset not yet delivered (and not committed
	// yet, perhaps).
	cursor int64
	// suspectEnd is the end of the range that was in flight when the
	// process last stopped: a record below it may have crashed the
	// process, so its attempt is recorded durably before each call.
	suspectEnd int64
	// marked is the end of the range covered by the durable in-flight
	// mark.
	marked int64
	// skipped and skippedFirst count the Kafka control records the last
	// read passed over (in all, and before its first message), so that a
	// gap they fill is not reported as retention.
	skipped, skippedFirst int64

	exitMu    sync.Mutex         // protects exits
	exits     map[int64]struct{} // offsets whose handler call never returned (runtime.Goexit)
	exitCount atomic.Int32       // len(exits), read without the lock
}

// inFlightAhead is how far past the cursor, and past the previous mark, a
// mark reaches. Marking ahead saves a durable commit per batch (under the
// sync policy, a second fsync for every message a caught-up group
// delivers, and for every read of a parallel loop whose cursor is held);
// the price is that after a crash up to this many more records are
// delivered with a durable attempt each.
const inFlightAhead = 256

// deliveryBatch is how many records a loop reads at a time.
const deliveryBatch = 64

// storeRetry paces the retries of a read, a mark or a dead-letter write
// that failed: the log or the store is in trouble, and nothing is skipped
// meanwhile.
var storeRetry = RetryPolicy{MaxAttempts: 1, Base: 50 * time.Millisecond, Max: 5 * time.Second}

// markInFlight makes sure records [cursor, end) are marked in flight
// before a handler sees them, marking ahead when it must write.
func (l *loop) markInFlight(cursor, end int64) error {
	if end <= l.marked {
		return nil
	}
	to := max(end, cursor, l.marked) + inFlightAhead
	if err := l.bus.log.MarkInFlight(l.ctx, l.group.name, l.topic, l.part, cursor, to); err != nil {
		return err
	}
	l.marked = to
	return nil
}

// mark is markInFlight retried until it succeeds; false when the loop
// must exit.
func (l *loop) mark(end int64, log logger) bool {
	for n := 0; ; n++ {
		err := l.markInFlight(l.cursor, end)
		if err == nil {
			return true
		}
		if l.exiting(err) {
			return false
		}
		log.Error("cannot mark deliveries in flight; retrying", "error", err)
		if !l.sleep(retryDelay(storeRetry, n)) {
			return false
		}
	}
}

// clearInFlight removes the in-flight mark once no handler of the loop
// runs any more (the loop exits cleanly), so that the next life of the
// process has no suspects: marks are for crashes only.
func (l *loop) clearInFlight() {
	if !l.ready || l.marked <= 0 && l.suspectEnd < 0 {
		return
	}
	err := l.bus.log.MarkInFlight(context.Background(), l.group.name, l.topic, l.part, l.cursor, -1)
	if err != nil && !errors.Is(err, wal.ErrClosed) {
		l.bus.cfg.logger.Error("cannot clear the in-flight mark; the next start counts those deliveries as suspects",
			"group", l.group.name, "topic", l.topic, "partition", l.part, "error", err)
	}
}

// retireLocked tells the loop to exit after the message in hand.
func (l *loop) retireLocked() {
	if !l.stopped {
		l.stopped = true
		close(l.stop)
		l.cancel()
	}
}

func (l *loop) wake() {
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

// isStopped reports whether the loop was told to exit.
func (l *loop) isStopped() bool {
	select {
	case <-l.stop:
		return true
	default:
		return false
	}
}

// exiting reports whether err means the loop must exit (the log closed,
// or the loop's context ended because it was told to stop).
func (l *loop) exiting(err error) bool {
	return errors.Is(err, wal.ErrClosed) || l.ctx.Err() != nil || l.isStopped()
}

// run is the loop's goroutine. A handler that calls runtime.Goexit
// unwinds it; the deferred function then starts a new goroutine that
// carries on where this one stopped, so the partition is never left
// without a loop.
func (l *loop) run() {
	b := l.bus
	slot := b.enterHandlerGoroutine()
	clean := false
	defer func() {
		b.leaveHandlerGoroutine(slot)
		if !clean {
			go l.run()
			return
		}
		l.clearInFlight()
		close(l.done)
		b.loops.Done()
	}()
	log := b.cfg.logger.With("group", l.group.name, "topic", l.topic, "partition", l.part)
	if !l.ready {
		if l.prev != nil {
			select {
			case <-l.prev.done:
				l.prev = nil
			case <-l.stop:
				clean = true
				return
			}
		}
		cursor, _, err := b.log.Cursor(l.group.name, l.topic, l.part)
		if err != nil {
			log.Error("cannot read cursor; delivery stopped", "error", err)
			clean = true
			return
		}
		l.cursor = cursor
		l.suspectEnd = b.log.InFlight(l.group.name, l.topic, l.part)
		// The mark of the last life still covers [cursor, suspectEnd):
		// nothing needs marking again below it.
		l.marked = max(l.suspectEnd, 0)
		l.ready = true
	}
	if l.ordering == OrderPartition {
		l.runSequential(slot, log)
	} else {
		l.runParallel(log)
	}
	clean = true
}

// runSequential delivers the partition one message at a time, in order.
func (l *loop) runSequential(slot *handlerSlot, log logger) {
	// The items are values reused from batch to batch (no handler sees
	// one); each is cleared once delivered, so that the slice keeps no
	// delivered message alive.
	batch := make([]item, 0, deliveryBatch)
	for !l.isStopped() {
		if l.assigned.Load() == nil {
			if !l.waitFor(nil) {
				return
			}
			continue
		}
		var next int64
		var ok bool
		batch, next, ok = l.read(batch[:0], l.cursor, deliveryBatch, log)
		if !ok {
			return
		}
		if len(batch) == 0 {
			if next > l.cursor {
				if next-l.cursor > l.skipped {
					log.Warn("messages removed by retention before delivery", "from", l.cursor, "to", next)
				}
				l.cursor = next
				l.commit(l.cursor)
				continue
			}
			if !l.waitData(l.cursor) {
				return
			}
			continue
		}
		if first := batch[0].Offset; first-l.cursor > l.skippedFirst {
			log.Warn("messages removed by retention before delivery", "from", l.cursor, "to", first)
		}
		// Mark the batch in flight before any handler sees it: if one
		// of them crashes the process, the restart knows where to look.
		if !l.mark(batch[len(batch)-1].end(), log) {
			return
		}
		// The cursor is committed once per batch: on a crash the group
		// redelivers at most one batch. Records that may have crashed
		// the process before commit one by one, so that the durable
		// attempt of the next one never blames one that passed.
		start := l.cursor
		for i := range batch {
			it := &batch[i]
			if !l.deliver(it, slot, log) {
				break
			}
			l.cursor = it.end()
			if it.Offset < l.suspectEnd {
				l.commit(l.cursor)
			}
		}
		clear(batch)
		if l.cursor > start {
			l.commit(l.cursor)
		}
	}
}

// read is the one read path of both loops: it appends to dst the items of
// up to max records from pos and returns the position after them. A
// damaged stretch of the log becomes one item, which deliver dead-letters
// with its location, so damage is never skipped in silence; records read
// before the damage are returned first. A failed read is logged and
// retried with backoff (woken early when the assignment changes); ok is
// false only when the loop must exit.
func (l *loop) read(dst []item, pos int64, max int, log logger) (items []item, next int64, ok bool) {
	for n := 0; ; n++ {
		items = dst
		l.skipped, l.skippedFirst = 0, 0
		next, err := l.bus.readDelivery(l.ctx, l.topic, l.part, pos, max, func(e *wal.Entry) error {
			if it, ok := l.decode(e); ok {
				items = append(items, it)
			} else { // a Kafka control record
				l.skipped++
				if len(items) == len(dst) {
					l.skippedFirst++
				}
			}
			return nil
		})
		var corrupt *wal.CorruptError
		switch {
		case len(items) > len(dst):
			return items, next, true
		case errors.As(err, &corrupt):
			return append(items, l.damaged(pos, corrupt)), max64(corrupt.Next, pos+1), true
		case err == nil:
			return items, next, true
		case l.exiting(err):
			return items, pos, false
		}
		log.Error("read failed; retrying", "offset", pos, "error", err)
		if !l.sleep(retryDelay(storeRetry, n)) {
			return items, pos, false
		}
	}
}

func max64(a, b int64) int64 {
	if a > b {
		return a
	}
	return b
}

// waitData waits until the partition holds a record at pos, the
// assignment changes or the loop must exit (false).
func (l *loop) waitData(pos int64) bool {
	ch, err := l.bus.notifyDelivery(l.topic, l.part, pos)
	if err != nil {
		return false
	}
	return l.waitFor(ch)
}

func (l *loop) commit(cursor int64) {
	if err := l.bus.log.CommitCursor(l.group.name, l.topic, l.part, cursor, false); err != nil && !errors.Is(err, wal.ErrClosed) {
		l.bus.cfg.logger.Error("cannot commit cursor", "group", l.group.name, "topic", l.topic, "partition", l.part, "error", err)
	}
}

// waitFor blocks until ch is closed, the assignment changes or the bus
// stops; it returns false when the bus stops.
func (l *loop) waitFor(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	case <-l.kick:
		return true
	case <-l.stop:
		return false
	}
}

// sleep waits d, waking early if the assignment changes; false when the
// bus stops. A kick left over from an earlier change does not cut it short.
func (l *loop) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	assigned := l.assigned.Load()
	for {
		select {
		case <-t.C:
			return true
		case <-l.kick:
			if l.assigned.Load() != assigned {
				return true
			}
		case <-l.stop:
			return false
		}
	}
}

type logger interface {
	Warn(msg string, args ...any)
	Error(msg string, args ...any)
}

// item is one thing a loop delivers: a message, a record whose stored
// bytes did not decode (Value then holds them raw), or a damaged stretch
// of the log [Offset, next) that nothing can read.
type item struct {
	*Message
	undecodable error
	damage      *wal.CorruptError
	next        int64 // for damage: the first offset past it
	// ctxBuf, when not nil, is room for the first handler call's context,
	// allocated with the message (decode); takeCtxBuf hands it out once.
	ctxBuf *deliveryContext
}

// takeCtxBuf returns the item's room for a handler context, once: a
// retry's call gets a context of its own, since the handler of the
// earlier call may still hold that one.
func (it *item) takeCtxBuf() *deliveryContext {
	b := it.ctxBuf
	it.ctxBuf = nil
	return b
}

// end is the offset after the item.
func (it *item) end() int64 {
	if it.damage != nil {
		return it.next
	}
	return it.Offset + 1
}

// decode turns an entry into the item to deliver, or false for an entry
// that is not a message (a Kafka control record). One that does not
// decode becomes a message holding the raw payload as its Value, marked
// so that deliver dead-letters it. The message, its first handler
// context and (for a frame whose key and value fit a room class) the
// bytes of Key and Value are one allocation: the handler owns the
// message, and the rest goes with it.
//
// For a group of read-only handlers (SubscribeReadOnly) and a frame whose
// bytes stay as they are (wal.Entry.Stable), Key and Value alias the log
// instead: the allocation is the message and context alone.
func (l *loop) decode(e *wal.Entry) (item, bool) {
	var d *decoded
	var room []byte
	var ok bool
	var err error
	switch {
	case l.readOnly && e.Stable && !e.Kafka:
		d = new(decoded)
		ok, err = l.bus.decodeEntryView(l.topic, l.part, e, &d.msg)
	case e.Kafka:
		d = new(decoded)
		ok, err = l.bus.decodeEntryInto(l.topic, l.part, e, &d.msg, nil)
	default:
		d, room = newDecoded(message.RecordDataLen(e.Payload))
		ok, err = l.bus.decodeEntryInto(l.topic, l.part, e, &d.msg, room)
	}
	if !ok && err == nil {
		return item{}, false // a Kafka control record: nothing to deliver
	}
	it := item{Message: &d.msg, ctxBuf: &d.ctx}
	if err != nil {
		d.msg = Message{Topic: l.topic, Partition: l.part, Offset: e.Offset, Value: bytes.Clone(e.Payload)}
		it.undecodable = err
	}
	return it, true
}

// decoded is a message and the context of its first handler call,
// allocated together.
type decoded struct {
	msg Message
	ctx deliveryContext
}

// decodedWith is a decoded with room for the bytes of its message's Key
// and Value. The room follows every pointer of decoded, so the garbage
// collector scans no more of it than of a decoded alone, and a message
// kept by its handler keeps its bytes as it would keep their own
// allocation.
type decodedWith[R any] struct {
	decoded
	room R
}

// decodedAlloc is what a decoded takes in Go's allocator besides its
// room: its size, and the 8-byte header that the allocator puts before
// every object of more than 512 bytes with pointers.
const decodedAlloc = int(unsafe.Sizeof(decoded{})) + 8

// newDecoded allocates a decoded with room for at least n bytes, from the
// smallest class that holds them. Each class fills a size class of Go's
// allocator (576 to 4,096 bytes), so the room costs no more than the
// allocator would round up to anyway (TestDecodeAllocatesOnce checks it);
// a message of a 256-byte value takes 768 bytes where its item, message
// and context and its bytes apart took 832 in two allocations. It returns no room for
// n < 0 (unknown) or n beyond the largest class: the decoder then
// allocates the bytes apart.
func newDecoded(n int) (*decoded, []byte) {
	switch {
	case n < 0:
		return new(decoded), nil
	case n <= 576-decodedAlloc:
		return withRoom[[576 - decodedAlloc]byte]()
	case n <= 640-decodedAlloc:
		return withRoom[[640 - decodedAlloc]byte]()
	case n <= 768-decodedAlloc:
		return withRoom[[768 - decodedAlloc]byte]()
	case n <= 896-decodedAlloc:
		return withRoom[[896 - decodedAlloc]byte]()
	case n <= 1024-decodedAlloc:
		return withRoom[[1024 - decodedAlloc]byte]()
	case n <= 1280-decodedAlloc:
		return withRoom[[1280 - decodedAlloc]byte]()
	case n <= 1536-decodedAlloc:
		return withRoom[[1536 - decodedAlloc]byte]()
	case n <= 2048-decodedAlloc:
		return withRoom[[2048 - decodedAlloc]byte]()
	case n <= 2688-decodedAlloc:
		return withRoom[[2688 - decodedAlloc]byte]()
	case n <= 3072-decodedAlloc:
		return withRoom[[3072 - decodedAlloc]byte]()
	case n <= 4096-decodedAlloc:
		return withRoom[[4096 - decodedAlloc]byte]()
	}
	return new(decoded), nil
}

// withRoom allocates a decodedWith[R] and returns its decoded and its
// room, R being a byte array.
func withRoom[R any]() (*decoded, []byte) {
	d := new(decodedWith[R])
	return &d.decoded, unsafe.Slice((*byte)(unsafe.Pointer(&d.room)), unsafe.Sizeof(d.room))
}

// damaged is the item for damage met reading from pos.
func (l *loop) damaged(pos int64, ce *wal.CorruptError) item {
	off := max64(ce.Offset, pos)
	return item{Message: &Message{Topic: l.topic, Partition: l.part, Offset: off},
		damage: ce, next: max64(ce.Next, off+1)}
}

// retryDelay is the delay before retry n (from 0): Base * 2^n scaled by
// a random factor in [0.5, 1.5), capped at Max.
func retryDelay(p RetryPolicy, n int) time.Duration {
	return backoff.Delay(p.Base, p.Max, n)
}
