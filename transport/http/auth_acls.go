package http

import (
	"context"
	stdhttp "net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/onexbus/onexbus/transport/auth"
)

// ACLRule is one allow rule of the principal store.
type ACLRule struct {
	Principal  string   `json:"principal" doc:"The principal the rule allows; * for any authenticated principal."`
	Resource   string   `json:"resource" enum:"topic,group,cluster,transactional-id" doc:"The resource type."`
	Pattern    string   `json:"pattern,omitempty" doc:"Names the rule covers (* one segment, ** any); empty for the cluster."`
	Operations []string `json:"operations" doc:"read, write, create, delete, alter, describe, admin or idempotent-write (admin implies all, every other implies describe; a transactional-id takes write and describe, idempotent-write is the cluster's)."`
}

// ACLList is the rule set.
type ACLList struct {
	Enabled bool      `json:"enabled" doc:"Whether the API authenticates and authorizes at all (WithAuth)."`
	Rules   []ACLRule `json:"rules" doc:"The rules, in order; none means every authenticated principal may do everything."`
}

type aclListOutput struct{ Body ACLList }

func (s *Server) registerACLs() {
	huma.Register(s.api, huma.Operation{
		OperationID: "list-acls", Method: stdhttp.MethodGet, Path: "/v1/acls",
		Summary: "List the ACL rules", Tags: []string{"security"},
		Description: "The allow rules of the principal store every listener enforces (needs describe on the cluster, as Kafka's DescribeAcls).",
	}, func(ctx context.Context, _ *struct{}) (*aclListOutput, error) {
		out := &aclListOutput{Body: ACLList{Rules: []ACLRule{}}}
		if s.cfg.auth == nil {
			return out, nil
		}
		out.Body.Enabled = true
		for _, r := range s.cfg.auth.Rules() {
			a := ACLRule{Principal: r.Principal, Resource: r.Resource.String(), Operations: make([]string, len(r.Operations))}
			if r.Resource != auth.ResourceCluster {
				a.Pattern = r.Pattern
			}
			for i, o := range r.Operations {
				a.Operations[i] = o.String()
			}
			out.Body.Rules = append(out.Body.Rules, a)
		}
		return out, nil
	})
}
