package wal

import (
	"context"
	"fmt"
	"sync/atomic"
)

// Record is one record handed to Append. Append sets Offset and
// Partition; it copies Payload before it returns, so the caller may reuse
// the buffer.
type Record struct {
	// Timestamp is the record's time in Unix nanoseconds; time reads and
	// retention by age use it.
	Timestamp int64
	// MessageID identifies the record for dedup; all zeros means none.
	MessageID [16]byte
	// FreshID says MessageID was generated for this record just now, so
	// no earlier record can carry it: Append remembers it for dedup
	// without looking it up.
	FreshID bool
	// CorrelationID is indexed for correlation queries; zeros means none.
	CorrelationID [16]byte
	// Payload is the opaque record body.
	Payload []byte
	// AppendTime, when not zero, is the caller's reading of the log's
	// clock (WithClock) for this append, in Unix nanoseconds, so that the
	// log need not read the clock again (a publish reads it once); dedup
	// measures its window on it. Append uses the first record's.
	AppendTime int64

	// Partition and Offset are set by Append: where the record is, or for
	// a duplicate, where the first copy is.
	Partition int32
	Offset    int64
	// Duplicate is set by Append when MessageID was appended to the topic
	// within the dedup window; the record was not stored again.
	Duplicate bool
}

// Append adds recs to a partition of topic with consecutive offsets and
// returns once they are durable by the log's policy: committed (fsync'd
// on a durable store) under PolicySync, queued otherwise. Records whose
// MessageID the topic saw within the dedup window are not stored again:
// they get Duplicate and the first copy's position.
//
// It returns ErrUnknownTopic, ErrInvalidPartition, ErrRecordTooLarge,
// ErrClosed, the context's error while waiting, or an error wrapping
// ErrCommit when the store failed (the records stay queued and a later
// commit may still store them).
func (l *Log) Append(ctx context.Context, topic string, part int32, recs []Record) error {
	// The generation is read before queueing: the commit that takes
	// these records is then, most often, the one waited for. Read after,
	// it could be the round after (the committer may have swapped
	// generations but not yet taken the tails), a second commit for one
	// Append (a live subscriber's cursor makes that round a real one).
	//
	// Only under PolicySync: otherwise an Append waits only for
	// back-pressure, which takes whatever round comes, and reading the
	// generation took genMu (which the committer takes every round) on
	// every append of a memory bus.
	var g *commitGen
	if l.cfg.policy == PolicySync {
		g = l.currentGen()
	}
	t, p, end, over, err := l.queue(topic, part, recs)
	if err != nil {
		return err
	}
	if l.cfg.policy != PolicySync && !over {
		return nil
	}
	if l.cfg.policy == PolicySync {
		l.co.appended()
	}
	// queue kicked the committer after queueing (under PolicySync, and
	// for back-pressure), so under PolicySync no further kick is needed:
	// one would start a round after the one that stores these records.
	// Back-pressure under another policy reads the generation only now,
	// which may be that of the round after the one taking these records,
	// so it kicks for that round to come.
	if err := l.waitStoredGen(ctx, p, end, g, g == nil); err != nil {
		return err
	}
	if l.cfg.policy != PolicySync {
		return nil
	}
	// A duplicate is durable only once its first copy is: that copy may
	// sit, not yet committed, in another partition (a retry after a
	// failed commit, sent elsewhere by round-robin).
	for _, r := range recs {
		if r.Duplicate && r.Partition != part {
			if err := l.waitStored(ctx, t.parts[r.Partition], r.Offset+1); err != nil {
				return err
			}
		}
	}
	return nil
}

// AppendAsync queues recs as Append does and returns without waiting for
// the disk: done is called once they (and, for duplicates, their first
// copies) are durable by the log's policy, with nil, or with the error of
// a commit that failed to store them (the records stay queued and may
// still be stored, as with Append), or with ErrClosed (Close while they
// were queued) or ErrUnknownTopic (the topic deleted while they were
// queued). Offsets and partitions are set in recs before done is called.
// done runs on the committer's goroutine, before AppendAsync returns, or
// on the goroutine of the Close or DeleteTopic that ends it, and must not
// block or call the Log.
//
// It blocks only for back-pressure, before queueing anything: when it
// returns an error, nothing was queued and done is never called.
func (l *Log) AppendAsync(ctx context.Context, topic string, part int32, recs []Record, done func(error)) error {
	return l.AppendAsyncTo(ctx, topic, part, recs, doneFunc(done))
}

// A Completion is told that the records of an AppendAsyncTo call are
// durable (err nil), that a commit failed to store them, or that Close
// (ErrClosed) or DeleteTopic (ErrUnknownTopic) ended them while queued.
// AppendDone is called exactly once per call that returned nil, on the
// committer's goroutine, before AppendAsyncTo returns, or on the
// goroutine of that Close or DeleteTopic; it must not block or call the
// Log. A caller that keeps its per-append state in a struct
// implementing Completion spends no allocation on a callback.
type Completion interface {
	AppendDone(err error)
}

// doneFunc is a callback func as a Completion.
type doneFunc func(error)

// AppendDone calls f.
func (f doneFunc) AppendDone(err error) { f(err) }

// AppendAsyncTo is AppendAsync telling c instead of calling a func. The
// records are queued and c registered in one critical section of the
// partition (the back-pressure check included), its own or that of the
// concurrent appender that queues it (combine.go), so c is registered
// before any commit can take the records.
func (l *Log) AppendAsyncTo(ctx context.Context, topic string, part int32, recs []Record, c Completion) error {
	t, p, err := l.appendTarget(topic, part, recs)
	if err != nil {
		return err
	}
	for {
		r := appendReq{t: t, topic: topic, part: part, recs: recs, now: appendNow(l, recs), c: c}
		l.enqueue(p, &r)
		if r.err != nil {
			return r.err
		}
		if r.full {
			// Back-pressure, before queueing anything (as waitRoom).
			if err := l.waitStored(ctx, p, r.end); err != nil {
				return err
			}
			continue
		}
		if r.late {
			// After the kick of the append that queued c: the round that
			// answers it must start after it is in l.late.
			l.addLate(p)
			l.kickCommitter()
		}
		switch {
		case l.cfg.policy != PolicySync:
			c.AppendDone(nil)
		case !r.registered:
			l.whenAllStored(t, p, r.end, recs, part, c)
		}
		return nil
	}
}

// dupElsewhere says whether a duplicate among recs has its first copy in
// a partition other than part.
func dupElsewhere(recs []Record, part int32) bool {
	for i := range recs {
		if recs[i].Duplicate && recs[i].Partition != part {
			return true
		}
	}
	return false
}

// whenAllStored tells c once offsets below end of p and every duplicate's
// first copy (in other partitions of t) are stored, with the first error.
func (l *Log) whenAllStored(t *topicLog, p *partition, end int64, recs []Record, part int32, c Completion) {
	type target struct {
		p   *partition
		end int64
	}
	targets := []target{{p, end}}
	for _, r := range recs {
		if r.Duplicate && r.Partition != part {
			targets = append(targets, target{t.parts[r.Partition], r.Offset + 1})
		}
	}
	var left atomic.Int32
	left.Store(int32(len(targets)))
	var first atomic.Pointer[error]
	for _, tg := range targets {
		l.whenStored(tg.p, tg.end, func(err error) {
			if err != nil {
				first.CompareAndSwap(nil, &err)
			}
			if left.Add(-1) == 0 {
				if e := first.Load(); e != nil {
					c.AppendDone(*e)
				} else {
					c.AppendDone(nil)
				}
			}
		})
	}
}

// whenStored calls fn once every offset below end of p is committed: at
// once if they are, otherwise from the committer.
func (l *Log) whenStored(p *partition, end int64, fn func(error)) {
	p.mu.Lock()
	// Even when the records are stored already, the callback is left to
	// the committer: it may be calling the callbacks of earlier records
	// of this partition right now, and answering here could overtake
	// them (acknowledgements must come in offset order).
	if p.deleted {
		p.mu.Unlock()
		fn(fmt.Errorf("wal: append to %s/%d: %w (deleted)", p.topic, p.id, ErrUnknownTopic))
		return
	}
	p.waiters = append(p.waiters, waiter{end: end, done: doneFunc(fn)})
	late := p.stored >= end
	p.mu.Unlock()
	if late {
		l.addLate(p)
	}
	l.kickCommitter()
}

// addLate has the committer's next round answer p's waiters whose records
// are stored already (answerLate); the caller kicks it.
func (l *Log) addLate(p *partition) {
	l.lateMu.Lock()
	l.late = append(l.late, p)
	l.lateMu.Unlock()
}

// waitRoom waits while the partition has more queued than the log allows
// (back-pressure).
func (l *Log) waitRoom(ctx context.Context, topic string, part int32) error {
	_, p, err := l.partition(topic, part)
	if err != nil {
		return err
	}
	for {
		p.mu.Lock()
		over, end := p.tail.bytes > l.cfg.maxPendingBytes, p.next
		p.mu.Unlock()
		if !over {
			return nil
		}
		if err := l.waitStored(ctx, p, end); err != nil {
			return err
		}
	}
}

// queue adds recs to the partition's tail (enqueue). It returns the end
// of what the partition holds and whether the tail is over the
// back-pressure bound (the caller should wait for the committer).
func (l *Log) queue(topic string, part int32, recs []Record) (*topicLog, *partition, int64, bool, error) {
	t, p, err := l.appendTarget(topic, part, recs)
	if err != nil {
		return nil, nil, 0, false, err
	}
	r := appendReq{t: t, topic: topic, part: part, recs: recs, now: appendNow(l, recs)}
	l.enqueue(p, &r)
	if r.err != nil {
		return nil, nil, 0, false, r.err
	}
	return t, p, r.end, r.over, nil
}

// afterQueue finishes an append once p.mu is released: it wakes the
// readers queueFramesLocked named, allocates the tail's spare array if
// the one in use is nearly full, and kicks the committer when shouldKick
// says so. It returns whether the tail is over the back-pressure bound.
func (l *Log) afterQueue(p *partition, ready []*watcher, notify chan struct{}, queued int64, pending int) (over bool) {
	wake(notify)
	fireAll(ready)
	p.fillTailSpare(true)
	over = pending > l.cfg.maxPendingBytes
	if l.shouldKick(over, queued, pending) {
		l.kickCommitter()
	}
	return over
}

// appendTarget finds the partition an Append of recs goes to and checks
// what needs no lock: the log open, the topic's format, record sizes.
func (l *Log) appendTarget(topic string, part int32, recs []Record) (*topicLog, *partition, error) {
	if l.closed.Load() {
		return nil, nil, ErrClosed
	}
	t, p, err := l.partition(topic, part)
	if err != nil {
		return nil, nil, err
	}
	if p.format != FormatFrames {
		return nil, nil, fmt.Errorf("%w: Append to %s/%d, a %s topic (use AppendBatch)", ErrWrongFormat, topic, part, p.format)
	}
	for i := range recs {
		if len(recs[i].Payload) > l.cfg.maxRecordBytes {
			return nil, nil, fmt.Errorf("%w: %d bytes in %s/%d, the limit is %d",
				ErrRecordTooLarge, len(recs[i].Payload), topic, part, l.cfg.maxRecordBytes)
		}
	}
	return t, p, nil
}

// appendNow is the append time of recs: the caller's reading of the clock
// (Record.AppendTime) or, without one, the log's.
func appendNow(l *Log, recs []Record) int64 {
	if len(recs) > 0 && recs[0].AppendTime != 0 {
		return recs[0].AppendTime
	}
	return l.cfg.now().UnixNano()
}

// appendableLocked checks, under p.mu, that the log is open and p not
// deleted: a Close or DeleteTopic that began before is seen here.
func (l *Log) appendableLocked(p *partition, topic string) error {
	if l.closed.Load() {
		return ErrClosed
	}
	if p.deleted {
		return fmt.Errorf("%w: %s (deleted)", ErrUnknownTopic, topic)
	}
	return nil
}

// queueFramesLocked is one append under p.mu, for AppendAtomic
// (atomic.go): framesLocked, then what to wake (queueReadersLocked). It
// returns the end of what p holds, how many records and bytes its tail
// queues, and the readers to wake (after p.mu is released: the watchers
// with fireAll, the Notify channel with wake) under a policy that shows
// queued records.
func (l *Log) queueFramesLocked(t *topicLog, p *partition, part int32, recs []Record, now int64) (end, queued int64, pending int, ready []*watcher, notify chan struct{}) {
	end = l.framesLocked(t, p, part, recs, now)
	queued, pending, ready, notify = l.queueReadersLocked(p)
	return end, queued, pending, ready, notify
}

// framesLocked queues recs in p's tail under p.mu: dedup, offsets, the
// frames, retention by count. It returns the end of what p holds.
func (l *Log) framesLocked(t *topicLog, p *partition, part int32, recs []Record, now int64) int64 {
	for i := range recs {
		r := &recs[i]
		if l.cfg.dedupWindow > 0 && r.MessageID != ([16]byte{}) {
			pos := position{part: part, offset: p.next}
			if r.FreshID {
				t.dedup.add(r.MessageID, pos, now, l.cfg.dedupMax)
			} else if first, dup := t.dedup.seenOrAdd(r.MessageID, pos, now, l.cfg.dedupWindow, l.cfg.dedupMax); dup {
				r.Partition, r.Offset, r.Duplicate = first.part, first.offset, true
				continue
			}
		}
		r.Partition, r.Offset, r.Duplicate = part, p.next, false
		p.tail.appendFrame(l.limits(p), r, p.next)
		p.next++
	}
	l.retainCountLocked(p)
	return p.next
}

// shouldKick says whether an append that left queued records and pending
// bytes in its partition's tail wakes the committer now. Under PolicySync
// every append does (its caller waits). Under PolicyInterval only
// back-pressure and a large tail do: the store fsyncs every commit (see the package doc,
// Durability), so the log commits once per interval instead of per chunk.
// Under PolicyNone full chunks are committed as they fill.
func (l *Log) shouldKick(over bool, queued int64, pending int) bool {
	switch l.cfg.policy {
	case PolicySync:
		return true
	case PolicyInterval:
		// Also every 16 chunks' worth, which bounds the memory a busy
		// partition holds between ticks at one fsync per MiB by default.
		return over || pending >= 16*l.cfg.chunkBytes
	}
	return over || queued >= int64(l.cfg.chunkRecords) || pending >= l.cfg.chunkBytes
}

// limits returns the chunk bounds of p's tail.
//
// A busy tail keeps a spare array on every store, so that its next large
// array is allocated by the committer after a round, not by an appender
// under p.mu. On a store.Volatile store the arrays become the stored
// values, so the spare is memory the partition takes anyway. On another
// store a committed array is garbage and the spare is one more array
// (4 chunks' worth, 256 KiB by default) of a partition that reached the
// largest arrays (about 256 KiB appended without an idle interval in
// between), dropped once it is idle for an interval (releaseIdle), and
// at most maxDiskSpares of them are held at once across the log: the
// price of taking the allocation (zeroing, fresh pages, a GC assist) off
// the publisher's goroutine, about 5% of a PublishAsync caller's time on
// bbolt.
func (l *Log) limits(p *partition) limits {
	return limits{format: p.format, records: l.cfg.chunkRecords, bytes: l.cfg.chunkBytes, spare: true}
}

// retainCountLocked moves p's start so that it holds at most
// MaxMessages records, but never past its retention floor (records a
// HoldRetention group has not consumed).
func (l *Log) retainCountLocked(p *partition) {
	limit := p.retention.MaxMessages
	if limit <= 0 || p.next-p.start <= limit {
		return
	}
	if s := min(p.next-limit, p.floor.Load()); s > p.start {
		p.evicting += s - p.start
		p.start = s
		p.startDirty = true
	}
}

func (l *Log) kickCommitter() {
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

// currentGen returns the generation the next commit round resolves.
func (l *Log) currentGen() *commitGen {
	l.genMu.Lock()
	defer l.genMu.Unlock()
	return l.gen
}

// waitStored waits until every offset below end of p is committed.
func (l *Log) waitStored(ctx context.Context, p *partition, end int64) error {
	return l.waitStoredGen(ctx, p, end, nil, true)
}

// waitStoredGen is waitStored that first waits on g, a generation read
// before the records were queued (nil: the current one), and kicks the
// committer only if kick (the caller did not just kick it).
func (l *Log) waitStoredGen(ctx context.Context, p *partition, end int64, g *commitGen, kick bool) error {
	for {
		if g == nil {
			g = l.currentGen()
		}
		p.mu.Lock()
		stored, deleted := p.stored, p.deleted
		p.mu.Unlock()
		if stored >= end {
			return nil
		}
		if deleted {
			return fmt.Errorf("wal: append to %s/%d: %w (deleted)", p.topic, p.id, ErrUnknownTopic)
		}
		if kick {
			l.kickCommitter()
		}
		select {
		case <-g.done:
			p.mu.Lock()
			stored = p.stored
			p.mu.Unlock()
			if g.err != nil && stored < end {
				return fmt.Errorf("wal: append to %s/%d: %w", p.topic, p.id, g.err)
			}
		case <-ctx.Done():
			return fmt.Errorf("wal: append to %s/%d: %w", p.topic, p.id, ctx.Err())
		case <-l.done:
			p.mu.Lock()
			stored = p.stored
			p.mu.Unlock()
			if stored >= end {
				return nil
			}
			return ErrClosed
		}
		g = nil
	}
}

// Sync commits everything queued so far and waits for it (and, under
// PolicyInterval, syncs the store).
func (l *Log) Sync(ctx context.Context) error {
	if l.closed.Load() {
		return ErrClosed
	}
	l.genMu.Lock()
	g := l.gen
	l.genMu.Unlock()
	l.kickCommitter()
	select {
	case <-g.done:
		if g.err != nil {
			return fmt.Errorf("wal: sync: %w", g.err)
		}
	case <-ctx.Done():
		return fmt.Errorf("wal: sync: %w", ctx.Err())
	case <-l.done:
		return ErrClosed
	}
	return l.syncStore()
}
