package wal

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/onexbus/onexbus/store"
)

// Bucket and key layout in the store:
//
//	meta           topic/<name> -> TopicConfig; start/<topic>/<part> -> log start offset
//	cursors        <group> 0x00 <topic> 0x00 <part u32> -> next offset
//	d/<topic>/<p>  first offset u64 -> chunk of frames
//	i/<topic>/<p>  first offset u64 -> chunkMeta
var (
	bucketMeta    = []byte("meta")
	bucketCursors = []byte("cursors")
)

// Log is a partitioned, append-only log on a store.Store. All methods are
// safe for concurrent use.
//
// Lock order: Log.closeMu, then Log.mu, then partition.mu, then
// topicLog.dedup.mu, then Log.genMu; Log.curMu and Log.holdMu are never
// held with another (see the package doc).
type Log struct {
	lateMu sync.Mutex   // protects late; taken with no other lock held
	late   []*partition // partitions with callbacks registered after their records were stored
	st     store.Store
	cfg    config
	// spares bounds the tails' spare arrays held at once (tail.go); nil
	// on a store.Volatile store, whose arrays are its stored values.
	spares *spareBudget

	mu       sync.RWMutex         // protects topics, parts and deleting
	topics   map[string]*topicLog // by name
	deleting map[string]bool      // names DeleteTopic is removing from the store
	parts    []*partition         // every partition, for the committer

	// roundMu is held by the committer while it takes a round's group
	// state and partition tails (commit.go), and by a writer whose
	// records on several partitions, and cursor changes, must land in
	// one store transaction while it queues them (transaction markers,
	// txn.go; atomic appends): a round then takes all of them or none.
	// Taken before Log.mu, partition.mu and curMu, with no other lock held.
	roundMu sync.Mutex

	genMu sync.Mutex // protects gen
	gen   *commitGen // the commit that will pick up what is queued now

	clusterID string // persisted at the first Open of the store

	holdMu sync.Mutex       // protects holds and holdsSeq
	holds  []*retentionHold // HoldRetentionOf calls in force
	// holdsSeq numbers the looks at holds (heldGroups), so that a floor
	// computed from an older look never replaces a newer one.
	holdsSeq uint64
	// nholds is len(holds), for readers that hold another lock.
	nholds atomic.Int32

	curMu            sync.Mutex // protects the group state below (state.go)
	cursors          map[cursorKey]CursorValue
	dirtyCursor      map[cursorKey]cursorChange
	attempts         map[attemptKey]*Attempt
	dirtyAttempts    map[attemptKey]*Attempt
	inflight         map[cursorKey]int64
	dirtyInFlight    map[cursorKey]int64
	attemptCount     atomic.Int64 // len(attempts), read without the lock
	marks            handledMarks // atomic ops' handled marks (atomic_marks.go)
	stateVersion     uint64       // bumped by every change
	committedVersion uint64       // the newest version a commit stored

	durable   durableSyncs // store syncs shared by durable state changes (state.go)
	producers producers    // producer id allocation and expiry (producerid.go)
	txnIDs    txnRegistry  // Kafka transactional ids (txn_registry.go)

	kick chan struct{} // buffer 1: wakes the committer
	co   coalescer     // the committer's wait for synchronous appenders (coalesce.go)
	// extendBuf is the committer's scratch for extended chunks (extend.go).
	extendBuf []byte
	// runBuf is the committer's scratch for a partition's trailing run
	// (extend.go trailingRun), reused by every commit.
	runBuf   []runChunk
	stop     chan struct{} // closed by Close
	done     chan struct{} // closed when the committer exits
	closed   atomic.Bool
	closeErr error // the final commit's, set by the committer before done closes
	// storeStopped holds the first commit error that wraps
	// store.ErrCommitFailed (the store refuses writes until reopened):
	// it is logged once, not at every later commit, and StoreStopped
	// returns it.
	storeStopped atomic.Pointer[error]
	closeMu      sync.Mutex // serialises Close; held before any other lock
	closeRes     error      // what Close returns
}

type topicLog struct {
	name  string
	cfg   TopicConfig
	id    [16]byte // persisted random UUID (Kafka's topic id)
	parts []*partition
	dedup dedup
}

type partition struct {
	topic  string
	id     int32
	format Format // the topic's, fixed at creation
	data   []byte // bucket names
	index  []byte
	startK []byte // key of the start offset in bucketMeta

	// floor is the lowest offset a HoldRetention group still needs:
	// retention never moves start past it. MaxInt64 when nothing holds.
	// The committer refreshes it; it may lag (be lower), never lead.
	floor atomic.Int64
	// floorMu orders the stores of floor (refreshFloor); floorSeq is the
	// Log.holdsSeq of the look floor was computed from. floorMu is never
	// held with another lock.
	floorMu  sync.Mutex
	floorSeq uint64

	// pending is a stack of appends waiting for the combiner to queue
	// them, and combining (0 or 1) the token of the one appender that
	// queues appends in this partition (combine.go); both lock-free.
	pending   atomic.Pointer[appendReq]
	combining atomic.Int32

	mu         sync.Mutex // protects the fields below
	retention  Retention  // the topic's, copied here so Append needs no other lock
	next       int64      // next offset to assign
	start      int64      // first readable offset (retention)
	stored     int64      // offsets below are committed to the store
	tail       tail       // frames of offsets [stored, next)
	startDirty bool       // start changed since the last commit
	evicting   int64      // records retention dropped by count since the last commit took them (for the Observer)
	bytes      int64      // bytes of the stored chunks
	notify     chan struct{}
	waiters    []waiter     // AppendAsync callers under PolicySync
	watchers   []watchEntry // Watch calls waiting on this partition
	deleted    bool         // DeleteTopic removed it

	mark appendMark // newest append-time mark (dedup.go); owned by the committer
	// newest is the first offset of the newest stored chunk, the one a
	// commit may extend (extend.go), or -1; owned by the committer, set
	// by recover before it starts. A hint: the commit checks the chunk
	// in its transaction before extending it.
	newest int64

	prod producerTable // idempotent producers' windows (producer.go); under mu
}

// waiter is an AppendAsync caller waiting for its records to be stored.
type waiter struct {
	end  int64      // the offset after its last record
	done Completion // told once offsets below end are stored
}

// takeWaitersLocked removes the waiters whose records end at or below end.
// Waiters are not sorted (a duplicate waits on its first copy's
// partition), so this filters them all; there are as many as async
// appends in flight.
func (p *partition) takeWaitersLocked(end int64) []waiter {
	var ready []waiter
	kept := p.waiters[:0]
	for _, w := range p.waiters {
		if w.end <= end {
			ready = append(ready, w)
		} else {
			kept = append(kept, w)
		}
	}
	for i := len(kept); i < len(p.waiters); i++ {
		p.waiters[i] = waiter{} // let the callbacks go
	}
	p.waiters = kept
	if len(p.waiters) == 0 {
		p.waiters = nil
	}
	return ready
}

type commitGen struct {
	done chan struct{}
	err  error
}

type cursorKey struct {
	group, topic string
	part         int32
}

// Open opens the log on st, recovering its state: offsets, retention
// bounds, dedup ids of the window. The caller keeps ownership of st and
// closes it after Close.
func Open(st store.Store, opts ...Option) (*Log, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	l := &Log{
		st:            st,
		cfg:           cfg,
		topics:        make(map[string]*topicLog),
		gen:           &commitGen{done: make(chan struct{})},
		cursors:       make(map[cursorKey]CursorValue),
		dirtyCursor:   make(map[cursorKey]cursorChange),
		attempts:      make(map[attemptKey]*Attempt),
		dirtyAttempts: make(map[attemptKey]*Attempt),
		inflight:      make(map[cursorKey]int64),
		dirtyInFlight: make(map[cursorKey]int64),
		kick:          make(chan struct{}, 1),
		stop:          make(chan struct{}),
		done:          make(chan struct{}),
	}
	if !l.volatileStore() {
		l.spares = &spareBudget{max: maxDiskSpares}
	}
	l.co.init(l.cfg.commitWait)
	if err := l.recover(); err != nil {
		return nil, err
	}
	go l.commitLoop()
	if err := l.abortOpenTransactions(); err != nil {
		return nil, errors.Join(err, l.Close(context.Background()))
	}
	return l, nil
}

func dataBucket(topic string, part int32) []byte {
	return []byte("d/" + topic + "/" + strconv.Itoa(int(part)))
}

func indexBucket(topic string, part int32) []byte {
	return []byte("i/" + topic + "/" + strconv.Itoa(int(part)))
}

func newPartition(topic string, id int32, format Format) *partition {
	p := &partition{
		topic:  topic,
		id:     id,
		format: format,
		data:   dataBucket(topic, id),
		index:  indexBucket(topic, id),
		startK: []byte("start/" + topic + "/" + strconv.Itoa(int(id))),
		mark:   noMark,
		newest: -1,
	}
	p.floor.Store(math.MaxInt64)
	return p
}

// Topic returns the configuration of a topic and whether it exists.
func (l *Log) Topic(name string) (TopicConfig, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	t := l.topics[name]
	if t == nil {
		return TopicConfig{}, false
	}
	return t.cfg, true
}

// StoreStopped returns the error with which the store stopped writes
// (it wraps store.ErrCommitFailed: a commit failed with an I/O error, and
// nothing more is stored until the store is reopened), or nil while
// commits are possible.
func (l *Log) StoreStopped() error {
	if p := l.storeStopped.Load(); p != nil {
		return *p
	}
	return nil
}

// Topics returns the names of every topic in ascending order.
func (l *Log) Topics() []string {
	l.mu.RLock()
	names := make([]string, 0, len(l.topics))
	for n := range l.topics {
		names = append(names, n)
	}
	l.mu.RUnlock()
	slices.Sort(names)
	return names
}

func (l *Log) topic(name string) (*topicLog, error) {
	l.mu.RLock()
	t := l.topics[name]
	l.mu.RUnlock()
	if t == nil {
		return nil, fmt.Errorf("%w: %s", ErrUnknownTopic, name)
	}
	return t, nil
}

// partition finds topic's partition part. One read lock covers the
// topic's lookup and its partition list: every append and every delivery
// read comes here, from the publisher's and the reader's goroutines, and
// each lock pair is two atomic adds on l.mu's cache line, which the two
// cores hand back and forth.
func (l *Log) partition(topic string, part int32) (*topicLog, *partition, error) {
	l.mu.RLock()
	t := l.topics[topic]
	var parts []*partition
	if t != nil {
		parts = t.parts
	}
	l.mu.RUnlock()
	if t == nil {
		return nil, nil, fmt.Errorf("%w: %s", ErrUnknownTopic, topic)
	}
	if part < 0 || int(part) >= len(parts) {
		return nil, nil, fmt.Errorf("%w: %s/%d (topic has %d)", ErrInvalidPartition, topic, part, len(parts))
	}
	return t, parts[part], nil
}

// Offsets returns the first readable offset of a partition and its end:
// the offset the next record will get that readers can see. An unknown
// topic has both 0 and no error, as in Kafka's list-offsets for a topic
// not yet written; an invalid partition of a known topic is an error.
func (l *Log) Offsets(topic string, part int32) (start, end int64, err error) {
	_, p, err := l.partition(topic, part)
	if errors.Is(err, ErrUnknownTopic) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	end = l.visibleLocked(p)
	// Under PolicySync, count retention may move start past records not
	// yet committed; readers never see beyond end.
	return min(p.start, end), end, nil
}

// visibleLocked is the end of what readers may see: committed records
// under PolicySync, every appended record otherwise.
func (l *Log) visibleLocked(p *partition) int64 {
	if l.cfg.policy == PolicySync {
		return p.stored
	}
	return p.next
}

// Notify returns a channel that is closed once the partition holds a
// visible record at offset after or beyond (or the log closes). It is
// how readers wait for new records without polling.
func (l *Log) Notify(topic string, part int32, after int64) (<-chan struct{}, error) {
	_, p, err := l.partition(topic, part)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if l.visibleLocked(p) > after || l.closed.Load() {
		return closedChan, nil
	}
	if p.notify == nil {
		p.notify = make(chan struct{})
	}
	return p.notify, nil
}

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// wakeLocked releases readers waiting in Notify.
func (p *partition) wakeLocked() {
	if p.notify != nil {
		close(p.notify)
		p.notify = nil
	}
}

// takeNotifyLocked is wakeLocked for a caller that closes the channel
// itself (wake) once p.mu is released: closing it wakes the waiting
// reader, which on an idle core means a syscall to start a thread, too
// long to hold the lock every appender and the reader take. A reader
// that asks for a channel in between sees the new end and does not wait.
func (p *partition) takeNotifyLocked() chan struct{} {
	ch := p.notify
	p.notify = nil
	return ch
}

// wake closes a channel takeNotifyLocked returned; nil is none.
func wake(ch chan struct{}) {
	if ch != nil {
		close(ch)
	}
}

// Close commits what is queued, stops the committer and wakes every
// waiter. It does not close the store. It is idempotent and safe to call
// concurrently; every call returns the first call's result.
func (l *Log) Close(ctx context.Context) error {
	l.closeMu.Lock()
	defer l.closeMu.Unlock()
	if l.closed.Swap(true) {
		return l.closeRes
	}
	close(l.stop)
	select {
	case <-l.done:
	case <-ctx.Done():
		l.closeRes = fmt.Errorf("wal: close: %w", ctx.Err())
		return l.closeRes
	}
	var watchers []*watcher
	l.mu.RLock()
	for _, p := range l.parts {
		p.mu.Lock()
		p.wakeLocked()
		// Whoever still waits was not stored by the final commit.
		left := p.takeWaitersLocked(math.MaxInt64)
		watchers = append(watchers, p.takeWatchersLocked(0, true)...)
		p.mu.Unlock()
		for _, w := range left {
			w.done.AppendDone(ErrClosed)
		}
	}
	l.mu.RUnlock()
	fireAll(watchers)
	if l.closeErr != nil {
		l.closeRes = fmt.Errorf("wal: close: final commit: %w", l.closeErr)
	}
	return l.closeRes
}
