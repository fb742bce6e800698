package auth

import (
	"errors"
	"strings"
	"testing"
)

func TestCovers(t *testing.T) {
	for _, tc := range []struct {
		rule, sub string
		want      bool
	}{
		{"orders", "orders", true},
		{"orders", "orders.eu", false},
		{"orders.*", "orders.eu", true},
		{"orders.*", "orders.*", true},
		{"orders.*", "orders.**", false}, // ** reaches orders.a.b
		{"orders.*", "orders", false},
		{"orders.**", "orders.**", true},
		{"orders.**", "orders.*", true},
		{"orders.**", "orders", true},
		{"orders.**", "orders.*.x.**", true},
		{"orders.**", "other.*", false},
		{"**", "**", true},
		{"**", "a.*.b", true},
		{"*", "**", false},
		{"*.eu", "orders.eu", true},
		{"*.eu", "*.eu", true},
		{"*.eu", "*.us", false},
		{"a.**.z", "a.b.c.z", true},
		{"a.**.z", "a.*.z", true},
		{"a.**.z", "a.**.z", true},
		{"a.**.z", "a.**", false},
		{"a.**.z", "a.b", false},
	} {
		t.Run(tc.rule+"/"+tc.sub, func(t *testing.T) {
			if got := covers(strings.Split(tc.rule, "."), strings.Split(tc.sub, ".")); got != tc.want {
				t.Fatalf("covers(%q, %q) = %v", tc.rule, tc.sub, got)
			}
		})
	}
}

func TestAuthorizePattern(t *testing.T) {
	s := NewStore()
	if err := s.AuthorizePattern("x", ResourceTopic, "**", OpRead); err != nil {
		t.Fatalf("no rules: %v", err)
	}
	if err := s.SetRules([]Rule{
		{Principal: "alice", Resource: ResourceTopic, Pattern: "orders.*", Operations: []Operation{OpRead}},
		{Principal: "ops", Resource: ResourceTopic, Pattern: "**", Operations: []Operation{OpAdmin}},
	}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		principal, pattern string
		op                 Operation
		want               error
	}{
		{"alice", "orders.*", OpRead, nil},
		{"alice", "orders.eu", OpRead, nil},
		{"alice", "orders.**", OpRead, ErrForbidden},
		{"alice", "orders.*", OpWrite, ErrForbidden},
		{"bob", "orders.*", OpRead, ErrForbidden},
		{"ops", "**", OpRead, nil},
		{"alice", "a*", OpRead, ErrInvalid},
	} {
		t.Run(tc.principal+"/"+tc.pattern+"/"+tc.op.String(), func(t *testing.T) {
			err := s.AuthorizePattern(tc.principal, ResourceTopic, tc.pattern, tc.op)
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
	if err := s.AuthorizePattern("ops", ResourceCluster, "**", OpRead); !errors.Is(err, ErrInvalid) {
		t.Fatalf("cluster pattern: %v", err)
	}
}
