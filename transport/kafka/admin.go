package kafka

import (
	"context"
	"errors"
	"fmt"
	"sort"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Admin manages topics of the upstream Kafka and reports consumer lag,
// through kadm. Every call is bounded by KAFKA_TIMEOUT_SECONDS unless its
// context ends sooner. Safe for concurrent use.
type Admin struct {
	cl      *kgo.Client
	adm     *kadm.Client
	timeout Config
}

// NewAdmin connects an admin client to the cluster of cfg. Close it.
func NewAdmin(cfg Config) (*Admin, error) {
	cfg = cfg.resolved()
	opts, err := cfg.ClientOptions()
	if err != nil {
		return nil, fmt.Errorf("kafka: new admin: %w", err)
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("kafka: new admin: %w", err)
	}
	return &Admin{cl: cl, adm: kadm.NewClient(cl), timeout: cfg}, nil
}

// Close closes the client.
func (a *Admin) Close() { a.cl.Close() }

func (a *Admin) ctx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, a.timeout.v.Timeout)
}

// CreateTopic creates topic with partitions and replicationFactor (-1:
// the broker's default). An existing topic is an error wrapping
// kerr.TopicAlreadyExists.
func (a *Admin) CreateTopic(ctx context.Context, topic string, partitions int32, replicationFactor int16) error {
	ctx, cancel := a.ctx(ctx)
	defer cancel()
	r, err := a.adm.CreateTopic(ctx, partitions, replicationFactor, nil, topic)
	if err == nil {
		err = r.Err
	}
	if err != nil {
		return fmt.Errorf("kafka: create topic %s: %w", topic, err)
	}
	return nil
}

// DeleteTopic deletes topic.
func (a *Admin) DeleteTopic(ctx context.Context, topic string) error {
	ctx, cancel := a.ctx(ctx)
	defer cancel()
	r, err := a.adm.DeleteTopic(ctx, topic)
	if err == nil {
		err = r.Err
	}
	if err != nil {
		return fmt.Errorf("kafka: delete topic %s: %w", topic, err)
	}
	return nil
}

// SetPartitions grows topic to partitions partitions (Kafka never
// shrinks a topic).
func (a *Admin) SetPartitions(ctx context.Context, topic string, partitions int) error {
	ctx, cancel := a.ctx(ctx)
	defer cancel()
	rs, err := a.adm.UpdatePartitions(ctx, partitions, topic)
	if err == nil {
		var r kadm.CreatePartitionsResponse
		r, err = rs.On(topic, nil)
		if err == nil {
			err = r.Err
		}
	}
	if err != nil {
		return fmt.Errorf("kafka: set partitions of %s to %d: %w", topic, partitions, err)
	}
	return nil
}

// TopicInfo describes a topic.
type TopicInfo struct {
	// Name of the topic.
	Name string
	// Partitions is the partition count.
	Partitions int32
	// ReplicationFactor is the replica count of partition 0.
	ReplicationFactor int
	// Internal is Kafka's internal flag (__consumer_offsets and the like).
	Internal bool
}

// DescribeTopics describes topics, or every topic when none is given,
// sorted by name. A topic the broker reports an error for (an unknown
// topic named explicitly) is left out and its error joined to the result.
func (a *Admin) DescribeTopics(ctx context.Context, topics ...string) ([]TopicInfo, error) {
	ctx, cancel := a.ctx(ctx)
	defer cancel()
	td, err := a.adm.ListTopics(ctx, topics...)
	if err != nil {
		return nil, fmt.Errorf("kafka: describe topics: %w", err)
	}
	var out []TopicInfo
	var errs []error
	for _, d := range td {
		if d.Err != nil {
			errs = append(errs, fmt.Errorf("kafka: describe topic %s: %w", d.Topic, d.Err))
			continue
		}
		ti := TopicInfo{Name: d.Topic, Partitions: int32(len(d.Partitions)), Internal: d.IsInternal}
		if p, ok := d.Partitions[0]; ok {
			ti.ReplicationFactor = len(p.Replicas)
		}
		out = append(out, ti)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, errors.Join(errs...)
}

// PartitionLag is a group's position in one partition.
type PartitionLag struct {
	Topic     string
	Partition int32
	// Committed is the group's committed offset (-1 if none).
	Committed int64
	// End is the partition's high watermark.
	End int64
	// Lag is End minus Committed (End when nothing is committed).
	Lag int64
}

// Lag returns group's lag on every partition of the topics it consumes,
// sorted by topic and partition.
func (a *Admin) Lag(ctx context.Context, group string) ([]PartitionLag, error) {
	ctx, cancel := a.ctx(ctx)
	defer cancel()
	lags, err := a.adm.Lag(ctx, group)
	if err != nil {
		return nil, fmt.Errorf("kafka: lag of %s: %w", group, err)
	}
	gl, ok := lags[group]
	if !ok {
		return nil, fmt.Errorf("kafka: lag of %s: group not described", group)
	}
	if err := gl.Error(); err != nil {
		return nil, fmt.Errorf("kafka: lag of %s: %w", group, err)
	}
	var out []PartitionLag
	for _, l := range gl.Lag.Sorted() {
		if l.Err != nil {
			return nil, fmt.Errorf("kafka: lag of %s on %s/%d: %w", group, l.Topic, l.Partition, l.Err)
		}
		out = append(out, PartitionLag{Topic: l.Topic, Partition: l.Partition, Committed: l.Commit.At, End: l.End.Offset, Lag: l.Lag})
	}
	return out, nil
}
