package broker

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/onexbus/onexbus/transport/auth"
)

// handleCreatePartitions grows topics. As in Kafka, the same count is
// INVALID_PARTITIONS and so is a smaller one; an assignment must name this
// node alone for each new partition.
func handleCreatePartitions(c *conn, _ *connInfo, kreq kmsg.Request, reply func(kmsg.Response)) {
	s := c.s
	req := kreq.(*kmsg.CreatePartitionsRequest)
	resp := req.ResponseKind().(*kmsg.CreatePartitionsResponse)
	for _, rt := range req.Topics {
		t := kmsg.NewCreatePartitionsResponseTopic()
		t.Topic = rt.Topic
		e, msg := func() (*kerr.Error, string) {
			if s.denied(c, auth.ResourceTopic, rt.Topic, auth.OpAlter) {
				return kerr.TopicAuthorizationFailed, ""
			}
			tc, ok := s.kl.Topic(rt.Topic)
			if !ok {
				return kerr.UnknownTopicOrPartition, ""
			}
			if rt.Count <= tc.Partitions {
				return kerr.InvalidPartitions, fmt.Sprintf("topic %s has %d partitions, asked for %d", rt.Topic, tc.Partitions, rt.Count)
			}
			if rt.Assignment != nil {
				if len(rt.Assignment) != int(rt.Count-tc.Partitions) {
					return kerr.InvalidReplicaAssignment, fmt.Sprintf("%d assignments for %d new partitions", len(rt.Assignment), rt.Count-tc.Partitions)
				}
				for _, a := range rt.Assignment {
					if len(a.Replicas) != 1 || a.Replicas[0] != s.cfg.nodeID {
						return kerr.InvalidReplicaAssignment, fmt.Sprintf("replicas %v: this cluster is node %d alone", a.Replicas, s.cfg.nodeID)
					}
				}
			}
			if req.ValidateOnly {
				return nil, ""
			}
			if err := s.kl.CreatePartitions(c.ctx, rt.Topic, rt.Count); err != nil {
				return kerr.InvalidPartitions, err.Error()
			}
			return nil, ""
		}()
		if e != nil {
			t.ErrorCode = e.Code
			if msg != "" {
				t.ErrorMessage = &msg
			}
		}
		resp.Topics = append(resp.Topics, t)
	}
	reply(resp)
}
