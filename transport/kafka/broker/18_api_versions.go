package broker

import (
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// handleApiVersions answers the version table (the same one the request
// check uses). No feature flags are advertised: transaction.version would
// switch kgo to KIP-890 and group.version would signal KIP-848.
func handleApiVersions(c *conn, _ *connInfo, req kmsg.Request, reply func(kmsg.Response)) {
	resp := req.ResponseKind().(*kmsg.ApiVersionsResponse)
	resp.ApiKeys = c.s.versions.ApiKeys()
	reply(resp)
}

// apiVersionsDowngrade is the answer to an ApiVersions request above our
// maximum (KIP-511): version 0, UNSUPPORTED_VERSION, and our table so the
// client retries at a version we serve.
func apiVersionsDowngrade(s *Server) kmsg.Response {
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.SetVersion(0)
	resp.ErrorCode = kerr.UnsupportedVersion.Code
	resp.ApiKeys = s.versions.ApiKeys()
	return resp
}
