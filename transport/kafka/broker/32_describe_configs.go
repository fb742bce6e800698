package broker

import (
	"slices"
	"strconv"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/onexbus/onexbus/transport/auth"
)

// handleDescribeConfigs lists every config of a topic or of this broker
// with its value and source (defaults included, as Kafka does), filtered
// by ConfigNames when given. Under WithACL a topic's configs need
// describe on the topic (TOPIC_AUTHORIZATION_FAILED), the broker's
// describe on the cluster (CLUSTER_AUTHORIZATION_FAILED): Kafka's
// DESCRIBE_CONFIGS, which the store's describe stands for.
func handleDescribeConfigs(c *conn, _ *connInfo, kreq kmsg.Request, reply func(kmsg.Response)) {
	s := c.s
	req := kreq.(*kmsg.DescribeConfigsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeConfigsResponse)
	for _, rr := range req.Resources {
		r := kmsg.NewDescribeConfigsResponseResource()
		r.ResourceType, r.ResourceName = rr.ResourceType, rr.ResourceName
		var cfgs []kmsg.DescribeConfigsResponseResourceConfig
		switch rr.ResourceType {
		case kmsg.ConfigResourceTypeTopic:
			if s.denied(c, auth.ResourceTopic, rr.ResourceName, auth.OpDescribe) {
				r.ErrorCode = kerr.TopicAuthorizationFailed.Code
				break
			}
			tc, ok := s.kl.Topic(rr.ResourceName)
			if !ok {
				r.ErrorCode = kerr.UnknownTopicOrPartition.Code
				break
			}
			st, err := s.loadTopicSettings(rr.ResourceName, tc)
			if err != nil {
				r.ErrorCode = kerr.KafkaStorageError.Code
				break
			}
			cfgs = s.describeTopicConfigs(st)
		case kmsg.ConfigResourceTypeBroker:
			if s.denied(c, auth.ResourceCluster, "", auth.OpDescribe) {
				r.ErrorCode = kerr.ClusterAuthorizationFailed.Code
				break
			}
			if rr.ResourceName != "" && rr.ResourceName != strconv.Itoa(int(s.cfg.nodeID)) {
				r.ErrorCode = kerr.InvalidRequest.Code
				msg := "unknown broker " + rr.ResourceName
				r.ErrorMessage = &msg
				break
			}
			cfgs = s.describeBrokerConfigs()
		default:
			r.ErrorCode = kerr.InvalidRequest.Code
			msg := "only topic and broker configs are described"
			r.ErrorMessage = &msg
		}
		for _, cfg := range cfgs {
			if rr.ConfigNames != nil && !slices.Contains(rr.ConfigNames, cfg.Name) {
				continue
			}
			if req.Version >= 1 && req.IncludeSynonyms {
				syn := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
				syn.Name, syn.Value, syn.Source = cfg.Name, cfg.Value, cfg.Source
				cfg.ConfigSynonyms = []kmsg.DescribeConfigsResponseResourceConfigConfigSynonym{syn}
			}
			r.Configs = append(r.Configs, cfg)
		}
		resp.Resources = append(resp.Resources, r)
	}
	reply(resp)
}

// describeBrokerConfigs is this broker's configuration as Kafka names it.
func (s *Server) describeBrokerConfigs() []kmsg.DescribeConfigsResponseResourceConfig {
	host, port := s.advertised()
	parts := s.cfg.defaultPartitions
	if parts == 0 {
		parts = s.kl.DefaultPartitions()
	}
	static := kmsg.ConfigSourceStaticBrokerConfig
	rows := []struct {
		name, val string
	}{
		{"advertised.listeners", "PLAINTEXT://" + host + ":" + strconv.Itoa(int(port))},
		{"auto.create.topics.enable", strconv.FormatBool(s.cfg.autoCreate)},
		{"broker.id", strconv.Itoa(int(s.cfg.nodeID))},
		{"connections.max.idle.ms", strconv.FormatInt(s.cfg.idleTimeout.Milliseconds(), 10)},
		{"default.replication.factor", "1"},
		{"max.connections", strconv.Itoa(s.cfg.maxConnections)},
		{"message.max.bytes", strconv.Itoa(s.kl.MaxMessageBytes())},
		{"min.insync.replicas", "1"},
		{"node.id", strconv.Itoa(int(s.cfg.nodeID))},
		{"num.partitions", strconv.Itoa(int(parts))},
		{"offsets.topic.replication.factor", "1"},
		{"queued.max.request.bytes", strconv.FormatInt(s.cfg.maxInFlightBytes, 10)},
		{"socket.request.max.bytes", strconv.Itoa(s.cfg.maxFrameBytes)},
		{"transaction.state.log.replication.factor", "1"},
	}
	out := make([]kmsg.DescribeConfigsResponseResourceConfig, 0, len(rows))
	for _, r := range rows {
		c := kmsg.NewDescribeConfigsResponseResourceConfig()
		c.Name = r.name
		v := r.val
		c.Value = &v
		c.ReadOnly = true
		c.Source = static
		c.ConfigType = kmsg.ConfigTypeString
		out = append(out, c)
	}
	return out
}
