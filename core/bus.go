package core

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/onexbus/onexbus/dlq"
	"github.com/onexbus/onexbus/store"
	"github.com/onexbus/onexbus/store/bolt"
	"github.com/onexbus/onexbus/wal"
)

// Bus is the event bus: a durable, partitioned log with consumer groups
// delivering from it. All methods are safe for concurrent use.
//
// Lock order: Bus.mu, then Subscription.mu; the log's locks are taken
// after both. Groups and their loops are guarded by Bus.mu.
type Bus struct {
	cfg   config
	hooks hooks // read-only after New
	log   *wal.Log
	dlq   *dlq.Queue
	gates gates
	pubv  validators // content validators (validate.go)

	topics sync.Map // name -> *topicState; written under mu once New returns (storeTopic, deleteTopic)
	// lastTopic is the state topic found last and topicsGen counts the
	// changes of topics: see topic.
	lastTopic atomic.Pointer[topicState]
	topicsGen atomic.Uint64

	mu     sync.Mutex        // protects groups, subs and claims
	groups map[string]*group // by name
	subs   int               // live subscriptions
	claims map[string]int    // Kafka-protocol claims on group names (groupclaim.go)

	stopping    chan struct{} // closed when Close begins: loops finish their message and exit
	handlerCtx  context.Context
	cancelCalls context.CancelFunc // cancels handlers when Close's context ends
	loops       sync.WaitGroup

	// handlerGoroutines maps the id of each goroutine that calls handlers
	// to its *handlerSlot (see inhandler.go).
	handlerGoroutines sync.Map
	handlerExits      atomic.Int64 // handler calls ended by runtime.Goexit
	damage            damageLog    // damaged stretches of the log met by delivery

	closed    atomic.Bool
	closeOnce sync.Once
	closeDone chan struct{}
	closeErr  error
}

// topicState is what Publish needs of a topic without a lock.
type topicState struct {
	name       string
	partitions int32
	rr         atomic.Uint32 // round-robin for messages without a key
	format     wal.Format    // how its records are stored (kafkarecord.go)
	id         [16]byte      // the log's topic id, for derived message ids
	// seen is the Bus.topicsGen at which a lookup last found this state
	// in Bus.topics (see topic).
	seen atomic.Uint64
}

// New builds a bus, recovers its log and starts it. Its store is the one
// given by WithStore or, by default, a bbolt file in the data directory
// (WithDataDir). Every option problem is reported at once, wrapped in
// ErrInvalidConfig, before anything is created or written. The bus owns
// the store from then on and closes it in Close.
func New(opts ...Option) (*Bus, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		if o == nil {
			cfg.nilOptions++
			continue
		}
		o(&cfg)
	}
	if cfg.enforcement == EnforceReject && !cfg.deadLetterSet {
		cfg.deadLetterTopic = DefaultRejectDeadLetterTopic
	}
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if cfg.store == nil {
		path := filepath.Join(cfg.dataDir, "onexbus.db")
		// Every commit fsyncs except under the none policy: bbolt's NoSync
		// can lose the whole file on a power loss, not just the unsynced
		// commits (store/bolt TestNoSyncPowerLossCanCorrupt), so the
		// interval policy has the log commit once an interval instead.
		st, err := bolt.Open(path, bolt.WithNoSync(cfg.durability == wal.PolicyNone))
		if err != nil {
			return nil, fmt.Errorf("onexbus: open data dir %s: %w", cfg.dataDir, err)
		}
		cfg.store = st
	}
	walOpts := []wal.Option{
		wal.WithPolicy(cfg.durability, cfg.flushInterval),
		wal.WithLogger(cfg.logger.Named("wal")),
		wal.WithDedup(cfg.dedupWindow, cfg.dedupMax),
		wal.WithMaxRecordBytes(cfg.maxMessageBytes),
		wal.WithMaxPendingBytes(max(defaultPendingBytes, cfg.maxMessageBytes)),
		wal.WithClock(cfg.now),
		wal.WithCommitWait(cfg.commitWait),
	}
	walOpts = append(walOpts, cfg.txnLimits.walOptions()...)
	hk, _ := buildHooks(cfg.hooks) // validated
	if len(hk.commit) > 0 || len(hk.retention) > 0 {
		walOpts = append(walOpts, wal.WithObserver(walObserver{h: &hk}))
	}
	log, err := wal.Open(cfg.store, walOpts...)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("onexbus: open log: %w", err), cfg.store.Close())
	}
	queue, err := dlq.Open(cfg.store, dlq.WithLogger(cfg.logger.Named("dlq")), dlq.WithClock(cfg.now))
	if err != nil {
		return nil, errors.Join(fmt.Errorf("onexbus: open dead-letter queue: %w", err), log.Close(context.Background()), cfg.store.Close())
	}
	hctx, cancel := context.WithCancel(context.Background())
	b := &Bus{
		cfg:         cfg,
		hooks:       hk,
		log:         log,
		dlq:         queue,
		groups:      make(map[string]*group),
		stopping:    make(chan struct{}),
		handlerCtx:  hctx,
		cancelCalls: cancel,
		closeDone:   make(chan struct{}),
	}
	for _, name := range log.Topics() {
		tc, _ := log.Topic(name)
		b.storeTopic(name, newTopicState(log, name, tc))
	}
	for name, tc := range cfg.topics {
		if _, err := b.CreateTopic(context.Background(), name, tc); err != nil {
			return nil, errors.Join(err, b.Close(context.Background()))
		}
	}
	return b, nil
}

// CreateTopic creates a topic, or grows an existing one to tc.Partitions
// and sets its retention. It returns true if the topic is new. The name
// must pass Kafka's rules and the configured ONEX enforcement.
func (b *Bus) CreateTopic(ctx context.Context, name string, tc TopicConfig) (bool, error) {
	if b.closed.Load() {
		return false, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return false, err
	}
	if _, err := b.checkTopic(name); err != nil {
		return false, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.createTopicLocked(name, tc)
}

func (b *Bus) createTopicLocked(name string, tc TopicConfig) (bool, error) {
	created, err := b.log.CreateTopic(name, tc)
	if err != nil {
		return false, fmt.Errorf("onexbus: create topic %s: %w", name, err)
	}
	cur, _ := b.log.Topic(name)
	b.storeTopic(name, newTopicState(b.log, name, cur))
	for _, g := range b.groups {
		g.topicCreatedLocked(b, name, cur.Partitions, created)
	}
	return created, nil
}

// checkTopic applies Kafka's rules and the ONEX enforcement to name.
func (b *Bus) checkTopic(name string) (Topic, error) {
	t, err := b.cfg.enforcement.Check(name)
	if err != nil {
		return t, err
	}
	if b.cfg.enforcement == EnforceWarn && !t.Conforms() {
		b.cfg.logger.Warn("topic does not follow the ONEX grammar", "topic", name)
	}
	return t, nil
}

// topic returns the state of a topic, creating it with the default
// configuration on first use.
//
// A publisher usually sends to one topic over and over, so the state
// found last is kept (lastTopic) and used again without the map lookup
// (a hash of the name and a sync.Map probe, about 40 ns, 4% of a
// memory-bus publish) while no topic has changed since it was found: a
// lookup stamps the state with the generation it read before the map
// (seen), and every change of topics stores or deletes first and then
// bumps the generation (storeTopic, deleteTopic). So a state stamped
// with the current generation was read from the map after the last
// change was in it: it is the current one. Stamps from before a change
// never match again. Publishers alternating between topics find the
// cache wrong each time and pay the lookup as before, plus two atomic
// stores; nothing is allocated.
func (b *Bus) topic(name string) (*topicState, error) {
	gen := b.topicsGen.Load()
	if t := b.lastTopic.Load(); t != nil && t.seen.Load() == gen && t.name == name {
		return t, nil
	}
	if v, ok := b.topics.Load(name); ok {
		t := v.(*topicState)
		t.seen.Store(gen)
		b.lastTopic.Store(t)
		return t, nil
	}
	if _, err := b.checkTopic(name); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if v, ok := b.topics.Load(name); ok {
		return v.(*topicState), nil
	}
	if _, err := b.createTopicLocked(name, b.cfg.defaultTopic); err != nil {
		return nil, err
	}
	v, _ := b.topics.Load(name)
	return v.(*topicState), nil
}

// storeTopic sets the state of topic name, then bumps the generation so
// that no state found before is used again (see topic).
func (b *Bus) storeTopic(name string, t *topicState) {
	b.topics.Store(name, t)
	b.topicsGen.Add(1)
}

// deleteTopic forgets the state of topic name, as storeTopic does.
func (b *Bus) deleteTopic(name string) {
	b.topics.Delete(name)
	b.topicsGen.Add(1)
}

// Topics returns the names of every topic in ascending order.
func (b *Bus) Topics() []string { return b.log.Topics() }

// TopicConfig returns a topic's configuration and whether it exists.
func (b *Bus) TopicConfig(name string) (TopicConfig, bool) { return b.log.Topic(name) }

// EndOffset returns the offset the next message of a partition will get:
// two messages to t1 give 2. An unknown topic has end offset 0.
func (b *Bus) EndOffset(topic string, partition int32) (int64, error) {
	_, end, err := b.log.Offsets(topic, partition)
	return end, b.wrapLogErr(err)
}

// StartOffset returns the oldest offset of a partition still retained.
func (b *Bus) StartOffset(topic string, partition int32) (int64, error) {
	start, _, err := b.log.Offsets(topic, partition)
	return start, b.wrapLogErr(err)
}

func (b *Bus) wrapLogErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, wal.ErrClosed):
		return fmt.Errorf("%w: %w", ErrClosed, err)
	case errors.Is(err, wal.ErrInvalidPartition):
		return fmt.Errorf("%w: %w", ErrInvalidPartition, err)
	case errors.Is(err, wal.ErrUnknownTopic):
		return fmt.Errorf("%w: %w", ErrUnknownTopic, err)
	case errors.Is(err, wal.ErrRecordTooLarge):
		return fmt.Errorf("%w: %w", ErrMessageTooLarge, err)
	}
	return err
}

// Sync commits everything published so far and waits for it, including
// consumer-group cursors.
func (b *Bus) Sync(ctx context.Context) error {
	return b.wrapLogErr(b.log.Sync(ctx))
}

// Close stops the bus: Publish and Subscribe fail with ErrClosed from the
// moment it begins, delivery loops finish the message in hand and exit,
// the log commits what is queued and the store is closed. If ctx ends
// before the handlers return, their contexts are cancelled and Close
// returns ctx's error once they have exited. Close is idempotent and safe
// to call concurrently; every call returns the first call's result.
//
// Called from inside a handler (with any context), Close cannot wait for
// the handler that called it: it begins the shutdown, which completes in
// the background once that handler returns, and returns nil at once (or
// the first call's result, if the shutdown is already over). A failure
// of that background shutdown is logged and returned by later calls.
func (b *Bus) Close(ctx context.Context) error {
	_, inside := b.callerSlot()
	b.closeOnce.Do(func() {
		// Under mu, so no Subscribe or topic creation starts a loop
		// after the loops are counted out.
		b.mu.Lock()
		b.closed.Store(true)
		close(b.stopping)
		for _, g := range b.groups {
			for _, l := range g.loops {
				l.retireLocked()
			}
		}
		b.mu.Unlock()
		if inside {
			go func() {
				b.closeErr = b.shutdown(ctx)
				if b.closeErr != nil {
					b.cfg.logger.Error("close begun by a handler failed", "error", b.closeErr)
				}
				close(b.closeDone)
			}()
			return
		}
		b.closeErr = b.shutdown(ctx)
		close(b.closeDone)
	})
	if inside {
		select {
		case <-b.closeDone:
			return b.closeErr
		default:
			return nil
		}
	}
	<-b.closeDone
	return b.closeErr
}

func (b *Bus) shutdown(ctx context.Context) error {
	loopsDone := make(chan struct{})
	go func() { b.loops.Wait(); close(loopsDone) }()
	var errs []error
	select {
	case <-loopsDone:
	case <-ctx.Done():
		b.cancelCalls()
		select {
		case <-loopsDone:
		case <-time.After(closeGrace):
			// A handler ignores its context. Close returns as promised;
			// the log and store close once the last loop exits.
			go func() {
				<-loopsDone
				if err := b.closeStorage(ctx); err != nil {
					b.cfg.logger.Error("late close failed", "error", err)
				}
			}()
			return fmt.Errorf("onexbus: close: a handler ignored its cancelled context: %w", ctx.Err())
		}
		errs = append(errs, fmt.Errorf("onexbus: close: handlers outlived the context: %w", ctx.Err()))
	}
	b.cancelCalls()
	return errors.Join(append(errs, b.closeStorage(ctx))...)
}

// closeGrace is how long Close waits for handlers to return after it
// cancelled their contexts.
const closeGrace = 100 * time.Millisecond

// closeStorage commits what the log holds and closes the log and store.
func (b *Bus) closeStorage(ctx context.Context) error {
	var errs []error
	if err := b.log.Close(context.WithoutCancel(ctx)); err != nil {
		errs = append(errs, fmt.Errorf("onexbus: close log: %w", err))
	}
	if err := b.cfg.store.Close(); err != nil {
		errs = append(errs, fmt.Errorf("onexbus: close store: %w", err))
	}
	return errors.Join(errs...)
}

// Compact returns the space freed by retention to the file system, if the
// store supports it (bbolt files otherwise only reuse freed pages); it
// returns false when the store has nothing to compact. Writers wait while
// it runs.
func (b *Bus) Compact(ctx context.Context) (bool, error) {
	if b.closed.Load() {
		return false, ErrClosed
	}
	c, ok := b.cfg.store.(store.Compacter)
	if !ok {
		return false, nil
	}
	if err := b.log.Sync(ctx); err != nil {
		return false, b.wrapLogErr(err)
	}
	if err := c.Compact(); err != nil {
		return false, fmt.Errorf("onexbus: compact: %w", err)
	}
	return true, nil
}
