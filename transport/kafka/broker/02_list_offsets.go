package broker

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/internal/kbatch"

	"github.com/onexbus/onexbus/transport/auth"
)

// ListOffsets special timestamps.
const (
	listLatest       = -1
	listEarliest     = -2
	listMaxTimestamp = -3
)

// handleListOffsets answers earliest (-2), latest (-1; under
// read_committed the last stable offset), max
// timestamp (-3) and by time: the first record, not batch, whose
// timestamp is at or after T, with that record's timestamp. A time after
// every record gives offset -1 and timestamp -1, as Kafka does.
func handleListOffsets(c *conn, _ *connInfo, kreq kmsg.Request, reply func(kmsg.Response)) {
	s := c.s
	req := kreq.(*kmsg.ListOffsetsRequest)
	resp := req.ResponseKind().(*kmsg.ListOffsetsResponse)
	for _, rt := range req.Topics {
		t := kmsg.NewListOffsetsResponseTopic()
		t.Topic = rt.Topic
		_, known := s.kl.Topic(rt.Topic)
		for _, rp := range rt.Partitions {
			p := kmsg.NewListOffsetsResponseTopicPartition()
			p.Partition = rp.Partition
			p.Timestamp, p.Offset, p.LeaderEpoch = -1, -1, 0
			code := kerr.TopicAuthorizationFailed
			if !s.denied(c, auth.ResourceTopic, rt.Topic, auth.OpDescribe) {
				code = s.listOffset(c, rt.Topic, known, rp, &p, req.IsolationLevel == 1)
			}
			if code != nil {
				p.ErrorCode = code.Code
				p.Timestamp, p.Offset, p.LeaderEpoch = -1, -1, -1
			}
			t.Partitions = append(t.Partitions, p)
		}
		resp.Topics = append(resp.Topics, t)
	}
	reply(resp)
}

func (s *Server) listOffset(c *conn, topic string, known bool, rp kmsg.ListOffsetsRequestTopicPartition, p *kmsg.ListOffsetsResponseTopicPartition, committed bool) *kerr.Error {
	if !known {
		return kerr.UnknownTopicOrPartition
	}
	if rp.CurrentLeaderEpoch > 0 {
		return kerr.UnknownLeaderEpoch
	}
	start, end, err := s.kl.Offsets(topic, rp.Partition)
	if err != nil {
		return logErrorCode(err)
	}
	switch ts := rp.Timestamp; {
	case ts == listEarliest:
		p.Offset = start
	case ts == listLatest:
		p.Offset = end
		if committed {
			lso, err := s.kl.LastStableOffset(topic, rp.Partition)
			if err != nil {
				return logErrorCode(err)
			}
			p.Offset = min(lso, end)
		}
	case ts == listMaxTimestamp:
		mts, off, err := s.kl.MaxTimestamp(c.ctx, topic, rp.Partition)
		if err != nil {
			return logErrorCode(err)
		}
		p.Timestamp, p.Offset = mts, off
	case ts >= 0:
		off, err := s.kl.OffsetForTime(c.ctx, topic, rp.Partition, ts)
		if err != nil {
			return logErrorCode(err)
		}
		if off >= end {
			return nil // no record at or after ts: -1, -1
		}
		p.Offset = max(off, start)
		p.Timestamp = s.recordTimestamp(c, topic, rp.Partition, p.Offset, ts)
	default:
		return kerr.InvalidRequest
	}
	return nil
}

// recordTimestamp returns the timestamp (ms) of the record at off, read
// from its batch; fallback when the batch cannot be read.
func (s *Server) recordTimestamp(c *conn, topic string, part int32, off, fallback int64) int64 {
	b, _, err := s.kl.ReadBatches(c.ctx, topic, part, off, 1, nil)
	if err != nil || len(b) == 0 {
		return fallback
	}
	h, err := kbatch.ParseHeader(b)
	if err != nil {
		return fallback
	}
	if h.LogAppendTime() {
		return h.MaxTimestamp
	}
	records, err := kbatch.Decompress(h, b[:min(h.Len(), len(b))], nil)
	if err != nil {
		return fallback
	}
	ts := fallback
	idx := off - h.BaseOffset
	err = kbatch.ForEachRecord(h, records, func(r *kbatch.Record) error {
		if int64(r.OffsetDelta) == idx {
			ts = h.FirstTimestamp + r.TimestampDelta
			return errStopWalk
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStopWalk) {
		return fallback
	}
	return ts
}

var errStopWalk = errors.New("stop")

// logErrorCode maps a log error on a read path.
func logErrorCode(err error) *kerr.Error {
	switch {
	case errors.Is(err, core.ErrUnknownTopic), errors.Is(err, core.ErrInvalidPartition):
		return kerr.UnknownTopicOrPartition
	case errors.Is(err, core.ErrClosed):
		return kerr.NotLeaderForPartition
	}
	return kerr.KafkaStorageError
}
