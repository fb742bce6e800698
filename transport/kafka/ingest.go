package kafka

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/google/uuid"
	"github.com/hashicorp/go-hclog"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/internal/backoff"
)

// ingestNamespace derives message ids for Kafka records that carry none,
// from (topic, partition, offset), so that re-ingesting them dedups.
var ingestNamespace = uuid.MustParse("4f1c9a52-8a0e-4b8e-9d0c-6e1b7a5b2f10")

type ingestConfig struct {
	group      string
	instanceID string
	log        hclog.Logger
	maxPoll    int
	extraOpts  []kgo.Opt
	// afterAppend, if set, runs after a batch is durable locally and
	// before its Kafka commit; an error stops the loop without committing
	// (tests use it to see the batches and to simulate a crash there).
	afterAppend func(recs []*kgo.Record) error
	// afterCommit, if set, runs after a batch's Kafka commit succeeded
	// (crash tests kill the process there).
	afterCommit func(recs []*kgo.Record)
}

// IngestOption configures NewIngest; a problem it finds is reported by
// NewIngest with every other.
type IngestOption func(*ingestConfig) error

// WithIngestGroup sets the Kafka consumer group (default KAFKA_GROUP);
// see GroupID for the original system's convention. 1..255 characters.
func WithIngestGroup(group string) IngestOption {
	return func(c *ingestConfig) error { c.group = group; return nil }
}

// WithInstanceID gives the member a static group instance id (Kafka's
// group.instance.id): a restart within the session timeout keeps its
// partitions without a rebalance. 1..255 characters.
func WithInstanceID(id string) IngestOption {
	return func(c *ingestConfig) error {
		if err := checkGroupName(id); err != nil {
			return fmt.Errorf("instance id: %w", err)
		}
		c.instanceID = id
		return nil
	}
}

// WithIngestLogger sets the logger; nil discards.
func WithIngestLogger(l hclog.Logger) IngestOption {
	return func(c *ingestConfig) error { c.log = l; return nil }
}

// WithMaxPollRecords bounds one batch: 1..1,000,000 records (default
// 10,000).
func WithMaxPollRecords(n int) IngestOption {
	return func(c *ingestConfig) error {
		if n < 1 || n > 1_000_000 {
			return fmt.Errorf("max poll records %d not in 1..1000000", n)
		}
		c.maxPoll = n
		return nil
	}
}

// WithIngestKgoOptions appends kgo options after those from Config.
func WithIngestKgoOptions(opts ...kgo.Opt) IngestOption {
	return func(c *ingestConfig) error { c.extraOpts = append(c.extraOpts, opts...); return nil }
}

// Ingest copies Kafka topics into a bus as a Kafka consumer group. Kafka
// offsets are committed only after the batch is durable in the local log
// (never auto-commit); a rebalance waits until the batch in hand is
// appended and committed (kgo.BlockRebalanceOnPoll), so partitions are
// given up with nothing in flight.
type Ingest struct {
	bus *core.Bus
	cfg Config
	ic  ingestConfig
	log hclog.Logger
	cl  *kgo.Client
	adm *kadm.Client

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// parts is owned by the loop: the Kafka partition count of each topic
	// seen, once the local topic has at least that many.
	parts map[string]int32

	mu      sync.Mutex // protects started and err
	started bool
	err     error // why the loop stopped, if it failed

	closeOnce sync.Once
	closeErr  error
}

// NewIngest builds an ingest of topics from the Kafka cluster of cfg into
// bus; Start starts it.
func NewIngest(bus *core.Bus, cfg Config, topics []string, opts ...IngestOption) (*Ingest, error) {
	cfg = cfg.resolved()
	ic := ingestConfig{group: cfg.v.Group, maxPoll: 10_000}
	var errs []error
	for i, o := range opts {
		if o == nil {
			errs = append(errs, fmt.Errorf("%w: option %d is nil", ErrInvalidConfig, i))
			continue
		}
		if err := o(&ic); err != nil {
			errs = append(errs, fmt.Errorf("%w: %w", ErrInvalidConfig, err))
		}
	}
	if ic.log == nil {
		ic.log = hclog.NewNullLogger()
	}
	if bus == nil {
		errs = append(errs, errors.New("nil bus"))
	}
	if len(topics) == 0 {
		errs = append(errs, errors.New("no topics"))
	}
	for _, t := range topics {
		if err := core.ValidateTopic(t); err != nil {
			errs = append(errs, fmt.Errorf("%w: topic %q: %w", ErrInvalidConfig, t, err))
		}
	}
	if err := checkGroupName(ic.group); err != nil {
		errs = append(errs, fmt.Errorf("%w: group: %w", ErrInvalidConfig, err))
	}
	kopts, err := cfg.ClientOptions()
	if err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("kafka: new ingest: %w", errors.Join(errs...))
	}
	reset := kgo.NewOffset().AtStart()
	if cfg.v.AutoOffsetReset == "latest" {
		reset = kgo.NewOffset().AtEnd()
	}
	in := &Ingest{bus: bus, cfg: cfg, ic: ic, log: ic.log.Named("ingest"), parts: map[string]int32{}}
	kopts = append(kopts,
		kgo.ConsumeTopics(topics...),
		kgo.ConsumerGroup(ic.group),
		kgo.DisableAutoCommit(),
		kgo.BlockRebalanceOnPoll(),
		kgo.ConsumeResetOffset(reset),
		kgo.SessionTimeout(cfg.v.SessionTimeout),
		kgo.HeartbeatInterval(cfg.v.HeartbeatInterval),
		kgo.RebalanceTimeout(cfg.v.MaxPollInterval),
		kgo.OnPartitionsRevoked(in.onRevoked),
	)
	if ic.instanceID != "" {
		kopts = append(kopts, kgo.InstanceID(ic.instanceID))
	}
	kopts = append(kopts, ic.extraOpts...)
	cl, err := kgo.NewClient(kopts...)
	if err != nil {
		return nil, fmt.Errorf("kafka: new ingest: %w", err)
	}
	in.cl, in.adm = cl, kadm.NewClient(cl)
	in.ctx, in.cancel = context.WithCancel(context.Background())
	return in, nil
}

// onRevoked runs when partitions are taken away. Rebalances are blocked
// while a batch is being appended and committed (BlockRebalanceOnPoll),
// so by now every polled record is appended and committed; nothing is
// left to flush.
func (in *Ingest) onRevoked(_ context.Context, _ *kgo.Client, revoked map[string][]int32) {
	in.log.Debug("partitions revoked after the last batch was committed", "partitions", revoked)
}

// Start starts the ingest loop. A second Start does nothing; Start after
// Close returns ErrIngestClosed.
func (in *Ingest) Start(context.Context) error {
	if in.ctx.Err() != nil {
		return ErrIngestClosed
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if !in.started {
		in.started = true
		in.wg.Go(in.run)
	}
	return nil
}

// Err returns why the loop stopped for good (the bus closed, wrapping
// core.ErrClosed), or nil while it runs or after Close.
func (in *Ingest) Err() error {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.err
}

// stop records why the loop stops for good and leaves the group, so
// that another member takes the partitions at once instead of after the
// session timeout. A static member (WithInstanceID) keeps its partitions
// until its session times out, as Kafka defines.
func (in *Ingest) stop(err error) {
	in.mu.Lock()
	in.err = err
	in.mu.Unlock()
	in.log.Error("ingest stopped; leaving the group", "error", err)
	in.cl.AllowRebalance()
	ctx, cancel := context.WithTimeout(in.ctx, in.cfg.v.Timeout)
	defer cancel()
	if lerr := in.cl.LeaveGroupContext(ctx); lerr != nil && in.ctx.Err() == nil {
		in.log.Warn("cannot leave the group; its partitions move after the session timeout", "error", lerr)
	}
}

func (in *Ingest) run() {
	for {
		fetches := in.cl.PollRecords(in.ctx, in.ic.maxPoll)
		if in.ctx.Err() != nil || fetches.IsClientClosed() {
			return
		}
		fetches.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.Canceled) {
				in.log.Warn("fetch error", "topic", t, "partition", p, "error", err)
			}
		})
		recs := fetches.Records()
		if len(recs) == 0 {
			in.cl.AllowRebalance()
			continue
		}
		if err := in.store(recs); err != nil {
			if in.ctx.Err() == nil {
				in.stop(err)
			}
			return
		}
		if in.ic.afterAppend != nil {
			if err := in.ic.afterAppend(recs); err != nil {
				in.stop(err)
				return
			}
		}
		if err := in.commit(recs); err != nil {
			// The batch is durable locally: after a restart it is
			// re-ingested and dedup stores it once.
			in.log.Warn("cannot commit to Kafka; the batch will be ingested again after a restart", "error", err)
		} else if in.ic.afterCommit != nil {
			in.ic.afterCommit(recs)
		}
		in.cl.AllowRebalance()
	}
}

// store appends recs to the bus and makes the bus sync them, retrying
// with capped, jittered backoff for as long as the ingest runs: a full
// disk or a budget that refuses for a while delays the batch, it does not
// stop the member while it holds its partitions. It returns nil once the
// records are in the store, the bus's ErrClosed (nothing can be ingested
// any more), or the ingest's context error.
//
// The sync matters under DurabilityInterval and DurabilityNone, where
// PublishBatch returns with the records queued in memory: the Kafka commit
// must wait until they are in the store, or a crash loses them for good.
// A batch appended again after a failure is stored once (message_id
// dedup).
func (in *Ingest) store(recs []*kgo.Record) error {
	appended := false
	for attempt := 0; ; attempt++ {
		var err error
		if !appended {
			err = in.appendBatch(recs)
			appended = err == nil
		}
		if appended {
			if err = in.bus.Sync(in.ctx); err != nil {
				err = fmt.Errorf("kafka: ingest: sync %d records: %w", len(recs), err)
			}
		}
		if err == nil {
			if attempt > 0 {
				in.log.Info("local append recovered", "records", len(recs), "attempts", attempt+1)
			}
			return nil
		}
		if in.ctx.Err() != nil {
			return in.ctx.Err()
		}
		if errors.Is(err, core.ErrClosed) {
			return err
		}
		wait := backoff.Delay(in.cfg.v.RetryBackoffBase, in.cfg.v.CircuitBreakerResetTimeout, attempt)
		if attempt == 0 {
			in.log.Warn("cannot append to the local log; retrying until it takes the batch (nothing is committed to Kafka meanwhile)",
				"records", len(recs), "error", err)
		} else {
			in.log.Debug("local append still failing", "attempt", attempt+1, "backoff", wait, "error", err)
		}
		if !sleepCtx(in.ctx, wait) {
			return in.ctx.Err()
		}
	}
}

// appendBatch publishes recs to the bus once; records the bus refuses for
// what they are go to the dead-letter topic.
func (in *Ingest) appendBatch(recs []*kgo.Record) error {
	msgs := make([]*core.Message, len(recs))
	rh := make([]core.RecordHeader, 0, 32)
	for i, r := range recs {
		local, err := in.localPartitions(r.Topic)
		if err != nil {
			return err
		}
		rh = rh[:0]
		for _, h := range r.Headers {
			rh = append(rh, core.RecordHeader{Key: h.Key, Value: h.Value})
		}
		m := &core.Message{Topic: r.Topic, Key: r.Key, Value: r.Value, Timestamp: r.Timestamp}
		m.Headers = core.HeadersFromRecord(rh, in.log)
		if m.Headers.MessageID == uuid.Nil {
			m.Headers.MessageID = uuid.NewSHA1(ingestNamespace, []byte(r.Topic+"/"+strconv.Itoa(int(r.Partition))+"/"+strconv.FormatInt(r.Offset, 10)))
		}
		if r.Partition < local {
			m.Partition, m.ExplicitPartition = r.Partition, true
		}
		msgs[i] = m
	}
	err := in.bus.PublishBatch(in.ctx, msgs)
	if err != nil && isPermanent(err) {
		return in.appendOneByOne(msgs, recs)
	}
	if err != nil {
		return fmt.Errorf("kafka: ingest: append %d records: %w", len(msgs), err)
	}
	return nil
}

// isPermanent reports whether a publish error is about the message itself.
func isPermanent(err error) bool {
	return errors.Is(err, core.ErrInvalidTopic) || errors.Is(err, core.ErrNotONEXTopic) ||
		errors.Is(err, core.ErrMessageTooLarge) || errors.Is(err, core.ErrInvalidHeaders) ||
		errors.Is(err, core.ErrInvalidPartition)
}

// appendOneByOne publishes msgs one at a time, sending those the bus
// refuses to the dead-letter topic with their Kafka provenance.
func (in *Ingest) appendOneByOne(msgs []*core.Message, recs []*kgo.Record) error {
	for i, m := range msgs {
		_, err := in.bus.Publish(in.ctx, m)
		if err == nil {
			continue
		}
		if !isPermanent(err) {
			return fmt.Errorf("kafka: ingest: append %s/%d@%d: %w", recs[i].Topic, recs[i].Partition, recs[i].Offset, err)
		}
		r := recs[i]
		dl := &core.Message{Topic: in.cfg.v.DeadLetterTopic, Key: r.Key, Value: r.Value}
		dl.Headers = m.Headers
		dl.Headers.EventType = ""
		dl.Headers.Extra = append(dl.Headers.Extra,
			core.Header{Key: "kafka_topic", Value: r.Topic},
			core.Header{Key: "kafka_partition", Value: strconv.Itoa(int(r.Partition))},
			core.Header{Key: "kafka_offset", Value: strconv.FormatInt(r.Offset, 10)},
			core.Header{Key: "error", Value: truncate(err.Error(), 512)})
		if _, dlErr := in.bus.Publish(in.ctx, dl); dlErr != nil {
			return fmt.Errorf("kafka: ingest: dead-letter %s/%d@%d: %w", r.Topic, r.Partition, r.Offset, errors.Join(err, dlErr))
		}
		in.log.Warn("record refused by the bus; dead-lettered", "topic", r.Topic, "partition", r.Partition, "offset", r.Offset, "error", err)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// localPartitions returns the partition count of the local topic, first
// creating or growing it to the Kafka topic's count. A name the bus
// refuses returns 0 (its records go to the dead-letter topic).
func (in *Ingest) localPartitions(topic string) (int32, error) {
	if n, ok := in.parts[topic]; ok {
		return n, nil
	}
	ctx, cancel := context.WithTimeout(in.ctx, in.cfg.v.Timeout)
	defer cancel()
	td, err := in.adm.ListTopics(ctx, topic)
	if err != nil {
		return 0, fmt.Errorf("kafka: ingest: describe %s: %w", topic, err)
	}
	d, ok := td[topic]
	if !ok || d.Err != nil {
		return 0, fmt.Errorf("kafka: ingest: describe %s: %w", topic, errors.Join(d.Err, errors.New("not found")))
	}
	want := int32(len(d.Partitions))
	tc, _ := in.bus.TopicConfig(topic)
	if tc.Partitions < want {
		tc.Partitions = want
		if _, err := in.bus.CreateTopic(ctx, topic, tc); err != nil {
			if isPermanent(err) {
				in.parts[topic] = 0
				return 0, nil
			}
			return 0, fmt.Errorf("kafka: ingest: create local topic: %w", err)
		}
	}
	in.parts[topic] = max(tc.Partitions, want)
	return in.parts[topic], nil
}

// commit commits recs' offsets, retrying MaxRetryAttempts times.
func (in *Ingest) commit(recs []*kgo.Record) error {
	var err error
	for attempt := range in.cfg.v.MaxRetryAttempts {
		ctx, cancel := context.WithTimeout(in.ctx, in.cfg.v.Timeout)
		err = in.cl.CommitRecords(ctx, recs...)
		cancel()
		if err == nil || in.ctx.Err() != nil {
			return err
		}
		sleepCtx(in.ctx, backoff.Delay(in.cfg.v.RetryBackoffBase, in.cfg.v.CircuitBreakerResetTimeout, attempt))
	}
	return err
}

// Close stops the ingest: the batch in hand is either appended and
// committed or, if Close interrupts its append, left uncommitted and
// ingested again (and deduplicated) by the next member. A dynamic member
// leaves the group; a static one (WithInstanceID) keeps its partitions
// until its session times out. Close is idempotent.
// Close the ingest before the bus.
func (in *Ingest) Close(ctx context.Context) error {
	in.closeOnce.Do(func() {
		in.cancel()
		done := make(chan struct{})
		go func() { in.wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-ctx.Done():
			in.closeErr = fmt.Errorf("kafka: close ingest: %w", ctx.Err())
		}
		in.cl.CloseAllowingRebalance()
		<-done
	})
	return in.closeErr
}
