package broker

import (
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/onexbus/onexbus/core"
)

// handleCreateTopics creates each topic with its partitions and configs.
// One node: replication factor -1 or 1 only, an explicit assignment must
// name this node alone. ValidateOnly checks without creating.
func handleCreateTopics(c *conn, _ *connInfo, kreq kmsg.Request, reply func(kmsg.Response)) {
	s := c.s
	req := kreq.(*kmsg.CreateTopicsRequest)
	resp := req.ResponseKind().(*kmsg.CreateTopicsResponse)
	seen := make(map[string]int, len(req.Topics))
	for _, rt := range req.Topics {
		seen[rt.Topic]++
	}
	for _, rt := range req.Topics {
		t := kmsg.NewCreateTopicsResponseTopic()
		t.Topic = rt.Topic
		fail := func(e *kerr.Error, msg string) {
			t.ErrorCode = e.Code
			t.ErrorMessage = &msg
			t.NumPartitions, t.ReplicationFactor = -1, -1
		}
		if s.createDenied(c, rt.Topic) {
			fail(kerr.TopicAuthorizationFailed, "not authorized to create topic "+rt.Topic)
			resp.Topics = append(resp.Topics, t)
			continue
		}
		parts, st, ferr, msg := s.planTopic(rt, seen[rt.Topic])
		if ferr != nil {
			fail(ferr, msg)
			resp.Topics = append(resp.Topics, t)
			continue
		}
		if _, exists := s.kl.Topic(rt.Topic); exists {
			fail(kerr.TopicAlreadyExists, fmt.Sprintf("topic %s already exists", rt.Topic))
			resp.Topics = append(resp.Topics, t)
			continue
		}
		if !req.ValidateOnly {
			if err := s.createTopic(c, rt.Topic, parts, st); err != nil {
				e := kerr.InvalidRequest
				switch {
				case errors.Is(err, core.ErrInvalidTopic), errors.Is(err, core.ErrNotONEXTopic):
					e = kerr.InvalidTopicException
				case errors.Is(err, errTopicExists):
					e = kerr.TopicAlreadyExists
				case errors.Is(err, core.ErrClosed):
					e = kerr.NotController
				}
				fail(e, err.Error())
				resp.Topics = append(resp.Topics, t)
				continue
			}
			t.TopicID, _ = s.kl.TopicID(rt.Topic)
		}
		t.NumPartitions = parts
		t.ReplicationFactor = 1
		for _, dc := range s.describeTopicConfigs(st) {
			cc := kmsg.NewCreateTopicsResponseTopicConfig()
			cc.Name, cc.Value, cc.ReadOnly, cc.Source, cc.IsSensitive = dc.Name, dc.Value, dc.ReadOnly, int8(dc.Source), false
			t.Configs = append(t.Configs, cc)
		}
		resp.Topics = append(resp.Topics, t)
	}
	reply(resp)
}

var errTopicExists = errors.New("topic exists")

// planTopic validates one CreateTopics entry and returns its partition
// count and settings, or the error code and message for the client.
func (s *Server) planTopic(rt kmsg.CreateTopicsRequestTopic, copies int) (int32, topicSettings, *kerr.Error, string) {
	st := topicSettings{retention: s.kl.DefaultRetention()}
	if copies > 1 {
		return 0, st, kerr.InvalidRequest, fmt.Sprintf("topic %s named %d times", rt.Topic, copies)
	}
	if err := s.kl.CheckTopic(rt.Topic); err != nil {
		return 0, st, kerr.InvalidTopicException, err.Error()
	}
	if rt.Topic == offsetsTopicName {
		return 0, st, kerr.TopicAlreadyExists, "__consumer_offsets is internal"
	}
	parts := rt.NumPartitions
	switch {
	case len(rt.ReplicaAssignment) > 0:
		if rt.NumPartitions != -1 || rt.ReplicationFactor != -1 {
			return 0, st, kerr.InvalidRequest, "replica assignment with a partition count or replication factor"
		}
		for _, a := range rt.ReplicaAssignment {
			if len(a.Replicas) != 1 || a.Replicas[0] != s.cfg.nodeID {
				return 0, st, kerr.InvalidReplicaAssignment, fmt.Sprintf("partition %d: replicas %v, this cluster is node %d alone", a.Partition, a.Replicas, s.cfg.nodeID)
			}
		}
		parts = int32(len(rt.ReplicaAssignment))
	case parts == -1:
		parts = s.cfg.defaultPartitions
		if parts == 0 {
			parts = s.kl.DefaultPartitions()
		}
	case parts < 1:
		return 0, st, kerr.InvalidPartitions, fmt.Sprintf("%d partitions", parts)
	}
	if rt.ReplicationFactor != -1 && rt.ReplicationFactor != 1 && len(rt.ReplicaAssignment) == 0 {
		return 0, st, kerr.InvalidReplicationFactor, fmt.Sprintf("replication factor %d: one node, use 1 or -1", rt.ReplicationFactor)
	}
	if err := parseTopicConfigs(&st, rt.Configs, s.kl.MaxMessageBytes()); err != nil {
		return 0, st, kerr.InvalidConfig, err.Error()
	}
	return parts, st, nil, ""
}

// createTopic creates a topic in the log and stores its Kafka settings.
func (s *Server) createTopic(c *conn, name string, parts int32, st topicSettings) error {
	created, err := s.kl.CreateTopic(c.ctx, name, core.TopicConfig{Partitions: parts, Retention: st.retention})
	if err != nil {
		return err
	}
	if !created {
		return fmt.Errorf("%w: %s", errTopicExists, name)
	}
	var settings map[string]string // nil clears what an earlier topic of this name left
	if st.maxMessageSet {
		settings = map[string]string{cfgMaxMessageBytes: fmt.Sprint(st.maxMessageBytes)}
	}
	return s.kl.SetTopicSettings(name, settings)
}
