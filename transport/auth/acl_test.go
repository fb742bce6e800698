package auth

import (
	"errors"
	"strings"
	"testing"
)

func TestAuthorizeNoRulesAllowsAll(t *testing.T) {
	s := NewStore()
	if s.HasRules() {
		t.Fatal("new store has rules")
	}
	if err := s.Authorize("anyone", ResourceCluster, "", OpAdmin); err != nil {
		t.Fatal(err)
	}
}

func TestAuthorize(t *testing.T) {
	s := NewStore()
	err := s.SetRules([]Rule{
		{Principal: "alice", Resource: ResourceTopic, Pattern: "orders.*", Operations: []Operation{OpRead, OpWrite}},
		{Principal: "reader", Resource: ResourceTopic, Pattern: "orders.**", Operations: []Operation{OpRead}},
		{Principal: "reader", Resource: ResourceGroup, Pattern: "dash.*", Operations: []Operation{OpRead}},
		{Principal: "*", Resource: ResourceTopic, Pattern: "public", Operations: []Operation{OpRead}},
		{Principal: "ops", Resource: ResourceCluster, Operations: []Operation{OpAdmin}},
		{Principal: "ops", Resource: ResourceTopic, Pattern: "**", Operations: []Operation{OpAdmin}},
		{Principal: "maker", Resource: ResourceTopic, Pattern: "tmp.*", Operations: []Operation{OpCreate, OpDelete}},
		{Principal: "auditor", Resource: ResourceCluster, Operations: []Operation{OpDescribe}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		principal string
		res       Resource
		name      string
		op        Operation
		allowed   bool
	}{
		{"alice", ResourceTopic, "orders.eu", OpWrite, true},
		{"alice", ResourceTopic, "orders.eu", OpRead, true},
		{"alice", ResourceTopic, "orders.eu", OpDescribe, true}, // implied
		{"alice", ResourceTopic, "orders.eu.x", OpWrite, false}, // * is one segment
		{"alice", ResourceTopic, "orders.eu", OpDelete, false},
		{"alice", ResourceTopic, "orders.eu", OpAdmin, false},
		{"alice", ResourceGroup, "orders.eu", OpRead, false}, // resource type matters
		{"alice", ResourceCluster, "", OpDescribe, false},
		{"reader", ResourceTopic, "orders.eu.x", OpRead, true}, // ** any number
		{"reader", ResourceTopic, "orders", OpRead, true},      // ** zero segments
		{"reader", ResourceTopic, "orders.eu", OpWrite, false}, // read-only
		{"reader", ResourceGroup, "dash-1", OpRead, false},     // dash-* is a literal name, not a wildcard
		{"reader", ResourceGroup, "dash-*", OpRead, false},
		{"bob", ResourceTopic, "public", OpRead, true}, // "*" principal
		{"bob", ResourceTopic, "public", OpWrite, false},
		{"bob", ResourceTopic, "orders.eu", OpRead, false}, // deny by default
		{"ops", ResourceCluster, "", OpAlter, true},        // admin implies all
		{"ops", ResourceTopic, "a.b.c", OpDelete, true},
		{"ops", ResourceGroup, "g", OpRead, false},
		{"maker", ResourceTopic, "tmp.x", OpCreate, true},
		{"maker", ResourceTopic, "tmp.x", OpDescribe, true},
		{"maker", ResourceTopic, "tmp.x", OpWrite, false},
		{"auditor", ResourceCluster, "", OpDescribe, true},
		{"auditor", ResourceCluster, "", OpAlter, false},
		{"", ResourceTopic, "public", OpRead, true},
		{"ALICE", ResourceTopic, "orders.eu", OpRead, false}, // names are exact
	} {
		name := tc.principal + "/" + tc.res.String() + "/" + tc.name + "/" + tc.op.String()
		t.Run(name, func(t *testing.T) {
			err := s.Authorize(tc.principal, tc.res, tc.name, tc.op)
			if tc.allowed != (err == nil) {
				t.Fatalf("allowed=%v, err=%v", tc.allowed, err)
			}
			if err != nil && !errors.Is(err, ErrForbidden) {
				t.Fatalf("err %v is not ErrForbidden", err)
			}
		})
	}
}

func TestSetRulesRejectsBadRulesWhole(t *testing.T) {
	s := NewStore()
	good := Rule{Principal: "a", Resource: ResourceTopic, Pattern: "t", Operations: []Operation{OpRead}}
	if err := s.SetRules([]Rule{good}); err != nil {
		t.Fatal(err)
	}
	bad := []Rule{
		{Principal: "", Resource: ResourceTopic, Pattern: "t", Operations: []Operation{OpRead}},
		{Principal: "a", Resource: 9, Pattern: "t", Operations: []Operation{OpRead}},
		{Principal: "a", Resource: ResourceTopic, Pattern: "a*", Operations: []Operation{OpRead}},
		{Principal: "a", Resource: ResourceTopic, Pattern: "", Operations: []Operation{OpRead}},
		{Principal: "a", Resource: ResourceTopic, Pattern: "t", Operations: nil},
		{Principal: "a", Resource: ResourceTopic, Pattern: "t", Operations: []Operation{42}},
	}
	err := s.SetRules(append([]Rule{good}, bad...))
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("err = %v", err)
	}
	if n := strings.Count(err.Error(), "auth: invalid"); n != len(bad) {
		t.Fatalf("%d problems reported, want %d: %v", n, len(bad), err)
	}
	// Nothing changed: the old rule set still applies.
	if err := s.Authorize("a", ResourceTopic, "t", OpRead); err != nil {
		t.Fatal(err)
	}
	if err := s.Authorize("a", ResourceTopic, "u", OpRead); !errors.Is(err, ErrForbidden) {
		t.Fatal(err)
	}
	// Clearing the rules returns to authentication only.
	if err := s.SetRules(nil); err != nil || s.HasRules() {
		t.Fatal(err)
	}
}

func TestParseNames(t *testing.T) {
	for _, o := range []Operation{OpRead, OpWrite, OpCreate, OpDelete, OpAlter, OpDescribe, OpAdmin} {
		got, err := ParseOperation(strings.ToUpper(o.String()))
		if err != nil || got != o {
			t.Errorf("ParseOperation(%s) = %v, %v", o, got, err)
		}
	}
	if _, err := ParseOperation("all"); !errors.Is(err, ErrInvalid) {
		t.Error(err)
	}
	for _, r := range []Resource{ResourceTopic, ResourceGroup, ResourceCluster} {
		got, err := ParseResource(r.String())
		if err != nil || got != r {
			t.Errorf("ParseResource(%s) = %v, %v", r, got, err)
		}
	}
	if _, err := ParseResource("host"); !errors.Is(err, ErrInvalid) {
		t.Error(err)
	}
}
