package core

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/onexbus/onexbus/store"
	"github.com/onexbus/onexbus/wal"
)

// StartPosition says where a consumer group that has no committed cursor
// on a partition begins.
type StartPosition uint8

// Start positions.
const (
	// StartLatest begins after the last message published before the
	// group subscribed (Kafka's auto.offset.reset=latest). Partitions of
	// topics created after the group subscribed start at their first
	// message, so nothing published to a new topic is missed. The default.
	StartLatest StartPosition = iota
	// StartEarliest begins at the oldest retained message.
	StartEarliest
)

// String returns latest or earliest.
func (s StartPosition) String() string {
	if s == StartEarliest {
		return "earliest"
	}
	return "latest"
}

// ParseStartPosition parses latest or earliest (Kafka's auto.offset.reset).
func ParseStartPosition(s string) (StartPosition, error) {
	switch s {
	case "latest":
		return StartLatest, nil
	case "earliest":
		return StartEarliest, nil
	}
	return 0, fmt.Errorf("%w: start position %q is not latest or earliest", ErrInvalidConfig, s)
}

// RetryPolicy says how a failing handler is retried: attempt n (from 0)
// waits Base * 2^n, scaled by a random factor in [0.5, 1.5), capped at Max.
type RetryPolicy struct {
	// MaxAttempts is how many times a message is handed to the handler
	// before it is dead-lettered; at least 1. Default 3.
	MaxAttempts int
	// Base is the first delay. Default 1s.
	Base time.Duration
	// Max caps every delay. Default 30s.
	Max time.Duration
}

// DefaultRetryPolicy returns the policy of the original system: 3
// attempts, 1 s base, capped at 30 s. It is a function so that no caller
// can change the default of another.
func DefaultRetryPolicy() RetryPolicy {
	return RetryPolicy{MaxAttempts: 3, Base: time.Second, Max: 30 * time.Second}
}

func (r RetryPolicy) validate() error {
	var errs []error
	if r.MaxAttempts < 1 || r.MaxAttempts > 1_000_000 {
		errs = append(errs, fmt.Errorf("retry max attempts %d not in [1, 1000000]", r.MaxAttempts))
	}
	if r.Base <= 0 || r.Base > time.Hour {
		errs = append(errs, fmt.Errorf("retry base %v not in (0, 1h]", r.Base))
	}
	if r.Max < r.Base || r.Max > 24*time.Hour {
		errs = append(errs, fmt.Errorf("retry max %v not in [base %v, 24h]", r.Max, r.Base))
	}
	return errors.Join(errs...)
}

// TopicConfig configures a topic: its partitions and retention.
type TopicConfig = wal.TopicConfig

// Retention bounds each partition of a topic; see wal.Retention.
type Retention = wal.Retention

// Durability policies for WithDurability.
const (
	DurabilitySync     = wal.PolicySync
	DurabilityInterval = wal.PolicyInterval
	DurabilityNone     = wal.PolicyNone
)

type config struct {
	store           store.Store
	dataDir         string
	durability      wal.Policy
	flushInterval   time.Duration
	commitWait      time.Duration
	logger          hclog.Logger
	source          string
	enforcement     Enforcement
	defaultTopic    TopicConfig
	topics          map[string]TopicConfig
	dedupWindow     time.Duration
	dedupMax        int
	retry           RetryPolicy
	breaker         BreakerPolicy
	deadLetterTopic string
	start           StartPosition
	maxMessageBytes int
	handlerTimeout  time.Duration
	now             func() time.Time
	hooks           []Hook
	txnLimits       TxnLimits // options_txn.go
	// subscribersHold makes every Subscription hold retention for its
	// group (WithSubscribersHoldRetention).
	subscribersHold bool
	// nilOptions counts nil Options given to New, reported by validate.
	nilOptions int
	// deadLetterSet is true when WithDeadLetterTopic was given.
	deadLetterSet bool
}

func defaultConfig() config {
	return config{
		durability:      wal.PolicySync,
		dataDir:         DefaultDataDir,
		logger:          hclog.NewNullLogger(),
		source:          "onexbus",
		defaultTopic:    TopicConfig{Partitions: 1},
		topics:          map[string]TopicConfig{},
		dedupWindow:     2 * time.Minute,
		dedupMax:        100_000,
		retry:           DefaultRetryPolicy(),
		breaker:         DefaultBreakerPolicy(),
		deadLetterTopic: DefaultDeadLetterTopic,
		start:           StartLatest,
		maxMessageBytes: 1 << 20,
		now:             new(wallClock).now, // one per bus: clock.go
		commitWait:      wal.DefaultCommitWait,
	}
}

// Limits that New checks itself, so that every problem is reported at
// once and before anything is written (the log checks them again).
const (
	// MaxMessageBytes is the largest WithMaxMessageBytes accepts.
	MaxMessageBytes = 256 << 20
	// MaxPartitions is the most partitions a topic can have.
	MaxPartitions = 1 << 16
	// MaxFlushInterval is the longest WithDurability interval.
	MaxFlushInterval = time.Hour
	// defaultPendingBytes is the log's default bound on bytes queued
	// and not yet committed; raised to fit one message when the maximum
	// message is larger.
	defaultPendingBytes = 64 << 20
)

func (c *config) validate() error {
	var errs []error
	if c.nilOptions > 0 {
		errs = append(errs, fmt.Errorf("%d nil Option(s)", c.nilOptions))
	}
	if _, err := buildHooks(c.hooks); err != nil {
		errs = append(errs, err)
	}
	if c.store == nil && c.dataDir == "" {
		errs = append(errs, errors.New("data dir is empty"))
	}
	if err := validateTopicConfig(c.defaultTopic); err != nil {
		errs = append(errs, fmt.Errorf("default topic config: %w", err))
	}
	if c.enforcement > EnforceOff {
		errs = append(errs, fmt.Errorf("enforcement %d unknown", uint8(c.enforcement)))
	}
	if c.start > StartEarliest {
		errs = append(errs, fmt.Errorf("start position %d unknown", uint8(c.start)))
	}
	if c.durability > DurabilityNone {
		errs = append(errs, fmt.Errorf("durability policy %d unknown", uint8(c.durability)))
	}
	if c.flushInterval < 0 || c.flushInterval > MaxFlushInterval {
		errs = append(errs, fmt.Errorf("flush interval %v not in [0 (default), %v]", c.flushInterval, MaxFlushInterval))
	}
	if c.dedupWindow < 0 {
		errs = append(errs, fmt.Errorf("dedup window %v is negative", c.dedupWindow))
	}
	if c.dedupMax < 0 {
		errs = append(errs, fmt.Errorf("dedup max ids %d is negative", c.dedupMax))
	}
	if c.now == nil {
		errs = append(errs, errors.New("clock is nil"))
	}
	for _, name := range slices.Sorted(maps.Keys(c.topics)) {
		if _, err := c.enforcement.Check(name); err != nil {
			errs = append(errs, err)
		}
		if err := validateTopicConfig(c.topics[name]); err != nil {
			errs = append(errs, fmt.Errorf("topic %s: %w", name, err))
		}
	}
	if _, err := c.enforcement.Check(c.deadLetterTopic); err != nil {
		errs = append(errs, fmt.Errorf("dead-letter topic (under enforcement %v): %w", c.enforcement, err))
	}
	if err := c.retry.validate(); err != nil {
		errs = append(errs, err)
	}
	if err := c.breaker.validate(); err != nil {
		errs = append(errs, err)
	}
	if c.maxMessageBytes < 1 || c.maxMessageBytes > MaxMessageBytes {
		errs = append(errs, fmt.Errorf("max message bytes %d not in [1, 256 MiB]", c.maxMessageBytes))
	}
	if c.handlerTimeout < 0 {
		errs = append(errs, fmt.Errorf("handler timeout %v is negative", c.handlerTimeout))
	}
	if c.source == "" {
		errs = append(errs, errors.New("source is empty"))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, errors.Join(errs...))
	}
	return nil
}

// validateTopicConfig checks what the log would refuse of tc.
func validateTopicConfig(tc TopicConfig) error {
	var errs []error
	if tc.Partitions < 1 || tc.Partitions > MaxPartitions {
		errs = append(errs, fmt.Errorf("partitions %d not in [1, %d]", tc.Partitions, MaxPartitions))
	}
	if r := tc.Retention; r.MaxMessages < 0 || r.MaxBytes < 0 || r.MaxAge < 0 {
		errs = append(errs, fmt.Errorf("retention %+v has a negative bound", r))
	}
	if tc.Format > wal.FormatKafka {
		errs = append(errs, fmt.Errorf("format %d unknown", tc.Format))
	}
	return errors.Join(errs...)
}

// Option configures New.
type Option func(*config)

// DefaultDataDir is where New keeps its bbolt file when neither WithStore
// nor WithDataDir is given: onexbus-data in the working directory.
const DefaultDataDir = "onexbus-data"

// WithStore sets the store the log lives on instead of the bbolt file in
// the data directory; the bus closes it on Close. transport/memory.New
// passes a memory store.
func WithStore(s store.Store) Option { return func(c *config) { c.store = s } }

// WithDataDir sets the directory of the default store, a bbolt file
// named onexbus.db (default DefaultDataDir). It is created if missing.
func WithDataDir(dir string) Option { return func(c *config) { c.dataDir = dir } }

// WithDurability sets when Publish returns: DurabilitySync (default:
// after the group commit holding the message is fsync'd),
// DurabilityInterval (the log syncs every interval) or DurabilityNone.
func WithDurability(p wal.Policy, interval time.Duration) Option {
	return func(c *config) { c.durability, c.flushInterval = p, interval }
}

// WithCommitWait bounds how long the log's group commit waits, after a
// commit that held several synchronous publishes, for the publishers it
// released to publish again, so that commits fill (wal.WithCommitWait):
// at most half that commit's duration and at most max, ending as soon as
// every one is back. Default wal.DefaultCommitWait (1 ms); 0 commits at
// once. At most 10ms.
func WithCommitWait(max time.Duration) Option { return func(c *config) { c.commitWait = max } }

// WithLogger sets the logger; nil discards.
func WithLogger(l hclog.Logger) Option {
	return func(c *config) {
		if l == nil {
			l = hclog.NewNullLogger()
		}
		c.logger = l
	}
}

// WithSource sets the source header given to messages that have none
// (default "onexbus").
func WithSource(s string) Option { return func(c *config) { c.source = s } }

// WithEnforcement sets how topics that do not follow the ONEX grammar are
// treated: EnforceWarn (default) logs, EnforceReject fails, EnforceOff
// ignores. Kafka's name rules are enforced in every mode.
func WithEnforcement(e Enforcement) Option { return func(c *config) { c.enforcement = e } }

// WithDefaultTopicConfig sets the configuration of topics created on
// first use (default: 1 partition, no retention bound).
func WithDefaultTopicConfig(tc TopicConfig) Option { return func(c *config) { c.defaultTopic = tc } }

// WithSubscribersHoldRetention(true) makes every subscribed group hold
// retention of the topics it subscribes to, as HoldRetention does: from
// Subscribe until its Unsubscribe, MaxMessages, MaxBytes and MaxAge never
// drop a message that the member's group has not consumed (committed).
// Consumed messages are dropped down to the bounds as usual, so a bounded
// topic whose subscribers keep up holds about its bound, while one whose
// subscriber lags grows past it. Default false: retention drops the
// oldest messages whoever has read them (the memory bus,
// transport/memory, turns it on). HTTP pull and push groups
// (transport/http) are Subscriptions and hold; groups consuming over the
// Kafka protocol (and callers of Fetch and CommitOffset) are not and do
// not: pair them with HoldRetention.
func WithSubscribersHoldRetention(on bool) Option {
	return func(c *config) { c.subscribersHold = on }
}

// WithTopic creates (or grows) a topic with its own configuration.
func WithTopic(name string, tc TopicConfig) Option {
	return func(c *config) { c.topics[name] = tc }
}

// WithDedup sets the window within which a message_id published twice is
// stored once (default 2 minutes; 0 turns dedup off) and the most ids
// remembered per topic (default 100,000).
func WithDedup(window time.Duration, maxIDs int) Option {
	return func(c *config) { c.dedupWindow, c.dedupMax = window, maxIDs }
}

// WithRetry sets the default retry policy of subscriptions.
func WithRetry(r RetryPolicy) Option { return func(c *config) { c.retry = r } }

// WithBreaker sets the circuit breaker of every (topic, group)
// subscriber (default DefaultBreakerPolicy(): 5 failures, 30 s).
func WithBreaker(p BreakerPolicy) Option { return func(c *config) { c.breaker = p } }

// WithDeadLetterTopic sets the topic that receives the dead letters of
// topics outside the ONEX grammar (default DefaultDeadLetterTopic).
//
// Under EnforceReject the default is DefaultRejectDeadLetterTopic, and a
// topic given here must follow the ONEX grammar.
func WithDeadLetterTopic(topic string) Option {
	return func(c *config) { c.deadLetterTopic, c.deadLetterSet = topic, true }
}

// WithStartPosition sets where new consumer groups begin (default
// StartLatest).
func WithStartPosition(s StartPosition) Option { return func(c *config) { c.start = s } }

// WithMaxMessageBytes sets the largest encoded message Publish accepts:
// 1 to MaxMessageBytes (256 MiB), default 1 MiB, Kafka's default.
func WithMaxMessageBytes(n int) Option { return func(c *config) { c.maxMessageBytes = n } }

// WithHandlerTimeout bounds each handler call; a call that runs past it
// has its context cancelled and counts as a failure. Zero (the default)
// means no bound.
func WithHandlerTimeout(d time.Duration) Option { return func(c *config) { c.handlerTimeout = d } }

// WithClock sets the clock used for timestamps, retention by age and
// the dedup window (default: the system clock, as time.Now, read by a
// cheaper route that follows a step of the system clock within a
// millisecond); nil is an error. Waits (retry delays, a breaker's
// open wait) are elapsed time on timers and the monotonic clock, so a
// step of this clock neither extends nor shortens them.
func WithClock(now func() time.Time) Option { return func(c *config) { c.now = now } }
