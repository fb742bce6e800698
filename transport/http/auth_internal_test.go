package http

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/danielgtaylor/huma/v2"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/store/bolt"
)

// TestAuthRulesCoverEveryOperation: each registered operation is
// classified deliberately (an unlisted one would fall back to cluster
// admin), and no rule names an operation that does not exist.
func TestAuthRulesCoverEveryOperation(t *testing.T) {
	st, err := bolt.Open(filepath.Join(t.TempDir(), "bus.db"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := core.New(core.WithStore(st))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close(t.Context()) })
	s, err := New(b)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(t.Context()) })
	seen := map[string]bool{}
	for path, item := range s.api.OpenAPI().Paths {
		for _, op := range []*huma.Operation{item.Get, item.Put, item.Post, item.Delete, item.Patch} {
			if op == nil {
				continue
			}
			seen[op.OperationID] = true
			need, ok := authRules[op.OperationID]
			if !ok {
				t.Errorf("operation %s (%s) has no auth rule", op.OperationID, path)
				continue
			}
			if need.param != "" && !containsParam(path, need.param) {
				t.Errorf("operation %s: rule names path parameter %q, not in %s", op.OperationID, need.param, path)
			}
		}
	}
	for id := range authRules {
		if !seen[id] {
			t.Errorf("auth rule for %s, which is not an operation", id)
		}
	}
}

func containsParam(path, p string) bool { return strings.Contains(path, "{"+p+"}") }
