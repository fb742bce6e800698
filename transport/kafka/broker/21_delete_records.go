package broker

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/onexbus/onexbus/wal"

	"github.com/onexbus/onexbus/transport/auth"
)

// handleDeleteRecords moves partitions' start offsets (-1: to the end) and
// answers the new low watermarks.
func handleDeleteRecords(c *conn, _ *connInfo, kreq kmsg.Request, reply func(kmsg.Response)) {
	s := c.s
	req := kreq.(*kmsg.DeleteRecordsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteRecordsResponse)
	for _, rt := range req.Topics {
		t := kmsg.NewDeleteRecordsResponseTopic()
		t.Topic = rt.Topic
		_, known := s.kl.Topic(rt.Topic)
		for _, rp := range rt.Partitions {
			p := kmsg.NewDeleteRecordsResponseTopicPartition()
			p.Partition = rp.Partition
			p.LowWatermark = -1
			switch {
			case s.denied(c, auth.ResourceTopic, rt.Topic, auth.OpDelete):
				p.ErrorCode = kerr.TopicAuthorizationFailed.Code
			case !known:
				p.ErrorCode = kerr.UnknownTopicOrPartition.Code
			case rp.Offset < -1:
				p.ErrorCode = kerr.OffsetOutOfRange.Code
			default:
				start, err := s.kl.DeleteRecords(c.ctx, rt.Topic, rp.Partition, rp.Offset)
				switch {
				case err == nil:
					p.LowWatermark = start
				case errors.Is(err, wal.ErrOffsetOutOfRange):
					p.ErrorCode = kerr.OffsetOutOfRange.Code
				default:
					p.ErrorCode = logErrorCode(err).Code
				}
			}
			t.Partitions = append(t.Partitions, p)
		}
		resp.Topics = append(resp.Topics, t)
	}
	reply(resp)
}
