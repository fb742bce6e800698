package wal

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"slices"
	"strings"

	"github.com/onexbus/onexbus/store"
)

// Topic configuration in the meta bucket, under topic/<name>:
//
//	0x02 | partitions u32 | maxMessages u64 | maxBytes u64 | maxAge u64 |
//	format u8 | topic id [16] | crc u32
//
// crc is CRC-32C of the key followed by the bytes before it. The start
// offset of each partition, under start/<topic>/<part>, is offset u64 |
// crc u32 the same way. The cluster id, under cluster, is 16 random bytes
// | crc u32.
const (
	topicConfigVersion = 2
	topicConfigSize    = 1 + 4 + 8 + 8 + 8 + 1 + 16 + 4
)

var clusterKey = []byte("cluster")

func topicKey(name string) []byte { return []byte("topic/" + name) }

// appendChecked appends crc32c(key || dst[start:]) to dst.
func appendChecked(dst []byte, start int, key []byte) []byte {
	crc := crc32.Update(crc32.Checksum(key, castagnoli), castagnoli, dst[start:])
	return binary.BigEndian.AppendUint32(dst, crc)
}

// checked returns the body of a value written by appendChecked under key,
// or false if its checksum does not match.
func checked(key, v []byte) ([]byte, bool) {
	if len(v) < 4 {
		return nil, false
	}
	body := v[:len(v)-4]
	return body, crc32.Update(crc32.Checksum(key, castagnoli), castagnoli, body) == binary.BigEndian.Uint32(v[len(body):])
}

func encodeTopicConfig(key []byte, c TopicConfig, id [16]byte) []byte {
	b := make([]byte, 0, topicConfigSize)
	b = append(b, topicConfigVersion)
	b = binary.BigEndian.AppendUint32(b, uint32(c.Partitions))
	b = binary.BigEndian.AppendUint64(b, uint64(c.Retention.MaxMessages))
	b = binary.BigEndian.AppendUint64(b, uint64(c.Retention.MaxBytes))
	b = binary.BigEndian.AppendUint64(b, uint64(c.Retention.MaxAge))
	b = append(b, byte(c.Format))
	b = append(b, id[:]...)
	return appendChecked(b, 0, key)
}

// decodeTopicConfig decodes a topic's stored configuration; the reason
// says what is wrong with a damaged one.
func decodeTopicConfig(key, v []byte) (TopicConfig, [16]byte, string) {
	var id [16]byte
	if len(v) != topicConfigSize {
		return TopicConfig{}, id, fmt.Sprintf("topic configuration of %d bytes, want %d", len(v), topicConfigSize)
	}
	b, ok := checked(key, v)
	if !ok {
		return TopicConfig{}, id, "topic configuration checksum mismatch"
	}
	if b[0] != topicConfigVersion {
		return TopicConfig{}, id, fmt.Sprintf("topic configuration version %d", b[0])
	}
	var c TopicConfig
	c.Partitions = int32(binary.BigEndian.Uint32(b[1:]))
	c.Retention.MaxMessages = int64(binary.BigEndian.Uint64(b[5:]))
	c.Retention.MaxBytes = int64(binary.BigEndian.Uint64(b[13:]))
	c.Retention.MaxAge = timeDuration(binary.BigEndian.Uint64(b[21:]))
	c.Format = Format(b[29])
	copy(id[:], b[30:46])
	if err := c.validate(); err != nil {
		return TopicConfig{}, id, err.Error()
	}
	return c, id, ""
}

func encodeStart(key []byte, off int64) []byte {
	return appendChecked(binary.BigEndian.AppendUint64(make([]byte, 0, 12), uint64(off)), 0, key)
}

func validTopicName(name string) error {
	if name == "" || strings.ContainsAny(name, "/\x00") {
		return fmt.Errorf("%w: topic name %q is empty or holds '/' or NUL", ErrInvalidTopicConfig, name)
	}
	return nil
}

func newID() ([16]byte, error) {
	var id [16]byte
	if _, err := rand.Read(id[:]); err != nil {
		return id, fmt.Errorf("wal: random id: %w", err)
	}
	id[6] = id[6]&0x0f | 0x40 // a version-4 UUID, as Kafka's topic ids are
	id[8] = id[8]&0x3f | 0x80
	return id, nil
}

// CreateTopic creates the topic with cfg, or grows an existing topic to
// cfg.Partitions and sets its retention. It returns true if the topic is
// new. Shrinking the partition count, or changing the format, is an error
// wrapping ErrInvalidTopicConfig, as in Kafka. A new topic gets a random
// id (TopicID), persisted with its configuration.
func (l *Log) CreateTopic(name string, cfg TopicConfig) (bool, error) {
	if l.closed.Load() {
		return false, ErrClosed
	}
	if err := validTopicName(name); err != nil {
		return false, err
	}
	if err := cfg.validate(); err != nil {
		return false, fmt.Errorf("wal: create topic %s: %w", name, err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.deleting[name] {
		return false, fmt.Errorf("wal: create topic %s: %w", name, ErrTopicDeleting)
	}
	old := l.topics[name]
	if old != nil && cfg.Partitions < old.cfg.Partitions {
		return false, fmt.Errorf("wal: create topic %s: %w: cannot shrink from %d to %d partitions",
			name, ErrInvalidTopicConfig, old.cfg.Partitions, cfg.Partitions)
	}
	if old != nil && cfg.Format != old.cfg.Format {
		return false, fmt.Errorf("wal: create topic %s: %w: its format is %s, not %s",
			name, ErrInvalidTopicConfig, old.cfg.Format, cfg.Format)
	}
	if old != nil && old.cfg == cfg {
		return false, nil
	}
	var id [16]byte
	if old != nil {
		id = old.id
	} else {
		var err error
		if id, err = newID(); err != nil {
			return false, err
		}
	}
	if err := l.putTopicLocked(name, cfg, id); err != nil {
		return false, fmt.Errorf("wal: create topic %s: %w", name, err)
	}
	return old == nil, nil
}

// putTopicLocked stores a topic's configuration and installs it.
func (l *Log) putTopicLocked(name string, cfg TopicConfig, id [16]byte) error {
	err := l.st.Update(func(tx store.Tx) error {
		meta, err := tx.CreateBucket(bucketMeta)
		if err != nil {
			return err
		}
		key := topicKey(name)
		return meta.Put(key, encodeTopicConfig(key, cfg, id))
	})
	if err != nil {
		return err
	}
	l.installTopicLocked(name, cfg).id = id
	return nil
}

// CreatePartitions grows a topic to total partitions, as Kafka's
// CreatePartitions. Fewer than it has is an error wrapping
// ErrInvalidTopicConfig; the same count changes nothing.
func (l *Log) CreatePartitions(ctx context.Context, name string, total int32) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	cfg, ok := l.Topic(name)
	if !ok {
		return fmt.Errorf("wal: create partitions of %s: %w", name, ErrUnknownTopic)
	}
	if total < cfg.Partitions {
		return fmt.Errorf("wal: create partitions of %s: %w: cannot shrink from %d to %d partitions",
			name, ErrInvalidTopicConfig, cfg.Partitions, total)
	}
	cfg.Partitions = total
	_, err := l.CreateTopic(name, cfg)
	return err
}

// SetRetention sets a topic's retention; it applies from each partition's
// next commit.
func (l *Log) SetRetention(ctx context.Context, name string, r Retention) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	cfg, ok := l.Topic(name)
	if !ok {
		return fmt.Errorf("wal: set retention of %s: %w", name, ErrUnknownTopic)
	}
	cfg.Retention = r
	_, err := l.CreateTopic(name, cfg)
	return err
}

// TopicID returns the random id a topic got when it was created (Kafka's
// topic id, a version-4 UUID) and whether the topic exists.
func (l *Log) TopicID(name string) ([16]byte, bool) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	t := l.topics[name]
	if t == nil {
		return [16]byte{}, false
	}
	return t.id, true
}

// ClusterID returns the store's cluster id: 16 random bytes chosen at the
// first Open of the store, in Kafka's form (unpadded URL-safe base64, 22
// characters).
func (l *Log) ClusterID() string { return l.clusterID }

// installTopicLocked adds or updates the in-memory state of a topic whose
// config is stored. Existing partitions keep their state.
func (l *Log) installTopicLocked(name string, cfg TopicConfig) *topicLog {
	t := l.topics[name]
	if t == nil {
		t = &topicLog{name: name}
		l.topics[name] = t
	}
	t.cfg = cfg
	parts := slices.Clone(t.parts)
	for id := int32(len(parts)); id < cfg.Partitions; id++ {
		p := newPartition(name, id, cfg.Format)
		p.tail.budget = l.spares
		if l.holding() {
			// Held until the first commit computes its floor: appends
			// before it must not let count retention move the start.
			p.floor.Store(0)
		}
		parts = append(parts, p)
		l.parts = append(l.parts, p)
	}
	for _, p := range parts {
		p.mu.Lock()
		p.retention = cfg.Retention
		p.mu.Unlock()
	}
	t.parts = parts
	return t
}

// DeleteTopic deletes a topic and all its records, as Kafka's
// DeleteTopics: its partitions' data, index and start offsets go in one
// store transaction, and its name is free for a new topic (with a new
// id). Appends waiting for a commit of its records get ErrUnknownTopic;
// Watch calls on it fire. Group cursors, failure histories and in-flight
// marks on the topic are deleted too.
func (l *Log) DeleteTopic(ctx context.Context, name string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if l.closed.Load() {
		return ErrClosed
	}
	l.mu.Lock()
	t := l.topics[name]
	if t == nil {
		l.mu.Unlock()
		return fmt.Errorf("wal: delete topic %s: %w", name, ErrUnknownTopic)
	}
	// Out of the maps first, so the committer no longer takes its
	// partitions; then a commit round barrier, so none is being written.
	// Until its buckets are gone the name cannot be created again: a new
	// topic's first commit would write into them.
	delete(l.topics, name)
	if l.deleting == nil {
		l.deleting = make(map[string]bool)
	}
	l.deleting[name] = true
	l.parts = slices.DeleteFunc(slices.Clone(l.parts), func(p *partition) bool { return p.topic == name })
	l.mu.Unlock()
	var watchers []*watcher
	var waiters []waiter
	for _, p := range t.parts {
		p.mu.Lock()
		p.deleted = true
		p.dropAbortedLocked() // out of the log's aborted-index total (txn_index.go)
		p.tail.dropSpare()    // and out of its spare arrays' (tail.go)
		p.wakeLocked()
		watchers = append(watchers, p.takeWatchersLocked(0, true)...)
		waiters = append(waiters, p.takeWaitersLocked(1<<62)...)
		p.mu.Unlock()
	}
	for _, w := range waiters {
		w.done.AppendDone(fmt.Errorf("wal: topic %s deleted: %w", name, ErrUnknownTopic))
	}
	fireAll(watchers)
	defer func() {
		l.mu.Lock()
		delete(l.deleting, name)
		l.mu.Unlock()
	}()
	if err := l.commitBarrier(ctx); err != nil {
		return fmt.Errorf("wal: delete topic %s: %w", name, err)
	}
	err := l.st.Update(func(tx store.Tx) error {
		meta, err := tx.CreateBucket(bucketMeta)
		if err != nil {
			return err
		}
		if err := meta.Delete(topicKey(name)); err != nil {
			return err
		}
		for _, p := range t.parts {
			for _, b := range [][]byte{p.data, p.index} {
				if err := tx.DeleteBucket(b); err != nil && !errors.Is(err, store.ErrBucketNotFound) {
					return err
				}
			}
			if err := meta.Delete(p.startK); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("wal: delete topic %s: %w", name, err)
	}
	if err := l.forgetTopicState(ctx, name); err != nil {
		return fmt.Errorf("wal: delete topic %s: group state: %w", name, err)
	}
	return nil
}

// commitBarrier waits until a commit round that started after the call
// has finished, whatever its outcome.
func (l *Log) commitBarrier(ctx context.Context) error {
	l.genMu.Lock()
	g := l.gen
	l.genMu.Unlock()
	l.kickCommitter()
	select {
	case <-g.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-l.done:
		return ErrClosed
	}
}

// clusterIDString is the Kafka form of a cluster id.
func clusterIDString(id []byte) string { return base64.RawURLEncoding.EncodeToString(id) }
