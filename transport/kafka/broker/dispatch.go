package broker

import (
	"crypto/tls"
	"net"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// buildHandlers is the dispatch table: one handler per API key, each in
// the file named after its key. The version table advertises exactly the
// keys found here.
func (s *Server) buildHandlers() map[int16]handler {
	h := map[int16]handler{
		0:  handleProduce,
		1:  handleFetch,
		2:  handleListOffsets,
		3:  handleMetadata,
		10: handleFindCoordinator,
		17: handleSaslHandshake,
		18: handleApiVersions,
		19: handleCreateTopics,
		20: handleDeleteTopics,
		21: handleDeleteRecords,
		22: handleInitProducerId,
		24: handleAddPartitionsToTxn,
		25: handleAddOffsetsToTxn,
		26: handleEndTxn,
		28: handleTxnOffsetCommit,
		32: handleDescribeConfigs,
		36: handleSaslAuthenticate,
		37: handleCreatePartitions,
		61: handleDescribeProducers,
		65: handleDescribeTransactions,
		66: handleListTransactions,
	}
	if s.cfg.acl != nil {
		h[29], h[30], h[31] = handleDescribeAcls, handleCreateAcls, handleDeleteAcls
	}
	if s.groups != nil {
		for _, k := range groupKeys {
			h[k] = s.toGroups
		}
		h[9] = s.offsetFetchStable // RequireStable and pending transaction offsets (txn.go)
	}
	return h
}

// toGroups hands a request to the group coordinator.
func (s *Server) toGroups(_ *conn, cc *connInfo, req kmsg.Request, reply func(kmsg.Response)) {
	s.groups.handle(cc, req, reply)
}

func tlsServer(nc net.Conn, cfg *tls.Config) net.Conn { return tls.Server(nc, cfg) }
