package kafka

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/internal/backoff"
	"github.com/onexbus/onexbus/internal/breaker"
)

// DefaultForwarderGroup is the group name under which the forwarder keeps
// its position in each local partition.
const DefaultForwarderGroup = "onexbus.kafka.forwarder"

type fwdConfig struct {
	pattern      core.Pattern
	group        string
	log          hclog.Logger
	syncEvery    time.Duration
	batch        int
	depth        int
	createTopics bool
	headers      HeaderEncoding // recordheaders.go
	extraOpts    []kgo.Opt
	// afterDiscover, if set, runs after each discovery round (tests).
	afterDiscover func()
}

// ForwarderOption configures NewForwarder; a problem it finds is
// reported by NewForwarder with every other.
type ForwarderOption func(*fwdConfig) error

// validate reports the problems the options left, every one.
func (c *fwdConfig) validate() []error {
	var errs []error
	if err := checkGroupName(c.group); err != nil {
		errs = append(errs, fmt.Errorf("forwarder group: %w", err))
	}
	return errs
}

// checkGroupName accepts what Kafka and the bus accept as a group name:
// 1..255 characters, no control characters.
func checkGroupName(name string) error {
	if len(name) < 1 || len(name) > MaxGroupIDLen {
		return fmt.Errorf("%q: %d characters, not 1..%d", name, len(name), MaxGroupIDLen)
	}
	for i := 0; i < len(name); i++ {
		if name[i] < 0x20 || name[i] == 0x7f {
			return fmt.Errorf("%q: control character at %d", name, i)
		}
	}
	return nil
}

// WithTopicPattern forwards the local topics matching pattern (see
// core.CompilePattern; default "**": every topic whose name does not start
// with "__", Kafka's prefix for internal topics).
func WithTopicPattern(pattern string) ForwarderOption {
	return func(c *fwdConfig) error {
		p, err := core.CompilePattern(pattern)
		if err != nil {
			return fmt.Errorf("topic pattern: %w", err)
		}
		c.pattern = p
		return nil
	}
}

// WithForwarderGroup sets the group name of the forwarded positions
// (default DefaultForwarderGroup). Two forwarders to two clusters need two
// names.
func WithForwarderGroup(name string) ForwarderOption {
	return func(c *fwdConfig) error { c.group = name; return nil }
}

// WithForwarderLogger sets the logger; nil discards.
func WithForwarderLogger(l hclog.Logger) ForwarderOption {
	return func(c *fwdConfig) error { c.log = l; return nil }
}

// WithBatch sets how many messages a partition reads from the log at a
// time (default 2,000; 1..1,000,000) and how many such batches may wait
// for Kafka's ack at once (default 4; 1..64).
func WithBatch(messages, depth int) ForwarderOption {
	return func(c *fwdConfig) error {
		if messages < 1 || messages > 1_000_000 || depth < 1 || depth > 64 {
			return fmt.Errorf("batch %d not in 1..1000000 or depth %d not in 1..64", messages, depth)
		}
		c.batch, c.depth = messages, depth
		return nil
	}
}

// WithCreateTopics sets whether the forwarder creates a missing upstream
// topic with the local topic's partition count before forwarding it
// (default true), so that Kafka's key partitioning puts each key in the
// partition of the same number as the local log does.
func WithCreateTopics(create bool) ForwarderOption {
	return func(c *fwdConfig) error { c.createTopics = create; return nil }
}

// WithKgoOptions appends kgo options after those from Config (tests and
// tuning).
func WithKgoOptions(opts ...kgo.Opt) ForwarderOption {
	return func(c *fwdConfig) error { c.extraOpts = append(c.extraOpts, opts...); return nil }
}

// Forwarder copies local topics to an upstream Kafka. See the package doc
// for its guarantees. All methods are safe for concurrent use.
type Forwarder struct {
	bus *core.Bus
	cfg Config
	fc  fwdConfig
	log hclog.Logger
	cl  *kgo.Client
	adm *kadm.Client
	brk *breaker.Breaker

	ctx    context.Context // ends when Close begins: loops stop reading
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu         sync.Mutex           // protects started, parts, refused, ackWake, removeGate and releaseHold
	started    bool                 //
	parts      map[tpKey]*partState // every partition with a loop
	refused    map[string]error     // topics the upstream refuses, for good
	ackWake    chan struct{}        // closed and replaced when any position advances
	removeGate func()               // removes the budget's publish gate; nil if none
	// releaseHold ends the retention hold on the forwarded topics; nil
	// before Start and after Close.
	releaseHold func()

	// createFails counts, per topic, the failed attempts to create it
	// upstream since the last success; owned by discover (Start's call,
	// then the watch loop's), so unlocked.
	createFails map[string]int

	// advanced is set when a forwarded position moved and cleared by the
	// sync loop, which then makes the bus commit it.
	advanced atomic.Bool

	closeOnce sync.Once
	closeErr  error
}

type tpKey struct {
	topic string
	part  int32
}

// partState is the forwarded position of one partition.
type partState struct {
	mu     sync.Mutex    // protects acked and wake
	acked  int64         // next offset not yet acknowledged by Kafka
	wake   chan struct{} // closed and replaced when acked advances
	loaded bool          // acked holds the persisted position
}

// NewForwarder builds a forwarder from bus to the Kafka cluster of cfg;
// Start starts it. Every problem with cfg and opts is reported at once.
func NewForwarder(bus *core.Bus, cfg Config, opts ...ForwarderOption) (*Forwarder, error) {
	cfg = cfg.resolved()
	fc := fwdConfig{group: DefaultForwarderGroup, batch: 2000, depth: 4, createTopics: true, syncEvery: time.Second}
	var errs []error
	if bus == nil {
		errs = append(errs, errors.New("nil bus"))
	}
	for i, o := range opts {
		if o == nil {
			errs = append(errs, fmt.Errorf("%w: option %d is nil", ErrInvalidConfig, i))
			continue
		}
		if err := o(&fc); err != nil {
			errs = append(errs, fmt.Errorf("%w: %w", ErrInvalidConfig, err))
		}
	}
	for _, err := range fc.validate() {
		errs = append(errs, fmt.Errorf("%w: %w", ErrInvalidConfig, err))
	}
	if fc.log == nil {
		fc.log = hclog.NewNullLogger()
	}
	kopts, err := cfg.ClientOptions()
	if err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("kafka: new forwarder: %w", errors.Join(errs...))
	}
	// The forwarder waits for each batch's acks before reading past the
	// pipeline depth, so kgo's buffer only needs room for that window.
	kopts = append(kopts, kgo.MaxBufferedRecords(max(fc.batch*fc.depth*2, 10_000)))
	kopts = append(kopts, fc.extraOpts...)
	cl, err := kgo.NewClient(kopts...)
	if err != nil {
		return nil, fmt.Errorf("kafka: new forwarder: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	log := fc.log.Named("forwarder")
	return &Forwarder{
		bus: bus, cfg: cfg, fc: fc, log: log, cl: cl, adm: kadm.NewClient(cl),
		brk: breaker.New(breaker.Policy{Threshold: cfg.v.CircuitBreakerThreshold, ResetTimeout: cfg.v.CircuitBreakerResetTimeout},
			breaker.WithOnChange(func(c breaker.Change) { logBreaker(log, c) })),
		ctx:         ctx,
		cancel:      cancel,
		parts:       make(map[tpKey]*partState),
		refused:     make(map[string]error),
		createFails: make(map[string]int),
		ackWake:     make(chan struct{}),
	}, nil
}

// Start starts forwarding: one loop per partition of each matching topic,
// a watcher that picks up new topics and partitions every
// KAFKA_CONSUMER_SLEEP_INTERVAL, and a loop that makes the bus commit the
// forwarded positions every second while they move. With a
// KAFKA_BACKLOG_BUDGET_BYTES it installs the budget's gate in front of
// every publish of the bus (see KAFKA_BACKLOG_BUDGET_BYTES); Close removes it.
// It holds the retention of the forwarded topics (Bus.HoldRetention) so
// that no record is deleted before Kafka acknowledged it; Close releases
// the hold.
// It returns ErrForwarderClosed after Close; a second Start does nothing.
func (f *Forwarder) Start(ctx context.Context) error {
	f.mu.Lock()
	if f.ctx.Err() != nil {
		f.mu.Unlock()
		return ErrForwarderClosed
	}
	if f.started {
		f.mu.Unlock()
		return nil
	}
	f.mu.Unlock()
	// Without f.mu: the hold calls forwards, which takes it.
	release, err := f.bus.HoldRetention(f.fc.group, f.forwards)
	if err != nil {
		return fmt.Errorf("kafka: start forwarder: hold retention: %w", err)
	}
	f.mu.Lock()
	if f.ctx.Err() != nil || f.started {
		// Close or another Start came in between.
		closed := f.ctx.Err() != nil
		f.mu.Unlock()
		release()
		if closed {
			return ErrForwarderClosed
		}
		return nil
	}
	f.releaseHold = release
	f.started = true
	if f.cfg.v.BacklogBudget > 0 {
		bg := &budget{f: f, limit: f.cfg.v.BacklogBudget, reject: f.cfg.v.BacklogPolicy == BacklogReject}
		f.removeGate = f.bus.AddPublishGate(bg.gate)
	}
	f.mu.Unlock()
	f.discover(ctx)
	f.wg.Go(f.watch)
	f.wg.Go(f.syncLoop)
	return nil
}

// syncLoop bounds how much is forwarded twice after a crash: a forwarded
// position is written with the bus's next group commit, which an idle bus
// may not make for a while, so every syncEvery in which a position moved
// it makes one.
func (f *Forwarder) syncLoop() {
	t := time.NewTicker(f.fc.syncEvery)
	defer t.Stop()
	for {
		select {
		case <-f.ctx.Done():
			return
		case <-t.C:
		}
		if !f.advanced.Swap(false) {
			continue
		}
		if err := f.bus.Sync(f.ctx); err != nil && f.ctx.Err() == nil && !errors.Is(err, core.ErrClosed) {
			f.log.Warn("cannot commit the forwarded positions; more may be forwarded twice after a crash", "error", err)
		}
	}
}

// forwards reports whether topic is forwarded: it matches the pattern
// and the upstream has not refused it.
func (f *Forwarder) forwards(topic string) bool {
	if f.fc.pattern.String() != "" {
		if !f.fc.pattern.Match(topic) {
			return false
		}
	} else if strings.HasPrefix(topic, "__") {
		return false
	}
	f.mu.Lock()
	_, refused := f.refused[topic]
	f.mu.Unlock()
	return !refused
}

// maxKafkaTopicLen is the longest topic name Kafka accepts; the local
// grammar allows 255.
const maxKafkaTopicLen = 249

// topicRefused reports whether err is Kafka refusing a topic for good, on
// creation or on produce, rather than an outage.
func topicRefused(err error) bool {
	return errors.Is(err, kerr.InvalidTopicException) || errors.Is(err, kerr.PolicyViolation) ||
		errors.Is(err, kerr.InvalidPartitions) || errors.Is(err, kerr.InvalidReplicationFactor) ||
		errors.Is(err, kerr.InvalidConfig) || errors.Is(err, kerr.TopicAuthorizationFailed)
}

// refuse stops forwarding topic for good, logging why once. Its messages
// stay in the local log and its forwarded positions where they are.
func (f *Forwarder) refuse(topic string, cause error) {
	f.mu.Lock()
	if _, ok := f.refused[topic]; ok {
		f.mu.Unlock()
		return
	}
	f.refused[topic] = fmt.Errorf("%w: %s: %w", ErrTopicRefused, topic, cause)
	f.mu.Unlock()
	f.log.Error("upstream Kafka refuses the topic: not forwarded (its messages stay in the local log), the other topics go on",
		"topic", topic, "error", cause)
}

// RefusedTopics returns the topics the upstream refuses, each with an
// error wrapping ErrTopicRefused and Kafka's error. They are not
// forwarded, not counted in Backlog, BacklogBytes or the budget, and not
// asked for again until the forwarder is built anew (after renaming the
// topic, or changing the upstream's policy or ACLs).
func (f *Forwarder) RefusedTopics() map[string]error {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[string]error, len(f.refused))
	for k, v := range f.refused {
		out[k] = v
	}
	return out
}

func (f *Forwarder) watch() {
	t := time.NewTicker(f.cfg.v.ConsumerSleepInterval)
	defer t.Stop()
	for {
		select {
		case <-f.ctx.Done():
			return
		case <-t.C:
			f.discover(f.ctx)
		}
	}
}

// discover starts a loop for every forwarded partition without one.
// A topic the upstream refuses is set aside for good (refuse); one it
// cannot create for now is tried again next round.
func (f *Forwarder) discover(ctx context.Context) {
	if f.fc.afterDiscover != nil {
		defer f.fc.afterDiscover()
	}
	for _, topic := range f.bus.Topics() {
		if !f.forwards(topic) {
			continue
		}
		tc, ok := f.bus.TopicConfig(topic)
		if !ok {
			continue
		}
		f.mu.Lock()
		_, known := f.parts[tpKey{topic, 0}]
		f.mu.Unlock()
		if !known && len(topic) > maxKafkaTopicLen {
			f.refuse(topic, fmt.Errorf("%d characters: Kafka topic names have at most %d", len(topic), maxKafkaTopicLen))
			continue
		}
		if !known && f.fc.createTopics {
			if err := f.ensureUpstream(ctx, topic, tc.Partitions); err != nil {
				if topicRefused(err) && !errors.Is(err, kerr.TopicAuthorizationFailed) {
					f.refuse(topic, err)
					continue
				}
				if errors.Is(err, kerr.TopicAuthorizationFailed) || errors.Is(err, kerr.ClusterAuthorizationFailed) {
					// No right to create is no verdict on writing: the
					// topic may exist. Produce decides.
					f.log.Debug("not allowed to create the upstream topic; forwarding to it as it is", "topic", topic, "error", err)
				} else {
					f.createFailed(topic, err)
					continue
				}
			}
		}
		delete(f.createFails, topic)
		for p := range tc.Partitions {
			k := tpKey{topic, p}
			f.mu.Lock()
			if _, ok := f.parts[k]; ok || f.ctx.Err() != nil {
				f.mu.Unlock()
				continue
			}
			ps := &partState{wake: make(chan struct{})}
			f.parts[k] = ps
			f.wg.Go(func() { f.runPartition(k, ps) })
			f.mu.Unlock()
		}
	}
}

// createFailed logs a failed creation of topic: a warning the first
// time, then at debug level each round, so an outage does not flood the
// log.
func (f *Forwarder) createFailed(topic string, err error) {
	f.createFails[topic]++
	if n := f.createFails[topic]; n == 1 {
		f.log.Warn("cannot create the upstream topic; will retry", "topic", topic, "error", err)
	} else {
		f.log.Debug("still cannot create the upstream topic; will retry", "topic", topic, "attempts", n, "error", err)
	}
}

// ensureUpstream creates topic upstream unless it exists.
func (f *Forwarder) ensureUpstream(ctx context.Context, topic string, parts int32) error {
	ctx, cancel := context.WithTimeout(ctx, f.cfg.v.Timeout)
	defer cancel()
	resp, err := f.adm.CreateTopic(ctx, parts, -1, nil, topic)
	if err == nil {
		err = resp.Err
	}
	if errors.Is(err, kerr.TopicAlreadyExists) {
		return nil
	}
	return err
}

// settle gives b's breaker pass back with its outcome: cause nil, or an
// answer of Kafka's about the records or the topic (rejected,
// topicRefused), is no outage; anything else is a failure.
func (f *Forwarder) settle(b *fwdBatch, cause error) {
	ok := cause == nil || rejected(cause) || topicRefused(cause)
	if ok {
		cause = nil
	}
	f.brk.Release(b.pass, ok, cause)
}

// runPartition forwards one partition until Close. It owns its batches:
// it reads up to depth batches ahead, and records a batch's end as the
// forwarded position only when it and every batch before it were
// acknowledged. On a failure it waits for the batches in flight, records
// the acknowledged prefix, backs off and reads again from there.
//
// A record Kafka rejects for what it is (rejected) would stop the
// partition for good. A broker refuses a whole batch for one such record,
// so after a rejection the partition goes one record at a time up to the
// end of what was in flight (careful), which tells the rejected record
// apart from its batch mates; a record rejected on its own
// KAFKA_MAX_RETRY_ATTEMPTS times goes to the bus's dead-letter queue, and
// only once it is there does the position move past it.
func (f *Forwarder) runPartition(k tpKey, ps *partState) {
	pos, ok, err := f.bus.CommittedOffset(f.fc.group, k.topic, k.part)
	if err != nil {
		f.log.Error("cannot read the forwarded position; partition not forwarded", "topic", k.topic, "partition", k.part, "error", err)
		return
	}
	if !ok {
		pos, _ = f.bus.StartOffset(k.topic, k.part)
	}
	// The position is committed in the same store transaction as the
	// records it covers, so it cannot pass the end after a crash; only a
	// store that lost its latest transactions (a power loss under
	// DurabilityNone, or a damaged file) could show that. The offsets from
	// the end on will be new records: forward from there.
	if end, err := f.bus.EndOffset(k.topic, k.part); err == nil && pos > end {
		f.log.Warn("forwarded position past the local end: records forwarded earlier are gone from the local log; forwarding from its end",
			"topic", k.topic, "partition", k.part, "position", pos, "end", end)
		pos = end
	}
	f.advance(k, ps, pos, false)
	next := pos
	var inflight []*fwdBatch
	var careful int64 // read one record at a time below this offset
	var rej rejection // the rejections of the record at next
	fails := 0        // consecutive failed batches, for the backoff
	for {
		// Reap acknowledged batches in order.
		for len(inflight) > 0 {
			b := inflight[0]
			if !isDone(b) {
				break
			}
			inflight = inflight[1:]
			if b.err == nil {
				f.brk.Release(b.pass, true, nil)
				fails = 0
				f.advance(k, ps, b.end, true)
				b.release()
				continue
			}
			// Let every batch in flight finish, record the acknowledged
			// prefix and read again from its end.
			last := b.end
			for _, later := range inflight {
				<-later.done
				f.settle(later, later.err)
				last = max(last, later.end)
			}
			inflight = nil
			acked, cause := b.acked()
			f.advance(k, ps, acked, true)
			next = acked
			if cause == nil {
				cause = b.err
			}
			f.settle(b, cause)
			single := len(b.recs) == 1 && b.first == acked
			b.release()
			if topicRefused(cause) {
				// Kafka answered for the whole topic: stop asking.
				f.refuse(k.topic, cause)
				return
			}
			if rejected(cause) {
				// Kafka answered: this is no outage.
				careful = max(careful, last)
				if !single {
					continue // isolate it first
				}
				n := rej.failed(acked)
				if n >= f.cfg.v.MaxRetryAttempts {
					err := f.deadLetter(k, acked, rej, cause)
					if err == nil {
						f.advance(k, ps, acked+1, true)
						next, rej = acked+1, rejection{}
						continue
					}
					f.log.Error("Kafka rejects a record and the dead-letter queue refuses it; the partition waits", "topic", k.topic, "partition", k.part, "offset", acked, "error", errors.Join(cause, err))
				} else {
					f.log.Debug("Kafka rejected a record; retrying it alone", "topic", k.topic, "partition", k.part, "offset", acked, "attempt", n, "error", cause)
				}
				if !sleepCtx(f.ctx, backoff.Delay(f.cfg.v.RetryBackoffBase, f.cfg.v.CircuitBreakerResetTimeout, n-1)) {
					return
				}
				continue
			}
			fails++
			wait := backoff.Delay(f.cfg.v.RetryBackoffBase, f.cfg.v.CircuitBreakerResetTimeout, fails-1)
			f.log.Debug("produce failed; backing off", "topic", k.topic, "partition", k.part, "offset", acked, "backoff", wait, "error", cause)
			if !sleepCtx(f.ctx, wait) {
				return
			}
		}
		if f.ctx.Err() != nil {
			for i, b := range inflight {
				<-b.done
				f.settle(b, b.err)
				if b.err != nil {
					for _, later := range inflight[i+1:] {
						<-later.done
						f.settle(later, later.err)
					}
					return
				}
				f.advance(k, ps, b.end, true)
			}
			return
		}
		if len(inflight) >= f.fc.depth {
			f.waitBatch(inflight[0])
			continue
		}
		single := next < careful
		limit := f.fc.batch
		if single {
			limit = 1
		}
		b, err := f.readBatch(k, next, limit)
		if err != nil {
			if f.ctx.Err() != nil || errors.Is(err, core.ErrClosed) {
				continue
			}
			f.log.Error("cannot read the local log; retrying", "topic", k.topic, "partition", k.part, "offset", next, "error", err)
			sleepCtx(f.ctx, f.cfg.v.RetryBackoffBase)
			continue
		}
		if b == nil {
			if len(inflight) > 0 {
				f.waitBatch(inflight[0])
				continue
			}
			if err := f.bus.WaitForMessages(f.ctx, k.topic, k.part, next); err != nil && f.ctx.Err() == nil {
				if errors.Is(err, core.ErrClosed) {
					return
				}
				sleepCtx(f.ctx, f.cfg.v.RetryBackoffBase)
			}
			continue
		}
		if b.first > next {
			f.log.Warn("retention removed messages before they were forwarded", "topic", k.topic, "partition", k.part, "from", next, "to", b.first)
		}
		pass, err := f.brk.Wait(f.ctx)
		if err != nil {
			b.release()
			continue
		}
		b.pass = pass
		f.produce(b)
		if pass.Probe() || single {
			// The probe decides for everyone; a record on its own must
			// have its outcome before the next is produced.
			f.waitBatch(b)
		}
		inflight = append(inflight, b)
		next = b.end
	}
}

func isDone(b *fwdBatch) bool {
	select {
	case <-b.done:
		return true
	default:
		return false
	}
}

// waitBatch waits for b's acks. Close does not interrupt it: an
// idempotent record cannot be withdrawn once handed to kgo, which retries
// it (with its reconnect backoff) until Kafka answers; closing the client
// fails it. A batch waiting longer than KAFKA_TIMEOUT_SECONDS means Kafka
// is unreachable: the breaker opens, so no partition hands kgo more.
func (f *Forwarder) waitBatch(b *fwdBatch) {
	t := time.NewTimer(f.cfg.v.Timeout)
	defer t.Stop()
	select {
	case <-b.done:
		return
	case <-t.C:
		f.brk.Trip(fmt.Errorf("%w: no ack within KAFKA_TIMEOUT_SECONDS (%v)", errStalled, f.cfg.v.Timeout))
	}
	<-b.done
}

// advance records pos as partition k's forwarded position and, if
// persist, commits it to the bus.
func (f *Forwarder) advance(k tpKey, ps *partState, pos int64, persist bool) {
	ps.mu.Lock()
	if ps.loaded && pos <= ps.acked {
		ps.mu.Unlock()
		return
	}
	ps.acked, ps.loaded = pos, true
	close(ps.wake)
	ps.wake = make(chan struct{})
	ps.mu.Unlock()
	if persist {
		f.advanced.Store(true)
		if err := f.bus.CommitOffset(f.fc.group, k.topic, k.part, pos); err != nil && !errors.Is(err, core.ErrClosed) {
			f.log.Error("cannot persist the forwarded position; it will be forwarded again after a restart", "topic", k.topic, "partition", k.part, "offset", pos, "error", err)
		}
	}
	f.mu.Lock()
	close(f.ackWake)
	f.ackWake = make(chan struct{})
	f.mu.Unlock()
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// Acked returns the forwarded position of a partition: the offset of the
// first message Kafka has not acknowledged (every message before it has
// been acknowledged). Before the partition's loop has started it returns
// the persisted position, or 0.
func (f *Forwarder) Acked(topic string, partition int32) int64 {
	f.mu.Lock()
	ps := f.parts[tpKey{topic, partition}]
	f.mu.Unlock()
	if ps != nil {
		ps.mu.Lock()
		defer ps.mu.Unlock()
		if ps.loaded {
			return ps.acked
		}
	}
	off, _, _ := f.bus.CommittedOffset(f.fc.group, topic, partition)
	return off
}

// WaitAcked blocks until Kafka has acknowledged the message at offset of
// topic/partition (and every message before it), ctx ends, or the
// forwarder closes (ErrForwarderClosed). Use it with the offset Publish
// returned to wait for the upstream ack of a message.
func (f *Forwarder) WaitAcked(ctx context.Context, topic string, partition int32, offset int64) error {
	for {
		f.mu.Lock()
		ps := f.parts[tpKey{topic, partition}]
		wake := f.ackWake
		f.mu.Unlock()
		var ch <-chan struct{} = wake
		if ps != nil {
			ps.mu.Lock()
			if ps.loaded && ps.acked > offset {
				ps.mu.Unlock()
				return nil
			}
			ch = ps.wake
			ps.mu.Unlock()
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-f.ctx.Done():
			if f.Acked(topic, partition) > offset {
				return nil
			}
			return ErrForwarderClosed
		}
	}
}

// Backlog returns how many messages of the forwarded topics Kafka has not
// acknowledged yet.
func (f *Forwarder) Backlog() int64 {
	var n int64
	for _, topic := range f.bus.Topics() {
		if !f.forwards(topic) {
			continue
		}
		tc, _ := f.bus.TopicConfig(topic)
		for p := range tc.Partitions {
			end, err := f.bus.EndOffset(topic, p)
			if err != nil {
				continue
			}
			acked := f.Acked(topic, p)
			if start, err := f.bus.StartOffset(topic, p); err == nil {
				acked = max(acked, start)
			}
			n += max(end-acked, 0)
		}
	}
	return n
}

// BreakerState is the state of the forwarder's circuit breaker, the one
// breaker of onexbus (internal/breaker).
type BreakerState = breaker.State

// Breaker states.
const (
	// BreakerClosed: Kafka answers; every partition produces.
	BreakerClosed = breaker.Closed
	// BreakerOpen: Kafka failed KAFKA_CIRCUIT_BREAKER_THRESHOLD times in a
	// row, or a batch waited KAFKA_TIMEOUT_SECONDS for its ack; nothing is
	// produced until KAFKA_CIRCUIT_BREAKER_RESET_TIMEOUT has passed.
	BreakerOpen = breaker.Open
	// BreakerHalfOpen: one probe batch is in flight; the other partitions
	// wait for its outcome.
	BreakerHalfOpen = breaker.HalfOpen
)

// errStalled is the cause of a breaker opened by a batch without acks.
var errStalled = errors.New("kafka: upstream stalled")

// errGoneFromLog is why a rejected record could not be dead-lettered: it
// was deleted from the local log (DeleteRecords) meanwhile, so the
// partition goes on from what follows it.
var errGoneFromLog = errors.New("the record is no longer in the local log")

// logBreaker logs a change of the upstream breaker. One breaker serves
// every partition: Kafka being down is a property of the cluster.
func logBreaker(log hclog.Logger, c breaker.Change) {
	switch {
	case c.To == breaker.Open && c.From == breaker.Closed:
		log.Warn("upstream Kafka unreachable: breaker open; publishes continue locally and are forwarded when it returns",
			"consecutive_failures", c.Failures, "error", c.Cause)
	case c.To == breaker.Open:
		log.Debug("upstream Kafka probe failed: breaker open again", "error", c.Cause)
	case c.To == breaker.HalfOpen:
		log.Info("upstream Kafka breaker half-open: probing")
	case c.To == breaker.Closed:
		log.Info("upstream Kafka reachable again: breaker closed, draining the backlog")
	}
}

// BreakerState returns the state of the upstream breaker.
func (f *Forwarder) BreakerState() BreakerState { return f.brk.State() }

// Close stops forwarding: loops stop reading, wait for the acks of what
// they handed to Kafka and record them, then the Kafka client closes. If
// ctx ends first, the records still buffered are abandoned (they will be
// forwarded again after a restart) and Close returns ctx's error. Close
// is idempotent; every call returns the first call's result. Close the
// forwarder before the bus.
func (f *Forwarder) Close(ctx context.Context) error {
	f.closeOnce.Do(func() {
		f.mu.Lock()
		f.cancel()
		if f.removeGate != nil {
			f.removeGate()
			f.removeGate = nil
		}
		if f.releaseHold != nil {
			f.releaseHold()
			f.releaseHold = nil
		}
		f.mu.Unlock()
		done := make(chan struct{})
		go func() { f.wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
			f.closeErr = fmt.Errorf("kafka: close forwarder: %w", ctx.Err())
		}
		// Closing the client fails whatever is still buffered, which
		// releases any loop still waiting for an ack.
		f.cl.Close()
		<-done
		// The positions recorded last go to disk now rather than with
		// whatever commit the bus makes next.
		if err := f.bus.Sync(ctx); err != nil && f.closeErr == nil && !errors.Is(err, core.ErrClosed) {
			f.closeErr = fmt.Errorf("kafka: close forwarder: commit the forwarded positions: %w", err)
		}
	})
	return f.closeErr
}
