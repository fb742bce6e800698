package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/onexbus/onexbus/transport/auth"
)

// WithACL makes the broker enforce store's ACLs for the connection's
// principal (the SASL user or the verified client certificate's name; ""
// without either, which only "*" rules match), with Kafka's codes:
//
//   - topics: Produce needs write on the topic (and, when it auto-creates
//     one, create on the topic or the cluster), Fetch read, Metadata
//     describe (a topic the principal may not describe is left out of an
//     all-topics listing and answered TOPIC_AUTHORIZATION_FAILED when
//     named), ListOffsets describe, CreateTopics create (on the topic or
//     the cluster), DeleteTopics and DeleteRecords delete,
//     CreatePartitions alter, DescribeConfigs describe (the broker's:
//     describe on the cluster);
//   - groups: the coordinator's keys (8, 9, 11-16, 42, 47) and
//     FindCoordinator answer GROUP_AUTHORIZATION_FAILED as Kafka does
//     (groups_acl.go);
//   - transactional ids and producer ids: InitProducerId, the
//     transaction keys (24, 25, 26, 28), a transactional Produce and
//     FindCoordinator key type 1 answer TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
//     an idempotent InitProducerId CLUSTER_AUTHORIZATION_FAILED (txn_acl.go);
//   - ACLs: DescribeAcls, CreateAcls and DeleteAcls (keys 29-31) are
//     served, and advertised, only with WithACL: they read and edit
//     store's rules (acls.go).
//
// With no rules in the store everything is allowed.
func WithACL(store *auth.Store) Option { return func(c *config) { c.acl = store } }

// denied reports whether the connection's principal may not do op on
// the resource; false without WithACL.
func (s *Server) denied(c *conn, res auth.Resource, name string, op auth.Operation) bool {
	if s.cfg.acl == nil {
		return false
	}
	return s.cfg.acl.Authorize(c.principal, res, name, op) != nil
}

// createDenied reports whether the principal may create topic name
// neither on the topic nor on the cluster (Kafka accepts either).
func (s *Server) createDenied(c *conn, name string) bool {
	return s.denied(c, auth.ResourceTopic, name, auth.OpCreate) && s.denied(c, auth.ResourceCluster, "", auth.OpCreate)
}

// metadataDenied is the answer for a named topic the principal may not
// describe; false when it may.
func (s *Server) metadataDenied(c *conn, name string) (kmsg.MetadataResponseTopic, bool) {
	if !s.denied(c, auth.ResourceTopic, name, auth.OpDescribe) {
		return kmsg.MetadataResponseTopic{}, false
	}
	t := kmsg.NewMetadataResponseTopic()
	t.Topic = &name
	t.ErrorCode = kerr.TopicAuthorizationFailed.Code
	return t, true
}
