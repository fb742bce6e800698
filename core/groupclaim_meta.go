package core

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"

	"github.com/onexbus/onexbus/store"
)

// A broker's group coordinator keeps the membership of its Kafka consumer
// groups (generation, members, assignments) so that a restart does not
// force every member to rejoin. The bus stores it as one opaque value per
// group in a bucket of its own, beside the log's and the dead-letter
// queue's, with a CRC-32C: the store checksums only its own pages.

var bucketGroupMeta = []byte("kafka-group-meta")

var groupMetaCRC = crc32.MakeTable(crc32.Castagnoli)

// groupMetaVersion is the first byte of a stored value.
const groupMetaVersion = 1

// SaveGroupMetadata stores data as the Kafka-protocol metadata of group,
// replacing what was there; nil data deletes it. It returns once the
// store committed it (durable under the sync policy), or ErrClosed,
// ErrInvalidGroup, or the store's error.
func (b *Bus) SaveGroupMetadata(group string, data []byte) error {
	if err := validGroupName(group); err != nil {
		return err
	}
	if b.closed.Load() {
		return ErrClosed
	}
	err := b.cfg.store.Update(func(tx store.Tx) error {
		bk, err := tx.CreateBucket(bucketGroupMeta)
		if err != nil {
			return err
		}
		if data == nil {
			return bk.Delete([]byte(group))
		}
		v := make([]byte, 0, 1+len(data)+4)
		v = append(v, groupMetaVersion)
		v = append(v, data...)
		v = binary.BigEndian.AppendUint32(v, crc32.Checksum(v, groupMetaCRC))
		return bk.Put([]byte(group), v)
	})
	if errors.Is(err, store.ErrClosed) {
		return ErrClosed
	}
	if err != nil {
		return fmt.Errorf("onexbus: save metadata of group %s: %w", group, err)
	}
	return nil
}

// GroupMetadata returns the stored Kafka-protocol metadata of every group,
// copied out of the store. A damaged value (bad CRC, unknown version) is
// left out with a logged warning: the group's members rejoin, which loses
// nothing but a rebalance.
func (b *Bus) GroupMetadata() (map[string][]byte, error) {
	if b.closed.Load() {
		return nil, ErrClosed
	}
	out := make(map[string][]byte)
	err := b.cfg.store.View(func(tx store.Tx) error {
		bk := tx.Bucket(bucketGroupMeta)
		if bk == nil {
			return nil
		}
		c := bk.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if len(v) < 5 || v[0] != groupMetaVersion ||
				crc32.Checksum(v[:len(v)-4], groupMetaCRC) != binary.BigEndian.Uint32(v[len(v)-4:]) {
				b.cfg.logger.Warn("damaged Kafka group metadata ignored; its members rejoin", "group", string(k), "bytes", len(v))
				continue
			}
			out[string(k)] = append([]byte(nil), v[1:len(v)-4]...)
		}
		return nil
	})
	if errors.Is(err, store.ErrClosed) {
		return nil, ErrClosed
	}
	if err != nil {
		return nil, fmt.Errorf("onexbus: load Kafka group metadata: %w", err)
	}
	return out, nil
}
