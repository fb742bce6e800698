package auth

import (
	"fmt"
	"strings"

	"github.com/onexbus/onexbus/core"
)

// Operation is what a principal does to a resource.
type Operation uint8

// The operations, as Kafka's ACLs name them. OpIdempotentWrite
// (Kafka's IDEMPOTENT_WRITE) exists on the cluster only: an idempotent
// producer's InitProducerId needs it, or write on some topic.
const (
	OpRead Operation = iota + 1
	OpWrite
	OpCreate
	OpDelete
	OpAlter
	OpDescribe
	OpAdmin
	OpIdempotentWrite
)

var opNames = map[Operation]string{
	OpRead: "read", OpWrite: "write", OpCreate: "create", OpDelete: "delete",
	OpAlter: "alter", OpDescribe: "describe", OpAdmin: "admin", OpIdempotentWrite: "idempotent-write",
}

// String returns the operation's lower-case name.
func (o Operation) String() string {
	if n, ok := opNames[o]; ok {
		return n
	}
	return fmt.Sprintf("operation(%d)", uint8(o))
}

// ParseOperation parses an operation name (case-insensitive); ErrInvalid
// for an unknown one.
func ParseOperation(s string) (Operation, error) {
	for o, n := range opNames {
		if strings.EqualFold(s, n) {
			return o, nil
		}
	}
	return 0, fmt.Errorf("%w: operation %q (want read, write, create, delete, alter, describe, admin or idempotent-write)", ErrInvalid, s)
}

// Resource is the type of thing a rule covers.
type Resource uint8

// The resource types. ResourceTransactionalID is Kafka's TRANSACTIONAL_ID:
// the transactional.id of a transactional producer, named by any string
// (a pattern's literal segments are in the topic grammar, so an id with
// other characters is matched by wildcards only); its operations are
// write (use the id: InitProducerId, the transaction requests, produce
// in the transaction) and describe (find its coordinator, describe and
// list its transactions).
const (
	ResourceTopic Resource = iota + 1
	ResourceGroup
	ResourceCluster
	ResourceTransactionalID
)

var resourceNames = map[Resource]string{
	ResourceTopic: "topic", ResourceGroup: "group", ResourceCluster: "cluster",
	ResourceTransactionalID: "transactional-id",
}

// resourceOps are the operations a rule may name per resource type, when
// not all: as Kafka, a transactional id knows write and describe, and
// idempotent-write exists on the cluster only.
var resourceOps = map[Resource]uint16{
	ResourceTopic:           allOps &^ (1 << OpIdempotentWrite),
	ResourceGroup:           allOps &^ (1 << OpIdempotentWrite),
	ResourceTransactionalID: 1<<OpWrite | 1<<OpDescribe | 1<<OpAdmin,
	ResourceCluster:         allOps,
}

// allOps has the bit of every operation.
const allOps uint16 = 1<<OpRead | 1<<OpWrite | 1<<OpCreate | 1<<OpDelete | 1<<OpAlter |
	1<<OpDescribe | 1<<OpAdmin | 1<<OpIdempotentWrite

// String returns the resource type's lower-case name.
func (r Resource) String() string {
	if n, ok := resourceNames[r]; ok {
		return n
	}
	return fmt.Sprintf("resource(%d)", uint8(r))
}

// ParseResource parses a resource type name (case-insensitive);
// ErrInvalid for an unknown one.
func ParseResource(s string) (Resource, error) {
	for r, n := range resourceNames {
		if strings.EqualFold(s, n) {
			return r, nil
		}
	}
	return 0, fmt.Errorf("%w: resource type %q (want topic, group, cluster or transactional-id)", ErrInvalid, s)
}

// Rule allows Principal ("*": any authenticated principal) the
// Operations on the resources of type Resource whose names match Pattern
// (the bus's grammar; ignored for the cluster).
type Rule struct {
	Principal  string
	Resource   Resource
	Pattern    string
	Operations []Operation
}

// String describes the rule.
func (r Rule) String() string {
	ops := make([]string, len(r.Operations))
	for i, o := range r.Operations {
		ops[i] = o.String()
	}
	if r.Resource == ResourceCluster {
		return fmt.Sprintf("allow %s %s on cluster", r.Principal, strings.Join(ops, ","))
	}
	return fmt.Sprintf("allow %s %s on %s %s", r.Principal, strings.Join(ops, ","), r.Resource, r.Pattern)
}

// Validate reports, as ErrInvalid with the reason, what SetRules and
// AddRules would refuse in r: an empty principal, an unknown resource
// type, a bad pattern, no operations, or an operation the resource type
// lacks.
func (r Rule) Validate() error {
	_, err := compileRule(r)
	return err
}

// rule is a compiled Rule.
type rule struct {
	src       Rule // as given, operations copied
	principal string
	resource  Resource
	pattern   core.Pattern
	ops       uint16 // bit per Operation
}

func compileRule(r Rule) (rule, error) {
	c := rule{principal: r.Principal, resource: r.Resource}
	c.src = r
	c.src.Operations = append([]Operation(nil), r.Operations...)
	if r.Principal == "" {
		return rule{}, fmt.Errorf("%w: rule %s: empty principal", ErrInvalid, r)
	}
	if _, ok := resourceNames[r.Resource]; !ok {
		return rule{}, fmt.Errorf("%w: rule %s: unknown resource type", ErrInvalid, r)
	}
	if r.Resource != ResourceCluster {
		p, err := core.CompilePattern(r.Pattern)
		if err != nil {
			return rule{}, fmt.Errorf("%w: rule %s: pattern: %w", ErrInvalid, r, err)
		}
		c.pattern = p
	}
	if len(r.Operations) == 0 {
		return rule{}, fmt.Errorf("%w: rule %s: no operations", ErrInvalid, r)
	}
	for _, o := range r.Operations {
		if _, ok := opNames[o]; !ok {
			return rule{}, fmt.Errorf("%w: rule %s: unknown operation", ErrInvalid, r)
		}
		if resourceOps[r.Resource]&(1<<o) == 0 {
			return rule{}, fmt.Errorf("%w: rule %s: a %s has no %s operation", ErrInvalid, r, r.Resource, o)
		}
		c.ops |= 1 << o
	}
	return c, nil
}

// allows reports whether the compiled rule grants op on (res, name) to
// principal. Describe is implied by every other operation, and admin
// implies all.
func (c rule) allows(principal string, res Resource, name string, op Operation) bool {
	if !c.grants(principal, res, op) {
		return false
	}
	return res == ResourceCluster || c.pattern.Match(name)
}

// grants reports whether the rule gives principal op on resources of
// type res, whatever their names.
func (c rule) grants(principal string, res Resource, op Operation) bool {
	if c.resource != res || (c.principal != "*" && c.principal != principal) {
		return false
	}
	if c.ops&(1<<op) != 0 || c.ops&(1<<OpAdmin) != 0 {
		return true
	}
	return op == OpDescribe && c.ops != 0
}
