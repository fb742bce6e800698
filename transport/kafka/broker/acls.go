package broker

import (
	"errors"
	"fmt"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/transport/auth"
)

// DescribeAcls, CreateAcls and DeleteAcls (keys 29, 30, 31) over the
// store's rules, served only with WithACL. A Kafka ACL binding is one
// (resource type, name, pattern type, principal, host, operation,
// permission); a store rule is one (principal, resource type, pattern,
// operations), allow only. The mapping:
//
//	resource type  TOPIC, GROUP, CLUSTER ("kafka-cluster"), TRANSACTIONAL_ID
//	LITERAL name   the name as a literal pattern; "*" is the pattern "**"
//	PREFIXED "p."  the pattern "p.*.**" (one or more segments after p);
//	               a prefix must end at a '.' and be literal
//	principal      "User:alice" is alice, "User:*" any principal
//	host           "*" only
//	operation      READ WRITE CREATE DELETE ALTER DESCRIBE; ALL is admin;
//	               IDEMPOTENT_WRITE on the cluster; a TRANSACTIONAL_ID
//	               takes WRITE, DESCRIBE and ALL only
//	permission     ALLOW only
//
// What cannot be expressed (DENY, a host, a prefix inside a segment, a
// literal name holding a wildcard or a character outside the topic
// grammar, DELEGATION_TOKEN and USER, DESCRIBE_CONFIGS and the other
// operations, an operation the resource type lacks) answers INVALID_REQUEST with
// the reason, per creation or filter. A rule whose pattern Kafka cannot
// express (like "orders.*") is described as a LITERAL named by the pattern
// text, so a DeleteAcls of that literal removes it. Each rule operation
// is one binding; deleting a binding removes that operation from its rule
// and the rule once it has none left.
//
// Creating and deleting need alter on the cluster, describing describe
// on the cluster (CLUSTER_AUTHORIZATION_FAILED otherwise); with no rules
// at all everything is allowed, so the first CreateAcls must include a
// rule that lets its author go on. Edits go through the store's rule
// persister: a refusal answers UNKNOWN_SERVER_ERROR and changes nothing.

// kafkaCluster is the one name of the cluster resource.
const kafkaCluster = "kafka-cluster"

// errACL is a creation or filter the store cannot express.
var errACL = errors.New("not expressible as a store rule")

func aclInvalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errACL, fmt.Sprintf(format, args...))
}

var aclOps = map[kmsg.ACLOperation]auth.Operation{
	kmsg.ACLOperationRead: auth.OpRead, kmsg.ACLOperationWrite: auth.OpWrite, kmsg.ACLOperationCreate: auth.OpCreate,
	kmsg.ACLOperationDelete: auth.OpDelete, kmsg.ACLOperationAlter: auth.OpAlter, kmsg.ACLOperationDescribe: auth.OpDescribe,
	kmsg.ACLOperationAll: auth.OpAdmin, kmsg.ACLOperationIdempotentWrite: auth.OpIdempotentWrite,
}

func kafkaOp(o auth.Operation) kmsg.ACLOperation {
	for k, v := range aclOps {
		if v == o {
			return k
		}
	}
	return kmsg.ACLOperationUnknown
}

var aclResources = map[kmsg.ACLResourceType]auth.Resource{
	kmsg.ACLResourceTypeTopic: auth.ResourceTopic, kmsg.ACLResourceTypeGroup: auth.ResourceGroup,
	kmsg.ACLResourceTypeCluster: auth.ResourceCluster, kmsg.ACLResourceTypeTransactionalId: auth.ResourceTransactionalID,
}

func kafkaResource(r auth.Resource) kmsg.ACLResourceType {
	for k, v := range aclResources {
		if v == r {
			return k
		}
	}
	return kmsg.ACLResourceTypeUnknown
}

// binding is one Kafka ACL binding of a store rule (always ALLOW, host *).
type binding struct {
	res       kmsg.ACLResourceType
	name      string
	pattern   kmsg.ACLResourcePatternType
	principal string // "User:..."
	op        kmsg.ACLOperation
	// of the rule the binding comes from
	rule   auth.Rule
	ruleOp auth.Operation
}

// bindings lists the Kafka bindings of a rule, one per operation.
func bindings(r auth.Rule) []binding {
	name, pt := r.Pattern, kmsg.ACLResourcePatternTypeLiteral
	switch {
	case r.Resource == auth.ResourceCluster:
		name = kafkaCluster
	case r.Pattern == "**":
		name = "*"
	case strings.HasSuffix(r.Pattern, ".*.**") && !hasWildcard(strings.TrimSuffix(r.Pattern, ".*.**")):
		name, pt = strings.TrimSuffix(r.Pattern, "*.**"), kmsg.ACLResourcePatternTypePrefixed
	}
	out := make([]binding, 0, len(r.Operations))
	for _, o := range r.Operations {
		out = append(out, binding{res: kafkaResource(r.Resource), name: name, pattern: pt, principal: "User:" + r.Principal,
			op: kafkaOp(o), rule: r, ruleOp: o})
	}
	return out
}

func hasWildcard(p string) bool {
	for _, seg := range strings.Split(p, ".") {
		if seg == "*" || seg == "**" {
			return true
		}
	}
	return false
}

// aclPrincipal maps "User:name" to the store's principal.
func aclPrincipal(p string) (string, error) {
	name, ok := strings.CutPrefix(p, "User:")
	if !ok || name == "" {
		return "", aclInvalid("principal %q: only User:<name> principals exist here", p)
	}
	return name, nil
}

// ruleOf maps one CreateAcls creation to a one-operation rule.
func ruleOf(c kmsg.CreateACLsRequestCreation) (auth.Rule, error) {
	res, ok := aclResources[c.ResourceType]
	if !ok {
		return auth.Rule{}, aclInvalid("resource type %s: only TOPIC, GROUP, CLUSTER and TRANSACTIONAL_ID", c.ResourceType)
	}
	if c.PermissionType != kmsg.ACLPermissionTypeAllow {
		return auth.Rule{}, aclInvalid("permission %s: the store holds ALLOW rules only (deny is the default)", c.PermissionType)
	}
	if c.Host != "*" {
		return auth.Rule{}, aclInvalid("host %q: rules apply to every host (\"*\")", c.Host)
	}
	op, ok := aclOps[c.Operation]
	if !ok {
		return auth.Rule{}, aclInvalid("operation %s: only READ, WRITE, CREATE, DELETE, ALTER, DESCRIBE, ALL and IDEMPOTENT_WRITE", c.Operation)
	}
	principal, err := aclPrincipal(c.Principal)
	if err != nil {
		return auth.Rule{}, err
	}
	r := auth.Rule{Principal: principal, Resource: res, Operations: []auth.Operation{op}}
	switch {
	case res == auth.ResourceCluster:
		if c.ResourceName != kafkaCluster || c.ResourcePatternType != kmsg.ACLResourcePatternTypeLiteral {
			return auth.Rule{}, aclInvalid("the cluster resource is the LITERAL %q", kafkaCluster)
		}
	case c.ResourcePatternType == kmsg.ACLResourcePatternTypeLiteral && c.ResourceName == "*":
		r.Pattern = "**"
	case c.ResourcePatternType == kmsg.ACLResourcePatternTypeLiteral:
		if hasWildcard(c.ResourceName) {
			return auth.Rule{}, aclInvalid("literal name %q holds a wildcard segment", c.ResourceName)
		}
		r.Pattern = c.ResourceName
	case c.ResourcePatternType == kmsg.ACLResourcePatternTypePrefixed:
		base, ok := strings.CutSuffix(c.ResourceName, ".")
		if !ok || base == "" || hasWildcard(base) {
			return auth.Rule{}, aclInvalid("prefix %q: a prefix must be literal and end with '.'", c.ResourceName)
		}
		r.Pattern = base + ".*.**"
	default:
		return auth.Rule{}, aclInvalid("pattern type %s: only LITERAL and PREFIXED are created", c.ResourcePatternType)
	}
	if err := r.Validate(); err != nil {
		return auth.Rule{}, aclInvalid("%s %q: %v", c.ResourceType, c.ResourceName, err)
	}
	return r, nil
}

// aclFilter is a DescribeAcls or DeleteAcls filter.
type aclFilter struct {
	res       kmsg.ACLResourceType
	name      *string
	pattern   kmsg.ACLResourcePatternType
	principal *string
	host      *string
	op        kmsg.ACLOperation
	perm      kmsg.ACLPermissionType
}

func (f aclFilter) validate() error {
	switch {
	case f.res == kmsg.ACLResourceTypeUnknown || f.pattern == kmsg.ACLResourcePatternTypeUnknown ||
		f.op == kmsg.ACLOperationUnknown || f.perm == kmsg.ACLPermissionTypeUnknown:
		return aclInvalid("a filter may not hold UNKNOWN")
	case f.pattern > kmsg.ACLResourcePatternTypePrefixed || f.res > kmsg.ACLResourceTypeUser ||
		f.op > kmsg.ACLOperationDescribeTokens || f.perm > kmsg.ACLPermissionTypeAllow:
		return aclInvalid("filter value out of range")
	}
	return nil
}

// matches reports whether binding b passes the filter.
func (f aclFilter) matches(b binding) bool {
	if f.res != kmsg.ACLResourceTypeAny && f.res != b.res {
		return false
	}
	if f.perm == kmsg.ACLPermissionTypeDeny {
		return false // no deny rules exist
	}
	if f.principal != nil && *f.principal != b.principal {
		return false
	}
	if f.host != nil && *f.host != "*" {
		return false
	}
	if f.op != kmsg.ACLOperationAny && f.op != b.op {
		return false
	}
	switch f.pattern {
	case kmsg.ACLResourcePatternTypeAny:
		return f.name == nil || *f.name == b.name
	case kmsg.ACLResourcePatternTypeMatch:
		if f.name == nil {
			return true
		}
		// The bindings that apply to the resource named.
		if b.rule.Resource == auth.ResourceCluster {
			return *f.name == kafkaCluster
		}
		p, err := core.CompilePattern(b.rule.Pattern)
		return err == nil && p.Match(*f.name)
	default:
		return f.pattern == b.pattern && (f.name == nil || *f.name == b.name)
	}
}

// aclAllowed reports whether the connection may do op on the cluster.
func (s *Server) aclAllowed(c *conn, op auth.Operation) bool {
	return !s.denied(c, auth.ResourceCluster, "", op)
}

// handleDescribeAcls lists the bindings the filter matches.
func handleDescribeAcls(c *conn, _ *connInfo, kreq kmsg.Request, reply func(kmsg.Response)) {
	req := kreq.(*kmsg.DescribeACLsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeACLsResponse)
	f := aclFilter{res: req.ResourceType, name: req.ResourceName, pattern: req.ResourcePatternType,
		principal: req.Principal, host: req.Host, op: req.Operation, perm: req.PermissionType}
	if !c.s.aclAllowed(c, auth.OpDescribe) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		reply(resp)
		return
	}
	if err := f.validate(); err != nil {
		resp.ErrorCode, resp.ErrorMessage = kerr.InvalidRequest.Code, kmsg.StringPtr(err.Error())
		reply(resp)
		return
	}
	type key struct {
		res  kmsg.ACLResourceType
		name string
		pt   kmsg.ACLResourcePatternType
	}
	at := map[key]int{}
	for _, r := range c.s.cfg.acl.Rules() {
		for _, b := range bindings(r) {
			if !f.matches(b) {
				continue
			}
			k := key{b.res, b.name, b.pattern}
			i, ok := at[k]
			if !ok {
				rr := kmsg.NewDescribeACLsResponseResource()
				rr.ResourceType, rr.ResourceName, rr.ResourcePatternType = b.res, b.name, b.pattern
				resp.Resources = append(resp.Resources, rr)
				i = len(resp.Resources) - 1
				at[k] = i
			}
			a := kmsg.NewDescribeACLsResponseResourceACL()
			a.Principal, a.Host, a.Operation, a.PermissionType = b.principal, "*", b.op, kmsg.ACLPermissionTypeAllow
			resp.Resources[i].ACLs = append(resp.Resources[i].ACLs, a)
		}
	}
	reply(resp)
}

// handleCreateAcls adds one rule per valid creation, all in one edit.
func handleCreateAcls(c *conn, _ *connInfo, kreq kmsg.Request, reply func(kmsg.Response)) {
	req := kreq.(*kmsg.CreateACLsRequest)
	resp := req.ResponseKind().(*kmsg.CreateACLsResponse)
	resp.Results = make([]kmsg.CreateACLsResponseResult, len(req.Creations))
	allowed := c.s.aclAllowed(c, auth.OpAlter)
	var rules []auth.Rule
	var slots []int
	for i, cr := range req.Creations {
		res := &resp.Results[i]
		*res = kmsg.NewCreateACLsResponseResult()
		if !allowed {
			res.ErrorCode = kerr.ClusterAuthorizationFailed.Code
			continue
		}
		r, err := ruleOf(cr)
		if err != nil {
			res.ErrorCode, res.ErrorMessage = kerr.InvalidRequest.Code, kmsg.StringPtr(err.Error())
			continue
		}
		rules = append(rules, r)
		slots = append(slots, i)
	}
	if len(rules) > 0 {
		err := c.s.cfg.acl.EditRules(func(old []auth.Rule) ([]auth.Rule, error) {
			out := old
			for _, r := range rules {
				if !granted(out, r) {
					out = append(out, r)
				}
			}
			return out, nil
		})
		if err != nil {
			c.s.log.Warn("kafka: CreateAcls refused", "principal", c.principal, "error", err)
			for _, i := range slots {
				resp.Results[i].ErrorCode = kerr.UnknownServerError.Code
				resp.Results[i].ErrorMessage = kmsg.StringPtr("rules not saved: " + err.Error())
			}
		}
	}
	reply(resp)
}

// granted reports whether a rule of rules already holds r's one binding.
func granted(rules []auth.Rule, r auth.Rule) bool {
	for _, o := range rules {
		if o.Principal == r.Principal && o.Resource == r.Resource && (o.Resource == auth.ResourceCluster || o.Pattern == r.Pattern) {
			for _, op := range o.Operations {
				if op == r.Operations[0] {
					return true
				}
			}
		}
	}
	return false
}

// handleDeleteAcls removes the bindings each filter matches, all in one
// edit: an operation leaves its rule, and a rule with none left goes.
func handleDeleteAcls(c *conn, _ *connInfo, kreq kmsg.Request, reply func(kmsg.Response)) {
	req := kreq.(*kmsg.DeleteACLsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteACLsResponse)
	resp.Results = make([]kmsg.DeleteACLsResponseResult, len(req.Filters))
	allowed := c.s.aclAllowed(c, auth.OpAlter)
	filters := make([]*aclFilter, len(req.Filters))
	for i, rf := range req.Filters {
		res := &resp.Results[i]
		*res = kmsg.NewDeleteACLsResponseResult()
		if !allowed {
			res.ErrorCode = kerr.ClusterAuthorizationFailed.Code
			continue
		}
		f := aclFilter{res: rf.ResourceType, name: rf.ResourceName, pattern: rf.ResourcePatternType,
			principal: rf.Principal, host: rf.Host, op: rf.Operation, perm: rf.PermissionType}
		if err := f.validate(); err != nil {
			res.ErrorCode, res.ErrorMessage = kerr.InvalidRequest.Code, kmsg.StringPtr(err.Error())
			continue
		}
		filters[i] = &f
	}
	err := c.s.cfg.acl.EditRules(func(old []auth.Rule) ([]auth.Rule, error) {
		for i := range resp.Results {
			resp.Results[i].MatchingACLs = nil
		}
		out := make([]auth.Rule, 0, len(old))
		for _, r := range old {
			var keep []auth.Operation
			for _, b := range bindings(r) {
				hit := false
				for i, f := range filters {
					if f == nil || !f.matches(b) {
						continue
					}
					hit = true
					m := kmsg.NewDeleteACLsResponseResultMatchingACL()
					m.ResourceType, m.ResourceName, m.ResourcePatternType = b.res, b.name, b.pattern
					m.Principal, m.Host, m.Operation, m.PermissionType = b.principal, "*", b.op, kmsg.ACLPermissionTypeAllow
					resp.Results[i].MatchingACLs = append(resp.Results[i].MatchingACLs, m)
				}
				if !hit {
					keep = append(keep, b.ruleOp)
				}
			}
			if len(keep) == len(r.Operations) {
				out = append(out, r)
			} else if len(keep) > 0 {
				r.Operations = keep
				out = append(out, r)
			}
		}
		return out, nil
	})
	if err != nil {
		c.s.log.Warn("kafka: DeleteAcls refused", "principal", c.principal, "error", err)
		for i, f := range filters {
			if f != nil {
				resp.Results[i].ErrorCode = kerr.UnknownServerError.Code
				resp.Results[i].ErrorMessage = kmsg.StringPtr("rules not saved: " + err.Error())
				resp.Results[i].MatchingACLs = nil
			}
		}
	}
	reply(resp)
}
