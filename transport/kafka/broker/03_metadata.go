package broker

import (
	"errors"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/transport/auth"
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
			if s.denied(c, auth.ResourceTopic, name, auth.OpDescribe) {
				continue // hidden, as Kafka hides what a principal may not describe
			}
			resp.Topics = append(resp.Topics, s.metadataTopic(name))
		}
		if s.groups != nil {
			resp.Topics = append(resp.Topics, s.offsetsTopic())
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
		if name == offsetsTopicName && s.groups != nil {
			resp.Topics = append(resp.Topics, s.offsetsTopic())
			continue
		}
		if t, denied := s.metadataDenied(c, name); denied {
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
	if name == offsetsTopicName {
		return kerr.InvalidTopicException.Code
	}
	if err := s.kl.CheckTopic(name); err != nil {
		return kerr.InvalidTopicException.Code
	}
	if !allowed {
		return kerr.UnknownTopicOrPartition.Code
	}
	if s.createDenied(c, name) {
		return kerr.TopicAuthorizationFailed.Code
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

// offsetsTopicName is Kafka's internal topic of committed offsets. Here
// offsets live in the log's cursor store, but clients and tools expect the
// topic to exist (and to be internal, so regex consumers skip it), so
// Metadata lists it with one partition. It cannot be created, deleted,
// produced to or fetched from.
const offsetsTopicName = "__consumer_offsets"

// offsetsTopicID is its fixed topic id (a version-4 UUID shape).
var offsetsTopicID = [16]byte{0x6f, 0x6e, 0x65, 0x78, 0x62, 0x75, 0x73, 0x2d, 0x80, 0x6f, 0x66, 0x66, 0x73, 0x65, 0x74, 0x73}

func (s *Server) offsetsTopic() kmsg.MetadataResponseTopic {
	t := kmsg.NewMetadataResponseTopic()
	name := offsetsTopicName
	t.Topic, t.TopicID, t.IsInternal = &name, offsetsTopicID, true
	p := kmsg.NewMetadataResponseTopicPartition()
	p.Leader, p.Replicas, p.ISR, p.OfflineReplicas = s.cfg.nodeID, []int32{s.cfg.nodeID}, []int32{s.cfg.nodeID}, []int32{}
	t.Partitions = []kmsg.MetadataResponseTopicPartition{p}
	return t
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
