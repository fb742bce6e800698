package broker

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/onexbus/onexbus/core"
)

// handleMetadata describes the one broker (this node: leader, replica and
// ISR of every partition, leader epoch 0) and the topics asked for,
// creating unknown ones when auto-creation is on and the request allows it.
func handleMetadata(c *conn, _ *connInfo, kreq kmsg.Request, reply func(kmsg.Response)) {
	s := c.s
	req := kreq.(*kmsg.MetadataRequest)
	resp := req.ResponseKind().(*kmsg.MetadataResponse)
	host, port := s.advertised()
	resp.Brokers = []kmsg.MetadataResponseBroker{{NodeID: s.cfg.nodeID, Host: host, Port: port}}
	if id := s.kl.ClusterID(); id != "" {
		resp.ClusterID = &id
	}
	resp.ControllerID = s.cfg.nodeID

	all := req.Topics == nil || (req.Version == 0 && len(req.Topics) == 0)
	if all {
		for _, name := range s.kl.Topics() {
			resp.Topics = append(resp.Topics, s.metadataTopic(name))
		}
		reply(resp)
		return
	}
	autoCreate := s.cfg.autoCreate && (req.Version < 4 || req.AllowAutoTopicCreation)
	for _, rt := range req.Topics {
		var name string
		switch {
		case rt.Topic != nil:
			name = *rt.Topic
		case rt.TopicID != [16]byte{}:
			n, ok := s.kl.TopicByID(rt.TopicID)
			if !ok {
				t := kmsg.NewMetadataResponseTopic()
				t.TopicID = rt.TopicID
				t.ErrorCode = kerr.UnknownTopicID.Code
				resp.Topics = append(resp.Topics, t)
				continue
			}
			name = n
		default:
			t := kmsg.NewMetadataResponseTopic()
			t.ErrorCode = kerr.InvalidTopicException.Code
			resp.Topics = append(resp.Topics, t)
			continue
		}
		if _, ok := s.kl.Topic(name); !ok {
			if code := s.autoCreate(c, name, autoCreate); code != 0 {
				t := kmsg.NewMetadataResponseTopic()
				t.Topic = &name
				t.ErrorCode = code
				resp.Topics = append(resp.Topics, t)
				continue
			}
		}
		resp.Topics = append(resp.Topics, s.metadataTopic(name))
	}
	reply(resp)
}

// autoCreate creates a missing topic if allowed, and returns the error
// code for the client otherwise (0 once the topic exists).
func (s *Server) autoCreate(c *conn, name string, allowed bool) int16 {
	if err := s.kl.CheckTopic(name); err != nil {
		return kerr.InvalidTopicException.Code
	}
	if !allowed {
		return kerr.UnknownTopicOrPartition.Code
	}
	if _, err := s.kl.EnsureTopic(c.ctx, name); err != nil {
		switch {
		case errors.Is(err, core.ErrInvalidTopic), errors.Is(err, core.ErrNotONEXTopic):
			return kerr.InvalidTopicException.Code
		case errors.Is(err, core.ErrClosed):
			return kerr.LeaderNotAvailable.Code
		}
		s.log.Warn("kafka: auto-create topic", "topic", name, "error", err)
		return kerr.UnknownTopicOrPartition.Code
	}
	return 0
}

func (s *Server) metadataTopic(name string) kmsg.MetadataResponseTopic {
	t := kmsg.NewMetadataResponseTopic()
	t.Topic = &name
	tc, ok := s.kl.Topic(name)
	if !ok {
		t.ErrorCode = kerr.UnknownTopicOrPartition.Code
		return t
	}
	t.TopicID, _ = s.kl.TopicID(name)
	node := s.cfg.nodeID
	t.Partitions = make([]kmsg.MetadataResponseTopicPartition, tc.Partitions)
	for i := range t.Partitions {
		p := kmsg.NewMetadataResponseTopicPartition()
		p.Partition = int32(i)
		p.Leader = node
		p.LeaderEpoch = 0
		p.Replicas = []int32{node}
		p.ISR = []int32{node}
		p.OfflineReplicas = []int32{}
		t.Partitions[i] = p
	}
	return t
}
