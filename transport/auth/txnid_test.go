package auth

import (
	"errors"
	"strings"
	"testing"
)

// Transactional ids (Kafka's TRANSACTIONAL_ID resource) take write and
// describe; idempotent-write is a cluster operation; AuthorizeAny is
// Kafka's authorizeByResourceType.
func TestTransactionalIDRules(t *testing.T) {
	s := NewStore()
	err := s.SetRules([]Rule{
		{Principal: "etl", Resource: ResourceTransactionalID, Pattern: "etl.*", Operations: []Operation{OpWrite}},
		{Principal: "watcher", Resource: ResourceTransactionalID, Pattern: "**", Operations: []Operation{OpDescribe}},
		{Principal: "ops", Resource: ResourceTransactionalID, Pattern: "**", Operations: []Operation{OpAdmin}},
		{Principal: "idem", Resource: ResourceCluster, Operations: []Operation{OpIdempotentWrite}},
		{Principal: "writer", Resource: ResourceTopic, Pattern: "orders", Operations: []Operation{OpWrite}},
		{Principal: "root", Resource: ResourceCluster, Operations: []Operation{OpAdmin}},
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
		{"etl", ResourceTransactionalID, "etl.app1", OpWrite, true},
		{"etl", ResourceTransactionalID, "etl.app1", OpDescribe, true}, // implied by write
		{"etl", ResourceTransactionalID, "other", OpWrite, false},
		{"etl", ResourceTopic, "etl.app1", OpWrite, false}, // the resource type matters
		{"watcher", ResourceTransactionalID, "any:id/with spaces", OpDescribe, true},
		{"watcher", ResourceTransactionalID, "x", OpWrite, false},
		{"ops", ResourceTransactionalID, "x", OpWrite, true},
		{"idem", ResourceCluster, "", OpIdempotentWrite, true},
		{"idem", ResourceCluster, "", OpDescribe, true},
		{"idem", ResourceCluster, "", OpAlter, false},
		{"root", ResourceCluster, "", OpIdempotentWrite, true}, // admin implies it
		{"writer", ResourceCluster, "", OpIdempotentWrite, false},
	} {
		t.Run(tc.principal+"/"+tc.res.String()+"/"+tc.name+"/"+tc.op.String(), func(t *testing.T) {
			err := s.Authorize(tc.principal, tc.res, tc.name, tc.op)
			if tc.allowed != (err == nil) {
				t.Fatalf("allowed=%v, err=%v", tc.allowed, err)
			}
			if err != nil && !errors.Is(err, ErrForbidden) {
				t.Fatalf("err %v is not ErrForbidden", err)
			}
		})
	}
	for _, tc := range []struct {
		principal string
		res       Resource
		op        Operation
		allowed   bool
	}{
		{"writer", ResourceTopic, OpWrite, true},
		{"writer", ResourceTopic, OpRead, false},
		{"etl", ResourceTopic, OpWrite, false},
		{"etl", ResourceTransactionalID, OpWrite, true},
		{"nobody", ResourceTopic, OpWrite, false},
	} {
		err := s.AuthorizeAny(tc.principal, tc.res, tc.op)
		if tc.allowed != (err == nil) || err != nil && !errors.Is(err, ErrForbidden) {
			t.Errorf("AuthorizeAny(%s, %s, %s) = %v, want allowed=%v", tc.principal, tc.res, tc.op, err, tc.allowed)
		}
	}
	if err := NewStore().AuthorizeAny("anyone", ResourceTopic, OpWrite); err != nil {
		t.Errorf("no rules: %v", err)
	}
}

func TestTransactionalIDRulesRefuseOtherOperations(t *testing.T) {
	bad := []Rule{
		{Principal: "a", Resource: ResourceTransactionalID, Pattern: "t", Operations: []Operation{OpRead}},
		{Principal: "a", Resource: ResourceTransactionalID, Pattern: "t", Operations: []Operation{OpWrite, OpAlter}},
		{Principal: "a", Resource: ResourceTransactionalID, Pattern: "t", Operations: []Operation{OpIdempotentWrite}},
		{Principal: "a", Resource: ResourceTopic, Pattern: "t", Operations: []Operation{OpIdempotentWrite}},
		{Principal: "a", Resource: ResourceGroup, Pattern: "g", Operations: []Operation{OpIdempotentWrite}},
		{Principal: "a", Resource: ResourceTransactionalID, Pattern: "a*", Operations: []Operation{OpWrite}},
	}
	err := NewStore().SetRules(bad)
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("err = %v", err)
	}
	if n := strings.Count(err.Error(), "auth: invalid"); n != len(bad) {
		t.Fatalf("%d problems reported, want %d: %v", n, len(bad), err)
	}
	if !strings.Contains(err.Error(), "a transactional-id has no read operation") {
		t.Fatalf("the reason is not named: %v", err)
	}
	for name, want := range map[string]Resource{"transactional-id": ResourceTransactionalID, "Transactional-ID": ResourceTransactionalID} {
		if got, err := ParseResource(name); err != nil || got != want {
			t.Errorf("ParseResource(%q) = %v, %v", name, got, err)
		}
	}
	if got, err := ParseOperation("IDEMPOTENT-WRITE"); err != nil || got != OpIdempotentWrite {
		t.Errorf("ParseOperation(IDEMPOTENT-WRITE) = %v, %v", got, err)
	}
}
