package auth

import (
	"errors"
	"slices"
	"testing"
)

func TestRuleAdmin(t *testing.T) {
	var persisted [][]Rule
	fail := false
	s := NewStore(WithRulePersister(func(rules []Rule) error {
		if fail {
			return errors.New("disk full")
		}
		persisted = append(persisted, rules)
		return nil
	}))
	read := Rule{Principal: "alice", Resource: ResourceTopic, Pattern: "orders.*", Operations: []Operation{OpRead}}
	write := Rule{Principal: "bob", Resource: ResourceTopic, Pattern: "orders.*", Operations: []Operation{OpWrite, OpDescribe}}
	if err := s.AddRules(read, write); err != nil {
		t.Fatal(err)
	}
	if len(persisted) != 1 || len(persisted[0]) != 2 {
		t.Fatalf("persister got %v", persisted)
	}
	if err := s.Authorize("alice", ResourceTopic, "orders.eu", OpRead); err != nil {
		t.Fatalf("added rule not applied: %v", err)
	}
	// The same rule (operations in another order) is added once.
	dup := write
	dup.Operations = []Operation{OpDescribe, OpWrite}
	if err := s.AddRules(dup); err != nil {
		t.Fatal(err)
	}
	if got := s.Rules(); len(got) != 2 || len(persisted) != 1 {
		t.Fatalf("duplicate added: %v (persisted %d times)", got, len(persisted))
	}
	// Rules returns a copy.
	got := s.Rules()
	got[0].Operations[0] = OpAdmin
	if s.Rules()[0].Operations[0] != OpRead {
		t.Fatal("Rules shares its slices with the store")
	}

	t.Run("bad rule refused, nothing changes", func(t *testing.T) {
		err := s.AddRules(Rule{Principal: "x", Resource: ResourceTopic, Pattern: "a.b"})
		if !errors.Is(err, ErrInvalid) || len(s.Rules()) != 2 {
			t.Fatalf("AddRules(bad) = %v, rules %v", err, s.Rules())
		}
	})
	t.Run("persister refuses", func(t *testing.T) {
		fail = true
		defer func() { fail = false }()
		extra := Rule{Principal: "carol", Resource: ResourceCluster, Operations: []Operation{OpAlter}}
		if err := s.AddRules(extra); err == nil || len(s.Rules()) != 2 {
			t.Fatalf("AddRules with a failing persister = %v, rules %v", err, s.Rules())
		}
		if err := s.Authorize("carol", ResourceCluster, "", OpAlter); !errors.Is(err, ErrForbidden) {
			t.Fatalf("refused rule applied: %v", err)
		}
		removed, err := s.DeleteRules(func(Rule) bool { return true })
		if err == nil || removed != nil || len(s.Rules()) != 2 {
			t.Fatalf("DeleteRules with a failing persister = %v, %v", removed, err)
		}
	})
	t.Run("delete", func(t *testing.T) {
		n := len(persisted)
		removed, err := s.DeleteRules(func(r Rule) bool { return r.Principal == "alice" })
		if err != nil || len(removed) != 1 || removed[0].Principal != "alice" {
			t.Fatalf("DeleteRules = %v, %v", removed, err)
		}
		if err := s.Authorize("alice", ResourceTopic, "orders.eu", OpRead); !errors.Is(err, ErrForbidden) {
			t.Fatalf("deleted rule still applies: %v", err)
		}
		if len(persisted) != n+1 || !slices.EqualFunc(persisted[n], s.Rules(), sameRule) {
			t.Fatalf("persister not given the remaining set: %v", persisted[n:])
		}
		// Deleting nothing does not persist.
		if removed, err := s.DeleteRules(func(Rule) bool { return false }); err != nil || removed != nil || len(persisted) != n+1 {
			t.Fatalf("empty delete = %v, %v, persisted %d", removed, err, len(persisted))
		}
		if _, err := s.DeleteRules(nil); !errors.Is(err, ErrInvalid) {
			t.Fatalf("nil match: %v", err)
		}
	})
}
