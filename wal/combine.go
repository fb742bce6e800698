package wal

import (
	"sync"
	"sync/atomic"
)

// Combining appends: several appenders to one partition without handing
// its lock from goroutine to goroutine.
//
// One appender at a time holds the partition's combining token
// (partition.combining) and queues appends under p.mu: its own and every
// one pending. An Append (or AppendAsyncTo) that takes the free token
// queues its records under p.mu as before and then those of whoever
// pushed a request meanwhile. One that finds the token held pushes an
// appendReq onto p.pending (a lock-free stack) and waits on the request,
// not on p.mu: it spins on the request's state for a moment, then parks
// on the request's own channel. The holder queues the pending requests
// oldest first and, after unlocking p.mu, marks each done (waking it if
// parked); the appender reads its offsets from its records and returns
// without ever having taken p.mu. If requests arrived after the holder's
// last look, it hands the token to the newest of them, whose appender
// then queues its own and the rest; otherwise it frees the token and
// looks once more (an appender that pushed just then and found the token
// held must not be left waiting with nobody to queue it).
//
// Why: with 4 publishers on one partition of the memory bus and 2 cores,
// the appenders queued in Mutex.Lock, the mutex fell into starvation mode
// (a waiter over 1 ms), and from then on every Unlock handed the lock to
// the next waiter with a goroutine switch that inherits the time slice: a
// switch per publish, which starved the global run queue (the open-loop
// scheduler, readied by the poller) until sysmon's 10 ms preemption
// (notes5/harnesslat.md, mutex and sched profiles). Now at most one
// appender waits in p.mu.Lock (the token holder, behind a reader or the
// committer), and an append queued by the holder costs its appender no
// lock hand-off, and no park at all while it spins.
//
// The guarantees stay those of one critical section per append: a
// request's records get consecutive offsets in the order the holder
// queues it, with its dedup and retention steps, its closed/deleted check
// and (AppendAsyncTo) its back-pressure check and completion
// registration, all under p.mu as before. A pending request is always
// queued by the token's holder (or becomes it), so a Close or DeleteTopic
// that comes while it is pending ends it with ErrClosed or
// ErrUnknownTopic like any append that comes after.

// appendReq is an Append or AppendAsyncTo waiting in its partition's
// pending list for the token's holder to queue it.
type appendReq struct {
	next *appendReq // the request pushed before (p.pending is a stack)

	t     *topicLog
	topic string
	part  int32
	recs  []Record // offsets, partitions, Duplicate set by whoever queues it
	now   int64
	// c is the AppendAsyncTo's completion (nil for an Append): the
	// request is refused for room (full) instead of queued past the
	// back-pressure bound, and c registered as p's waiter under
	// PolicySync.
	c Completion

	// Results, written by whoever queues the request, before done.
	err        error
	end        int64 // the end of what p held after its records
	over       bool  // Append: p's tail over the back-pressure bound after them
	full       bool  // AppendAsyncTo: nothing queued, the tail is over the bound
	registered bool  // c is registered as p's waiter
	late       bool  // registered, and p stored up to end already

	state atomic.Int32  // reqWaiting, reqParked, reqDone or reqCombine
	wake  chan struct{} // buffer 1: tells a parked appender its state changed; made by await for each park
}

// States of an appendReq.
const (
	reqWaiting int32 = iota // pushed; its appender spins
	reqParked               // its appender waits on wake
	reqDone                 // queued (or refused): results set
	reqCombine              // handed the token, not queued: its appender queues it
)

// reqPool holds appendReqs: a request is shared with other goroutines
// (the holder writes its results), so it lives on the heap; the pool
// saves the allocation (and its channel) on every contended append.
//
// The wake channel is not pooled: each park makes its own. A channel made
// inside a testing/synctest bubble belongs to it, and an appender outside
// the bubble that got the request from the pool and waited on it would
// stop the process; a park already costs a goroutine switch, next to
// which the channel's allocation is small.
var reqPool = sync.Pool{New: func() any { return new(appendReq) }}

// queueReqLocked queues r in p under p.mu: the checks, dedup, offsets,
// the tail and retention of one append, without waking readers (the
// holder does that once for all it queued, queueReaders).
func (l *Log) queueReqLocked(p *partition, r *appendReq) {
	if err := l.appendableLocked(p, r.topic); err != nil {
		r.err = err
		return
	}
	if r.c != nil && p.tail.bytes > l.cfg.maxPendingBytes {
		// Back-pressure before queueing anything (as waitRoom).
		r.full, r.end = true, p.next
		return
	}
	r.end = l.framesLocked(r.t, p, r.part, r.recs, r.now)
	r.over = p.tail.bytes > l.cfg.maxPendingBytes
	if r.c != nil && l.cfg.policy == PolicySync && !dupElsewhere(r.recs, r.part) {
		// The common case: every record (and every duplicate's first
		// copy) is in p below end. Registered under the lock that
		// queued them, c cannot miss the commit that stores them.
		p.waiters = append(p.waiters, waiter{end: r.end, done: r.c})
		r.registered = true
		// Nothing of p below end waits for a commit (every record was a
		// duplicate of a stored one): no round of p's will answer c, so
		// the next round answers it as late.
		r.late = p.stored >= r.end
	}
}

// maxCombineRounds bounds how many times a holder takes the pending list
// again after queueing it: requests keep arriving while it queues, and
// the committer and the readers also wait for p.mu.
const maxCombineRounds = 4

// takePendingLocked queues every request pending in p, oldest first,
// taking the list again while more arrived (up to maxCombineRounds), and
// returns them as a list (oldest first) for releaseReqs once p.mu is
// unlocked.
func (l *Log) takePendingLocked(p *partition) *appendReq {
	var head, last *appendReq
	for range maxCombineRounds {
		if p.pending.Load() == nil {
			break // a load: most appends find nothing pending
		}
		top := p.pending.Swap(nil)
		if top == nil {
			break
		}
		// The stack holds the newest first: reverse it.
		var first *appendReq
		tailOf := top
		for top != nil {
			n := top.next
			top.next = first
			first = top
			top = n
		}
		for r := first; r != nil; r = r.next {
			l.queueReqLocked(p, r)
		}
		if head == nil {
			head = first
		} else {
			last.next = first
		}
		last = tailOf
	}
	return head
}

// releaseReqs marks each request of list done, waking its appender if it
// parked. A request may be reused by its appender as soon as it is done,
// so its next is read before (and wake is used only for a parked one,
// whose appender waits for it).
func releaseReqs(list *appendReq) {
	for r := list; r != nil; {
		n := r.next
		if r.state.Swap(reqDone) == reqParked {
			r.wake <- struct{}{}
		}
		r = n
	}
}

// queueReadersLocked takes, after appends to p, what they wake once p.mu
// is released (afterQueue): under a policy that shows queued records,
// the Notify channel and the watchers p's new end has passed. It returns
// them with how many records and bytes p's tail queues.
func (l *Log) queueReadersLocked(p *partition) (queued int64, pending int, ready []*watcher, notify chan struct{}) {
	queued = p.next - p.stored
	pending = p.tail.bytes
	if l.cfg.policy != PolicySync {
		notify = p.takeNotifyLocked()
		ready = p.takeWatchersLocked(p.next, false)
	}
	return queued, pending, ready, notify
}

// combineSession is the token holder's work: under p.mu it queues own
// (nil: none, its request is pending or done) and every pending request,
// then unlocks, releases them, gives the token up (leaveCombiner) and
// wakes the readers; again while leaveCombiner takes the token back.
func (l *Log) combineSession(p *partition, own *appendReq) {
	for {
		p.mu.Lock()
		if own != nil {
			l.queueReqLocked(p, own)
			own = nil
		}
		served := l.takePendingLocked(p)
		queued, pending, ready, notify := l.queueReadersLocked(p)
		p.mu.Unlock()
		releaseReqs(served)
		again := l.leaveCombiner(p)
		l.afterQueue(p, ready, notify, queued, pending)
		if !again {
			return
		}
	}
}

// leaveCombiner gives up p's token: to the newest pending request if any
// arrived since the session looked (its appender queues them all),
// otherwise back to free (freeToken, whose again it returns).
func (l *Log) leaveCombiner(p *partition) (again bool) {
	for {
		top := p.pending.Load()
		if top == nil {
			return l.freeToken(p)
		}
		// Only the holder takes from the list, so top stays the top
		// unless a push comes in between (then the CAS fails).
		if p.pending.CompareAndSwap(top, top.next) {
			top.next = nil
			if top.state.Swap(reqCombine) == reqParked {
				top.wake <- struct{}{}
			}
			return false
		}
	}
}

// freeToken frees p's token, then looks at the pending list once more
// and takes the token back (true: the caller runs another session) if
// an append pushed since the holder's last look: that appender tried the
// token after pushing and found it held, so nobody else would queue it.
func (l *Log) freeToken(p *partition) bool {
	p.combining.Store(0)
	return p.pending.Load() != nil && p.combining.CompareAndSwap(0, 1)
}

// spinTries is how many times an appender whose request is pending
// checks its state before it parks: a holder queues a few requests in a
// few microseconds, so the spin covers the usual wait without a park and
// a wake; a holder that waits for p.mu (behind the committer or a reader)
// or was descheduled costs the waiters a park each, never a lock hand-off.
const spinTries = 256

// enqueue queues the append own describes in p and returns with own's
// results set: at once if p's token is free (serving whatever is pending
// too), otherwise through a pooled request (await). own itself is never
// shared, so a caller may keep it on its stack.
func (l *Log) enqueue(p *partition, own *appendReq) {
	if p.combining.CompareAndSwap(0, 1) {
		l.combineSession(p, own)
		return
	}
	r := reqPool.Get().(*appendReq)
	r.t, r.topic, r.part, r.recs, r.now, r.c = own.t, own.topic, own.part, own.recs, own.now, own.c
	for {
		top := p.pending.Load()
		r.next = top
		if p.pending.CompareAndSwap(top, r) {
			break
		}
	}
	l.await(p, r)
	own.err, own.end, own.over, own.full, own.registered, own.late = r.err, r.end, r.over, r.full, r.registered, r.late
	r.reset()
	reqPool.Put(r)
}

// await returns once r, pushed onto p's pending list, is queued: by the
// token's holder, or by its own appender when the token is free or handed
// to it.
func (l *Log) await(p *partition, r *appendReq) {
	if p.combining.CompareAndSwap(0, 1) {
		// The holder left after the first try, perhaps before the push
		// (its second look too): r is pending, and the session takes it.
		// (Had an earlier holder taken it, it released it before freeing
		// the token: r is done either way.)
		l.combineSession(p, nil)
		return
	}
	for range spinTries {
		if s := r.state.Load(); s == reqDone {
			return
		} else if s == reqCombine {
			l.combineSession(p, r)
			return
		}
	}
	// The holder reads wake only after it sees reqParked, so the store
	// comes first.
	r.wake = make(chan struct{}, 1)
	if r.state.CompareAndSwap(reqWaiting, reqParked) {
		<-r.wake
	}
	if r.state.Load() == reqCombine {
		l.combineSession(p, r)
	}
}

// reset clears r for reuse, dropping its references.
func (r *appendReq) reset() {
	r.next, r.t, r.topic, r.recs, r.c, r.err, r.wake = nil, nil, "", nil, nil, nil, nil
	r.part, r.now, r.end = 0, 0, 0
	r.over, r.full, r.registered, r.late = false, false, false, false
	r.state.Store(reqWaiting)
}
