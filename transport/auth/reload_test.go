package auth_test

import (
	"errors"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/onexbus/onexbus/transport/auth"
)

// TestReplaceSwapsEverythingInOneStep: a snapshot with a new user, a
// token record and rules replaces the old users, tokens and rules; the
// old user no longer authenticates and the old token is unknown.
func TestReplaceSwapsEverythingInOneStep(t *testing.T) {
	s := auth.NewStore()
	if err := s.AddUser("old", "old-pass"); err != nil {
		t.Fatal(err)
	}
	oldTok, _, err := s.CreateToken("old", 0)
	if err != nil {
		t.Fatal(err)
	}
	cred, err := auth.NewCredential(auth.SCRAMSHA256, "new-pass", 0)
	if err != nil {
		t.Fatal(err)
	}
	donor := auth.NewStore()
	newTok, rec, err := donor.CreateToken("new", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	snap := auth.Snapshot{
		Users:  map[string][]auth.Credential{"new": {cred}},
		Tokens: []auth.TokenRecord{rec},
		Rules:  []auth.Rule{{Principal: "new", Resource: auth.ResourceTopic, Pattern: "orders.**", Operations: []auth.Operation{auth.OpRead}}},
	}
	if err := s.Replace(snap); err != nil {
		t.Fatal(err)
	}
	if err := s.VerifyPassword("old", "old-pass"); !errors.Is(err, auth.ErrUnknownUser) {
		t.Errorf("old user after replace: %v, want ErrUnknownUser", err)
	}
	if err := s.VerifyPassword("new", "new-pass"); err != nil {
		t.Errorf("new user: %v", err)
	}
	if _, err := s.VerifyToken(oldTok); !errors.Is(err, auth.ErrUnknownToken) {
		t.Errorf("old token: %v, want ErrUnknownToken", err)
	}
	if p, err := s.VerifyToken(newTok); err != nil || p != "new" {
		t.Errorf("new token: %q, %v", p, err)
	}
	if err := s.Authorize("new", auth.ResourceTopic, "orders.eu", auth.OpRead); err != nil {
		t.Errorf("rule from snapshot: %v", err)
	}
	if err := s.Authorize("new", auth.ResourceTopic, "orders.eu", auth.OpWrite); !errors.Is(err, auth.ErrForbidden) {
		t.Errorf("write without rule: %v, want ErrForbidden", err)
	}
}

// TestReplaceRefusesABadSnapshotWhole: every problem is reported and the
// store keeps its old state.
func TestReplaceRefusesABadSnapshotWhole(t *testing.T) {
	s := auth.NewStore()
	if err := s.AddUser("alice", "pw"); err != nil {
		t.Fatal(err)
	}
	good, _ := auth.NewCredential(auth.SCRAMSHA512, "x", 0)
	bad := good
	bad.StoredKey = []byte("short")
	cases := map[string]auth.Snapshot{
		"bad user name":      {Users: map[string][]auth.Credential{"a b": {good}}},
		"no credentials":     {Users: map[string][]auth.Credential{"bob": nil}},
		"malformed key":      {Users: map[string][]auth.Credential{"bob": {bad}}},
		"two of a mechanism": {Users: map[string][]auth.Credential{"bob": {good, good}}},
		"bad token id":       {Tokens: []auth.TokenRecord{{ID: "a_b", Principal: "bob"}}},
		"token of bad name":  {Tokens: []auth.TokenRecord{{ID: "ab", Principal: "*"}}},
		"duplicate token id": {Tokens: []auth.TokenRecord{{ID: "ab", Principal: "bob"}, {ID: "ab", Principal: "bob"}}},
		"rule bad pattern":   {Rules: []auth.Rule{{Principal: "bob", Resource: auth.ResourceTopic, Pattern: "a b", Operations: []auth.Operation{auth.OpRead}}}},
		"rule no operations": {Rules: []auth.Rule{{Principal: "bob", Resource: auth.ResourceTopic, Pattern: "a"}}},
	}
	for name, snap := range cases {
		t.Run(name, func(t *testing.T) {
			snap.Users = mergeUsers(snap.Users, "carol", good)
			err := s.Replace(snap)
			if !errors.Is(err, auth.ErrInvalid) {
				t.Fatalf("Replace: %v, want ErrInvalid", err)
			}
			if err := s.Replace(snap); err == nil {
				t.Fatal("second Replace succeeded")
			}
			if err := s.VerifyPassword("alice", "pw"); err != nil {
				t.Errorf("old state lost: %v", err)
			}
			if err := s.VerifyPassword("carol", "x"); !errors.Is(err, auth.ErrUnknownUser) {
				t.Errorf("half applied: carol %v", err)
			}
		})
	}
	// Two problems at once are both named.
	err := s.Replace(auth.Snapshot{Users: map[string][]auth.Credential{"a b": {good}, "bob": nil}})
	if msg := err.Error(); !contains(msg, "2 problems") {
		t.Errorf("error %q does not count both problems", msg)
	}
}

func mergeUsers(m map[string][]auth.Credential, name string, c auth.Credential) map[string][]auth.Credential {
	out := map[string][]auth.Credential{name: {c}}
	for k, v := range m {
		out[k] = v
	}
	return out
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

// TestReplaceFromHoldsOffRuleEdits: a reload reads its snapshot (the
// configuration file) inside ReplaceFrom; an ACL edit that arrives while
// it reads waits, then persists and applies after the swap. Were the edit
// to persist and apply between the read and the swap, the swap would
// undo it in memory while the file kept it. The file is a variable here,
// written by the persister, read by load.
func TestReplaceFromHoldsOffRuleEdits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var file []auth.Rule // what the persister wrote last
		s := auth.NewStore(auth.WithRulePersister(func(rules []auth.Rule) error {
			file = rules
			return nil
		}))
		edit := auth.Rule{Principal: "alice", Resource: auth.ResourceTopic, Pattern: "orders.**", Operations: []auth.Operation{auth.OpWrite}}
		read, release := make(chan struct{}), make(chan struct{})
		reloaded := make(chan error, 1)
		go func() {
			reloaded <- s.ReplaceFrom(func() (auth.Snapshot, error) {
				snap := auth.Snapshot{Rules: slices.Clone(file)}
				close(read)
				<-release // the reload is slow between its read and its swap
				return snap, nil
			})
		}()
		<-read
		edited := make(chan error, 1)
		go func() { edited <- s.AddRules(edit) }()
		synctest.Wait() // the edit has run as far as it can
		select {
		case err := <-edited:
			t.Fatalf("AddRules returned (%v) while a reload was between its read and its swap", err)
		default:
		}
		close(release)
		if err := <-reloaded; err != nil {
			t.Fatal(err)
		}
		if err := <-edited; err != nil {
			t.Fatal(err)
		}
		if got := s.Rules(); !slices.EqualFunc(got, file, ruleEqual) || len(got) != 1 {
			t.Fatalf("store rules %v, file rules %v: want the same one edit in both", got, file)
		}
		if err := s.Authorize("alice", auth.ResourceTopic, "orders.eu", auth.OpWrite); err != nil {
			t.Fatalf("the edit was lost in memory: %v", err)
		}
	})
}

func ruleEqual(a, b auth.Rule) bool {
	return a.Principal == b.Principal && a.Resource == b.Resource && a.Pattern == b.Pattern && slices.Equal(a.Operations, b.Operations)
}
