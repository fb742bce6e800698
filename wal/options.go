package wal

import (
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/go-hclog"
)

// Policy says when an append is durable.
type Policy uint8

// Durability policies.
const (
	// PolicySync makes Append return after the group commit holding its
	// records is committed (fsync'd on a durable store). Readers see only
	// committed records. The default.
	PolicySync Policy = iota
	// PolicyInterval makes Append return once the records are queued; the
	// log commits them once every interval (and sooner when a partition
	// queues 16 chunks' worth, or for back-pressure), then syncs the store.
	// A crash loses at most the last interval. Run it on a store that
	// fsyncs every commit (bolt without WithNoSync): with bbolt's NoSync a
	// power loss can damage the whole file, not just lose an interval.
	PolicyInterval
	// PolicyNone makes Append return once the records are queued; the log
	// commits as chunks fill and never asks the store to sync. For memory
	// stores, and for data that may be lost on a crash; on a bolt store
	// opened WithNoSync a power loss (not a process crash) can damage the
	// whole file.
	PolicyNone
)

// String returns sync, interval or none.
func (p Policy) String() string {
	switch p {
	case PolicySync:
		return "sync"
	case PolicyInterval:
		return "interval"
	case PolicyNone:
		return "none"
	}
	return fmt.Sprintf("Policy(%d)", uint8(p))
}

// ParsePolicy parses sync, interval or none.
func ParsePolicy(s string) (Policy, error) {
	switch s {
	case "sync":
		return PolicySync, nil
	case "interval":
		return PolicyInterval, nil
	case "none":
		return PolicyNone, nil
	}
	return 0, fmt.Errorf("%w: durability policy %q is not one of sync, interval, none", ErrInvalidOption, s)
}

// Retention bounds a partition's records; the oldest go first. A zero
// field means no bound of that kind. MaxMessages is exact; MaxBytes and
// MaxAge remove whole chunks, so a partition may hold up to one chunk
// (at most ChunkRecords records) more than they allow.
type Retention struct {
	// MaxMessages keeps at most this many records per partition.
	MaxMessages int64
	// MaxBytes keeps at most about this many stored bytes per partition.
	MaxBytes int64
	// MaxAge drops chunks whose newest record is older than this.
	MaxAge time.Duration
}

// Format is how a topic's records are stored. It is chosen when the topic
// is created and kept for its life.
type Format uint8

// Storage formats.
const (
	// FormatFrames stores onexbus frames: one CRC'd frame per Record given
	// to Append, with its message and correlation ids. The default.
	FormatFrames Format = iota
	// FormatKafka stores Kafka v2 record batches as AppendBatch receives
	// them (chunk version 2): what a Kafka producer sent is what
	// ReadBatches returns, byte for byte, apart from the base offset and
	// leader epoch the log writes.
	FormatKafka
)

// String returns frames or kafka.
func (f Format) String() string {
	switch f {
	case FormatFrames:
		return "frames"
	case FormatKafka:
		return "kafka"
	}
	return fmt.Sprintf("Format(%d)", uint8(f))
}

// TopicConfig configures a topic.
type TopicConfig struct {
	// Partitions is the number of partitions, at least 1.
	Partitions int32
	// Retention bounds each partition.
	Retention Retention
	// Format is the storage format (default FormatFrames). It cannot
	// change once the topic exists.
	Format Format
}

func (c TopicConfig) validate() error {
	var errs []error
	if c.Format > FormatKafka {
		errs = append(errs, fmt.Errorf("format %d unknown", c.Format))
	}
	if c.Partitions < 1 || c.Partitions > maxPartitions {
		errs = append(errs, fmt.Errorf("partitions %d not in [1, %d]", c.Partitions, maxPartitions))
	}
	if c.Retention.MaxMessages < 0 || c.Retention.MaxBytes < 0 || c.Retention.MaxAge < 0 {
		errs = append(errs, errors.New("retention limits must not be negative"))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrInvalidTopicConfig, errors.Join(errs...))
	}
	return nil
}

const maxPartitions = 1 << 16

type config struct {
	policy          Policy
	interval        time.Duration
	logger          hclog.Logger
	dedupWindow     time.Duration
	dedupMax        int
	chunkRecords    int
	chunkBytes      int
	maxRecordBytes  int
	maxPendingBytes int
	now             func() time.Time
	producerExpiry  time.Duration
	observer        Observer
	commitWait      time.Duration // coalesce.go; 0 = commit at once
	txn             txnConfig     // Kafka transaction bounds (txn_options.go)
	// noExtend stores every commit's chunks under keys of their own
	// (extend.go); tests of one layout set it (export_test.go).
	noExtend bool
}

func defaultConfig() config {
	return config{
		policy:          PolicySync,
		interval:        100 * time.Millisecond,
		logger:          hclog.NewNullLogger(),
		dedupWindow:     2 * time.Minute,
		dedupMax:        100_000,
		chunkRecords:    100,
		chunkBytes:      64 << 10,
		maxRecordBytes:  1 << 20,
		maxPendingBytes: 64 << 20,
		now:             time.Now,
		producerExpiry:  24 * time.Hour,
		commitWait:      DefaultCommitWait,
		txn:             defaultTxnConfig(),
	}
}

func (c *config) validate() error {
	var errs []error
	if c.policy > PolicyNone {
		errs = append(errs, fmt.Errorf("policy %d unknown", c.policy))
	}
	if c.interval <= 0 || c.interval > time.Hour {
		errs = append(errs, fmt.Errorf("flush interval %v not in (0, 1h]", c.interval))
	}
	if c.dedupWindow < 0 {
		errs = append(errs, fmt.Errorf("dedup window %v is negative", c.dedupWindow))
	}
	if c.dedupMax < 0 {
		errs = append(errs, fmt.Errorf("dedup entries %d is negative", c.dedupMax))
	}
	if c.chunkRecords < 1 || c.chunkRecords > 100_000 {
		errs = append(errs, fmt.Errorf("chunk records %d not in [1, 100000]", c.chunkRecords))
	}
	if c.chunkBytes < 1<<10 || c.chunkBytes > 64<<20 {
		errs = append(errs, fmt.Errorf("chunk bytes %d not in [1 KiB, 64 MiB]", c.chunkBytes))
	}
	if c.maxRecordBytes < 1 || c.maxRecordBytes > 256<<20 {
		errs = append(errs, fmt.Errorf("max record bytes %d not in [1, 256 MiB]", c.maxRecordBytes))
	}
	if c.commitWait < 0 || c.commitWait > maxCommitWait {
		errs = append(errs, fmt.Errorf("commit wait %v not in [0, %v]", c.commitWait, maxCommitWait))
	}
	if c.producerExpiry < time.Minute {
		errs = append(errs, fmt.Errorf("producer expiry %v below 1m", c.producerExpiry))
	}
	errs = append(errs, c.txn.validate()...)
	if c.maxPendingBytes < c.maxRecordBytes {
		errs = append(errs, fmt.Errorf("max pending bytes %d below max record bytes %d", c.maxPendingBytes, c.maxRecordBytes))
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: %w", ErrInvalidOption, errors.Join(errs...))
	}
	return nil
}

// Option configures Open.
type Option func(*config)

// WithPolicy sets the durability policy (default PolicySync) and, for
// PolicyInterval, the sync interval (default 100ms; ignored otherwise
// except that PolicyNone also commits queued records that often).
func WithPolicy(p Policy, interval time.Duration) Option {
	return func(c *config) {
		c.policy = p
		if interval != 0 {
			c.interval = interval
		}
	}
}

// WithCommitWait bounds how long the committer, after a commit that held
// several synchronous appends, waits for the appenders it released to
// queue again, so that commits fill (see coalesce.go): at most half that
// commit's duration and at most max; the wait ends as soon as every one
// is back, and after a wait that ran to its bound the next waits are
// skipped. Default DefaultCommitWait (1 ms); 0 commits at once. At most
// 10ms.
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

// WithDedup sets the message-id dedup window (default 2 minutes; 0 turns
// dedup off) and the most ids remembered per topic (default 100,000).
// The window is measured on append time, after a restart too. Memory
// grows with the ids seen, about 65 B an id (see dedup.go).
func WithDedup(window time.Duration, maxIDs int) Option {
	return func(c *config) { c.dedupWindow, c.dedupMax = window, maxIDs }
}

// WithChunk sets the most records (default 100) and bytes (default 64 KiB)
// stored under one key. bbolt's cost is per key and per page: chunks that
// stay below a few pages go furthest.
func WithChunk(records, bytes int) Option {
	return func(c *config) { c.chunkRecords, c.chunkBytes = records, bytes }
}

// WithMaxRecordBytes sets the largest payload Append accepts, and the
// largest batch AppendBatch accepts (default 1 MiB, which holds kgo's
// default batch of 1,000,012 bytes; a broker's max.message.bytes must not
// exceed it).
func WithMaxRecordBytes(n int) Option { return func(c *config) { c.maxRecordBytes = n } }

// WithMaxPendingBytes bounds the bytes queued but not yet committed
// (default 64 MiB); Append blocks past it until the committer catches up.
func WithMaxPendingBytes(n int) Option { return func(c *config) { c.maxPendingBytes = n } }

// WithClock sets the clock used for dedup windows and retention by age.
func WithClock(now func() time.Time) Option { return func(c *config) { c.now = now } }

// WithProducerExpiry sets how long an idempotent producer may stay idle on
// a partition before the log forgets its sequence window (default 24h,
// Kafka's producer.id.expiration.ms; at least 1m). A forgotten producer's
// next batch is accepted with any sequence. Short expiries make clients
// that pause fail with OutOfOrderSequence-driven resets: keep it long.
func WithProducerExpiry(d time.Duration) Option { return func(c *config) { c.producerExpiry = d } }
