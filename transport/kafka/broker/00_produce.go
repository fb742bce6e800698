package broker

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/internal/kbatch"
	"github.com/onexbus/onexbus/transport/auth"
	"github.com/onexbus/onexbus/wal"
)

// handleProduce validates each partition's batch and queues it on the log
// in request order; the response is sent once every batch is durable
// (acks 1 and -1 are the same on one node: after the fsync of the group
// commit holding the batch). acks=0 gets no response; a failure then
// closes the connection so the producer notices, as Kafka does.
//
// The error codes never claim a write did not happen when it may have:
// storage failures are KAFKA_STORAGE_ERROR and a shutdown mid-commit is
// REQUEST_TIMED_OUT, both retryable, and an idempotent retry is answered
// with the original offset.
func handleProduce(c *conn, _ *connInfo, kreq kmsg.Request, reply func(kmsg.Response)) {
	s := c.s
	req := kreq.(*kmsg.ProduceRequest)
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	acks := req.Acks
	if acks != 0 && acks != 1 && acks != -1 {
		for _, rt := range req.Topics {
			t := kmsg.NewProduceResponseTopic()
			t.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				t.Partitions = append(t.Partitions, produceError(rp.Partition, kerr.InvalidRequiredAcks, ""))
			}
			resp.Topics = append(resp.Topics, t)
		}
		reply(resp)
		return
	}
	resp.Topics = make([]kmsg.ProduceResponseTopic, len(req.Topics))
	// pending counts the batches still waiting for their commit, plus one
	// for this loop, so the response goes out after the last of them.
	var pending atomic.Int64
	pending.Add(1)
	var failed atomic.Pointer[string] // acks=0: why to close
	finish := func() {
		if pending.Add(-1) != 0 {
			return
		}
		if acks == 0 {
			if why := failed.Load(); why != nil {
				c.close(fmt.Errorf("acks=0 produce failed: %s", *why))
			}
			return
		}
		reply(resp)
	}
	if acks == 0 {
		reply(nil)
	}
	for ti, rt := range req.Topics {
		t := &resp.Topics[ti]
		*t = kmsg.NewProduceResponseTopic()
		t.Topic = rt.Topic
		t.Partitions = make([]kmsg.ProduceResponseTopicPartition, len(rt.Partitions))
		topicCode, topicMsg := s.produceTopicCheck(c, rt.Topic)
		for pi, rp := range rt.Partitions {
			slot := &t.Partitions[pi]
			*slot = produceError(rp.Partition, nil, "")
			fail := func(e *kerr.Error, msg string) {
				*slot = produceError(rp.Partition, e, msg)
				if acks == 0 {
					why := fmt.Sprintf("%s/%d: %s %s", rt.Topic, rp.Partition, e.Message, msg)
					failed.CompareAndSwap(nil, &why)
				}
			}
			if topicCode != nil {
				fail(topicCode, topicMsg)
				continue
			}
			batch := rp.Records
			if max := s.maxMessageBytes(rt.Topic); len(batch) > max {
				fail(kerr.MessageTooLarge, fmt.Sprintf("batch of %d bytes, max.message.bytes is %d", len(batch), max))
				continue
			}
			h, err := kbatch.Validate(batch, kbatch.ValidateOptions{Decompress: true, Scratch: &c.scratch})
			if err != nil {
				fail(batchErrorCode(err), err.Error())
				continue
			}
			var release func()
			if h.Transactional() || req.TransactionID != nil {
				// Held until the batch is queued: its transaction cannot
				// end (and write its marker) in between.
				code := s.produceTxnDenied(c, req.TransactionID)
				if code != nil {
					fail(code, "")
					continue
				}
				if release, code = s.txns.admitProduce(req.TransactionID, &h, rt.Topic, rp.Partition); code != nil {
					fail(code, "")
					continue
				}
			}
			if err := s.validateRecords(c, rt.Topic, h, batch); err != nil {
				if release != nil {
					release()
				}
				fail(kerr.InvalidRecord, err.Error())
				continue
			}
			pending.Add(1)
			part := rp.Partition
			err = s.kl.AppendBatch(c.ctx, rt.Topic, part, batch, func(res core.BatchResult) {
				c.guard("produce completion", func() {
					if res.Err != nil {
						e := kerr.KafkaStorageError
						if errors.Is(res.Err, wal.ErrClosed) || errors.Is(res.Err, core.ErrClosed) {
							e = kerr.RequestTimedOut
						}
						s.log.Warn("kafka: produce commit failed", "topic", rt.Topic, "partition", part, "error", res.Err)
						fail(e, "")
					} else {
						slot.BaseOffset = res.BaseOffset
						if start, _, err := s.kl.Offsets(rt.Topic, part); err == nil {
							slot.LogStartOffset = start
						}
					}
				})
				finish()
			})
			if release != nil {
				release()
			}
			if err != nil {
				pending.Add(-1)
				e, msg := appendErrorCode(err)
				fail(e, msg)
			}
		}
	}
	finish()
}

func produceError(part int32, e *kerr.Error, msg string) kmsg.ProduceResponseTopicPartition {
	p := kmsg.NewProduceResponseTopicPartition()
	p.Partition = part
	p.BaseOffset = -1
	p.LogAppendTime = -1
	p.LogStartOffset = -1
	if e != nil {
		p.ErrorCode = e.Code
		if msg != "" {
			p.ErrorMessage = &msg
		}
	}
	return p
}

// produceTopicCheck finds (or auto-creates) a produce's topic; it returns
// the error for every partition of it, or nil.
func (s *Server) produceTopicCheck(c *conn, topic string) (*kerr.Error, string) {
	if s.denied(c, auth.ResourceTopic, topic, auth.OpWrite) {
		return kerr.TopicAuthorizationFailed, ""
	}
	if _, ok := s.kl.Topic(topic); ok {
		return nil, ""
	}
	switch code := s.autoCreate(c, topic, s.cfg.autoCreate); code {
	case 0:
		return nil, ""
	default:
		return kerr.ErrorForCode(code).(*kerr.Error), ""
	}
}

// batchErrorCode maps a validation failure to Kafka's code: damaged bytes
// are CORRUPT_MESSAGE, rule violations INVALID_RECORD.
func batchErrorCode(err error) *kerr.Error {
	switch {
	case errors.Is(err, kbatch.ErrCRC), errors.Is(err, kbatch.ErrTruncated), errors.Is(err, kbatch.ErrLength),
		errors.Is(err, kbatch.ErrMagic), errors.Is(err, kbatch.ErrDecompress), errors.Is(err, kbatch.ErrRecord),
		errors.Is(err, kbatch.ErrRecordsLeft):
		return kerr.CorruptMessage
	case errors.Is(err, kbatch.ErrTooLarge):
		return kerr.MessageTooLarge
	}
	return kerr.InvalidRecord
}

// appendErrorCode maps an AppendBatch refusal (nothing was queued).
func appendErrorCode(err error) (*kerr.Error, string) {
	switch {
	case errors.Is(err, wal.ErrOutOfOrderSequence):
		return kerr.OutOfOrderSequenceNumber, err.Error()
	case errors.Is(err, wal.ErrInvalidProducerEpoch):
		return kerr.InvalidProducerEpoch, err.Error()
	case errors.Is(err, core.ErrMessageTooLarge):
		return kerr.MessageTooLarge, err.Error()
	case errors.Is(err, core.ErrUnknownTopic), errors.Is(err, core.ErrInvalidPartition):
		return kerr.UnknownTopicOrPartition, err.Error()
	case errors.Is(err, wal.ErrInvalidBatch):
		return kerr.CorruptMessage, err.Error()
	case errors.Is(err, wal.ErrWrongFormat):
		return kerr.InvalidRecord, "topic is stored in onexbus's own format; produce to a topic created by a Kafka client"
	case errors.Is(err, core.ErrClosed):
		return kerr.NotLeaderForPartition, "broker shutting down"
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return kerr.RequestTimedOut, ""
	}
	return kerr.KafkaStorageError, err.Error()
}
