package broker

import (
	"errors"
	"slices"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/onexbus/onexbus/transport/auth"
)

// aclAdminBroker has an admin allowed everything, alice and bob with no
// rules, and a persister that records each rule set (or refuses while
// failing is set).
type aclAdmin struct {
	tb      *testBroker
	store   *auth.Store
	mu      sync.Mutex
	saved   [][]auth.Rule
	failing bool
}

func newACLAdmin(t *testing.T) *aclAdmin {
	t.Helper()
	a := &aclAdmin{}
	a.store = auth.NewStore(auth.WithRulePersister(func(rules []auth.Rule) error {
		a.mu.Lock()
		defer a.mu.Unlock()
		if a.failing {
			return errors.New("config file read-only")
		}
		a.saved = append(a.saved, rules)
		return nil
	}))
	for _, u := range []string{"admin", "alice", "bob"} {
		if err := a.store.AddUser(u, u+"-pw"); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.store.SetRules([]auth.Rule{
		{Principal: "admin", Resource: auth.ResourceCluster, Operations: []auth.Operation{auth.OpAdmin}},
		{Principal: "admin", Resource: auth.ResourceTopic, Pattern: "**", Operations: []auth.Operation{auth.OpAdmin}},
	}); err != nil {
		t.Fatal(err)
	}
	sasl, err := NewStoreAuthenticator(a.store, true)
	if err != nil {
		t.Fatal(err)
	}
	a.tb = startBroker(t, WithSASL(sasl), WithACL(a.store))
	return a
}

func (a *aclAdmin) savedCount() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.saved)
}

// TestKafkaACLAdminWithKadm: kadm creates, describes and deletes ACLs on
// the store's rules; they take effect at once, go through the persister,
// and what the store cannot express, or a principal without the cluster
// right, is refused as Kafka refuses it.
func TestKafkaACLAdminWithKadm(t *testing.T) {
	a := newACLAdmin(t)
	tb := a.tb
	ctx := testCtx(t)
	admin := kadm.NewClient(tb.as(t, "admin"))
	if err := tb.as(t, "admin", kgo.AllowAutoTopicCreation()).ProduceSync(ctx, &kgo.Record{Topic: "orders.eu", Value: []byte("x")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	// Before: alice may not read.
	if err := a.store.Authorize("alice", auth.ResourceTopic, "orders.eu", auth.OpRead); !errors.Is(err, auth.ErrForbidden) {
		t.Fatalf("alice reads before any ACL: %v", err)
	}
	created, err := admin.CreateACLs(ctx, kadm.NewACLs().Allow("User:alice").Topics("orders.eu").Operations(kadm.OpRead, kadm.OpDescribe))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range created {
		if c.Err != nil {
			t.Fatalf("create %s %v: %v %s", c.Name, c.Operation, c.Err, c.ErrMessage)
		}
	}
	prefixed, err := admin.CreateACLs(ctx, kadm.NewACLs().Allow("User:bob").Topics("orders.").ResourcePatternType(kadm.ACLPatternPrefixed).Operations(kadm.OpWrite))
	if err != nil || prefixed[0].Err != nil {
		t.Fatalf("create prefixed: %v %v", err, prefixed)
	}
	if a.savedCount() != 2 {
		t.Fatalf("persister called %d times for 2 CreateAcls", a.savedCount())
	}
	// In effect: alice reads orders.eu with kgo; bob writes orders.us but
	// not the topic "orders" itself (a prefix "orders." is not "orders").
	alice := tb.as(t, "alice", kgo.ConsumeTopics("orders.eu"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if fs := alice.PollFetches(ctx); fs.Err0() != nil || fs.NumRecords() != 1 {
		t.Fatalf("alice reads orders.eu after CreateAcls: %v %d", fs.Err0(), fs.NumRecords())
	}
	if err := a.store.Authorize("bob", auth.ResourceTopic, "orders.us.west", auth.OpWrite); err != nil {
		t.Fatalf("bob writes orders.us.west: %v", err)
	}
	if err := a.store.Authorize("bob", auth.ResourceTopic, "orders", auth.OpWrite); !errors.Is(err, auth.ErrForbidden) {
		t.Fatalf("bob writes orders: %v", err)
	}

	t.Run("describe", func(t *testing.T) {
		described, err := admin.DescribeACLs(ctx, kadm.NewACLs().AnyResource().Allow().AllowHosts().Operations(kadm.OpAny).ResourcePatternType(kadm.ACLPatternAny))
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range described {
			if r.Err != nil {
				t.Fatalf("describe: %v", r.Err)
			}
			for _, d := range r.Described {
				got = append(got, d.Principal+" "+d.Type.String()+" "+d.Pattern.String()+" "+d.Name+" "+d.Operation.String())
			}
		}
		slices.Sort(got)
		want := []string{
			"User:admin CLUSTER LITERAL kafka-cluster ALL",
			"User:admin TOPIC LITERAL * ALL",
			"User:alice TOPIC LITERAL orders.eu DESCRIBE",
			"User:alice TOPIC LITERAL orders.eu READ",
			"User:bob TOPIC PREFIXED orders. WRITE",
		}
		if !slices.Equal(slices.Compact(got), want) {
			t.Fatalf("described:\n%v\nwant\n%v", got, want)
		}
		// MATCH finds what applies to one topic.
		match, err := admin.DescribeACLs(ctx, kadm.NewACLs().Topics("orders.us").Allow().AllowHosts().Operations(kadm.OpAny).ResourcePatternType(kadm.ACLPatternMatch))
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, r := range match {
			for _, d := range r.Described {
				names = append(names, d.Principal)
			}
		}
		slices.Sort(names)
		if !slices.Equal(slices.Compact(names), []string{"User:admin", "User:bob"}) {
			t.Fatalf("MATCH orders.us: %v", names)
		}
	})

	t.Run("what the store cannot express", func(t *testing.T) {
		for name, b := range map[string]*kadm.ACLBuilder{
			"deny":                        kadm.NewACLs().Deny("User:alice").Topics("orders.eu").Operations(kadm.OpRead),
			"host":                        kadm.NewACLs().Allow("User:alice").AllowHosts("10.0.0.1").Topics("orders.eu").Operations(kadm.OpRead),
			"read on a transactional id":  kadm.NewACLs().Allow("User:alice").TransactionalIDs("tx").Operations(kadm.OpRead),
			"idempotent write on a topic": kadm.NewACLs().Allow("User:alice").Topics("orders.eu").Operations(kadm.OpIdempotentWrite),
			"prefix mid-segment": kadm.NewACLs().Allow("User:alice").Topics("ord").ResourcePatternType(kadm.ACLPatternPrefixed).
				Operations(kadm.OpRead),
			"describe configs": kadm.NewACLs().Allow("User:alice").Topics("orders.eu").Operations(kadm.OpDescribeConfigs),
			"wildcard literal": kadm.NewACLs().Allow("User:alice").Topics("orders.*").Operations(kadm.OpRead),
		} {
			t.Run(name, func(t *testing.T) {
				before := a.store.Rules()
				res, err := admin.CreateACLs(ctx, b)
				if err != nil {
					t.Fatal(err)
				}
				for _, r := range res {
					if !errors.Is(r.Err, kerr.InvalidRequest) || r.ErrMessage == "" {
						t.Fatalf("%s: %v %q, want INVALID_REQUEST with a reason", name, r.Err, r.ErrMessage)
					}
				}
				if !slices.EqualFunc(before, a.store.Rules(), func(x, y auth.Rule) bool { return x.String() == y.String() }) {
					t.Fatal("rules changed")
				}
			})
		}
	})

	t.Run("without the cluster right", func(t *testing.T) {
		aliceAdm := kadm.NewClient(tb.as(t, "alice"))
		res, err := aliceAdm.CreateACLs(ctx, kadm.NewACLs().Allow("User:alice").Topics("secret").Operations(kadm.OpRead))
		if err != nil || !errors.Is(res[0].Err, kerr.ClusterAuthorizationFailed) {
			t.Fatalf("alice CreateAcls: %v %v", err, res)
		}
		desc, err := aliceAdm.DescribeACLs(ctx, kadm.NewACLs().AnyResource().Allow().AllowHosts().Operations(kadm.OpAny).ResourcePatternType(kadm.ACLPatternAny))
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range desc {
			if !errors.Is(d.Err, kerr.ClusterAuthorizationFailed) {
				t.Fatalf("alice DescribeAcls: %v", d.Err)
			}
		}
		del, err := aliceAdm.DeleteACLs(ctx, kadm.NewACLs().AnyResource().Allow().AllowHosts().Operations(kadm.OpAny).ResourcePatternType(kadm.ACLPatternAny))
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range del {
			if !errors.Is(d.Err, kerr.ClusterAuthorizationFailed) {
				t.Fatalf("alice DeleteAcls: %v", d.Err)
			}
		}
	})

	t.Run("persister refuses", func(t *testing.T) {
		a.mu.Lock()
		a.failing = true
		a.mu.Unlock()
		defer func() { a.mu.Lock(); a.failing = false; a.mu.Unlock() }()
		res, err := admin.CreateACLs(ctx, kadm.NewACLs().Allow("User:alice").Groups("g").Operations(kadm.OpRead))
		if err != nil || !errors.Is(res[0].Err, kerr.UnknownServerError) {
			t.Fatalf("CreateAcls with a failing persister: %v %v", err, res)
		}
		if err := a.store.Authorize("alice", auth.ResourceGroup, "g", auth.OpRead); !errors.Is(err, auth.ErrForbidden) {
			t.Fatal("a refused rule applies")
		}
	})

	t.Run("delete", func(t *testing.T) {
		del, err := admin.DeleteACLs(ctx, kadm.NewACLs().Allow("User:alice").Topics("orders.eu").Operations(kadm.OpRead).AllowHosts())
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, d := range del {
			if d.Err != nil {
				t.Fatalf("delete: %v", d.Err)
			}
			n += len(d.Deleted)
		}
		if n != 1 {
			t.Fatalf("deleted %d bindings, want 1", n)
		}
		if err := a.store.Authorize("alice", auth.ResourceTopic, "orders.eu", auth.OpRead); !errors.Is(err, auth.ErrForbidden) {
			t.Fatalf("alice reads after DeleteAcls: %v", err)
		}
		if err := a.store.Authorize("alice", auth.ResourceTopic, "orders.eu", auth.OpDescribe); err != nil {
			t.Fatalf("alice's DESCRIBE went with the READ: %v", err)
		}
	})
}

// TestACLKeysOnlyWithACL: ApiVersions advertises 29-31 only with WithACL.
func TestACLKeysOnlyWithACL(t *testing.T) {
	advertised := func(tb *testBroker) map[int16]bool {
		resp := dialRaw(t, tb.addr).do(kmsg.NewPtrApiVersionsRequest()).(*kmsg.ApiVersionsResponse)
		out := map[int16]bool{}
		for _, k := range resp.ApiKeys {
			out[k.ApiKey] = true
		}
		return out
	}
	plain, with := advertised(startBroker(t)), advertised(startBroker(t, WithACL(auth.NewStore())))
	for _, k := range []int16{29, 30, 31} {
		if plain[k] || !with[k] {
			t.Fatalf("key %d advertised without WithACL %v, with %v", k, plain[k], with[k])
		}
	}
}
