package dispatch_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/onexbus/onexbus/core"
	"github.com/onexbus/onexbus/dispatch"
)

func TestRegistryRules(t *testing.T) {
	r := dispatch.NewRegistry()
	paid := dispatch.TypeEntry{MessageType: "paid", HandlerIDs: []string{"h1"}, Categories: []core.Category{core.CategoryEvent},
		Domain: dispatch.DomainConstraint{Owner: "billing", AllowedCrossDomains: []string{"mail"}}}
	if err := r.Register(paid); err != nil {
		t.Fatal(err)
	}
	// Again with more handlers: merged.
	more := paid
	more.HandlerIDs = []string{"h2", "h1"}
	if err := r.Register(more); err != nil {
		t.Fatal(err)
	}
	if e, _ := r.Entry("paid"); !slices.Equal(e.HandlerIDs, []string{"h1", "h2"}) {
		t.Fatalf("merged handlers %v", e.HandlerIDs)
	}
	// A differing constraint or category set is refused.
	other := paid
	other.Domain.Owner = "shop"
	if err := r.Register(other); !errors.Is(err, dispatch.ErrConstraintConflict) {
		t.Fatalf("other owner: %v", err)
	}
	cats := paid
	cats.Categories = []core.Category{core.CategoryCommand}
	if err := r.Register(cats); !errors.Is(err, dispatch.ErrConstraintConflict) {
		t.Fatalf("other categories: %v", err)
	}
	for _, bad := range []dispatch.TypeEntry{
		{HandlerIDs: []string{"h"}, Categories: []core.Category{core.CategoryEvent}, Domain: dispatch.DomainConstraint{Owner: "d"}},
		{MessageType: "t", Categories: []core.Category{core.CategoryEvent}, Domain: dispatch.DomainConstraint{Owner: "d"}},
		{MessageType: "t", HandlerIDs: []string{"h"}, Domain: dispatch.DomainConstraint{Owner: "d"}},
		{MessageType: "t", HandlerIDs: []string{"h"}, Categories: []core.Category{core.CategoryEvent}},
	} {
		if err := r.Register(bad); !errors.Is(err, dispatch.ErrInvalid) {
			t.Errorf("%+v: %v", bad, err)
		}
	}
	_ = r.Register(dispatch.TypeEntry{MessageType: "off", HandlerIDs: []string{"h"}, Categories: []core.Category{core.CategoryEvent},
		Domain: dispatch.DomainConstraint{AllowAll: true}, Disabled: true})
	for _, c := range []struct {
		typ    string
		cat    core.Category
		domain string
		want   error
	}{
		{"paid", core.CategoryEvent, "billing", nil},
		{"paid", core.CategoryEvent, "mail", nil},
		{"paid", core.CategoryEvent, "shop", dispatch.ErrDomainNotAllowed},
		{"paid", core.CategoryCommand, "billing", dispatch.ErrCategoryNotAllowed},
		{"nope", core.CategoryEvent, "billing", dispatch.ErrUnknownType},
		{"off", core.CategoryEvent, "x", dispatch.ErrTypeDisabled},
	} {
		_, err := r.Handlers(c.typ, c.cat, c.domain)
		if !errors.Is(err, c.want) || (c.want == nil && err != nil) {
			t.Errorf("%s/%s/%s: %v, want %v", c.typ, c.cat, c.domain, err, c.want)
		}
	}
	if d := dispatch.DomainOf("onex.evt.billing.paid.v1"); d != "billing" {
		t.Fatalf("domain %q", d)
	}
	if d := dispatch.DomainOf("prod.mail.events.v1"); d != "mail" {
		t.Fatalf("legacy domain %q", d)
	}
}

// With a registry, the engine runs only a type's handlers and refuses
// messages the registry does not allow.
func TestEngineChecksRegistry(t *testing.T) {
	reg := dispatch.NewRegistry()
	_ = reg.Register(dispatch.TypeEntry{MessageType: "paid", HandlerIDs: []string{"mailer"}, Categories: []core.Category{core.CategoryEvent},
		Domain: dispatch.DomainConstraint{Owner: "billing"}})
	e, _ := dispatch.New(newBus(t), dispatch.WithRegistry(reg))
	var ran []string
	for _, id := range []string{"mailer", "auditor"} {
		_ = e.RegisterDispatcher(dispatch.Dispatcher{ID: id, Category: core.CategoryEvent, Handler: func(context.Context, *core.Message) ([]*core.Message, error) {
			ran = append(ran, id)
			return nil, nil
		}})
		_ = e.RegisterRoute(dispatch.Route{ID: id, TopicPattern: "**", Category: core.CategoryEvent, DispatcherID: id})
	}
	if err := e.Freeze(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if r := e.Dispatch(ctx, msg("onex.evt.billing.paid.v1", "paid")); r.Status != dispatch.StatusSuccess || !slices.Equal(ran, []string{"mailer"}) {
		t.Fatalf("status %s ran %v", r.Status, ran)
	}
	for _, c := range []struct{ topic, typ string }{{"onex.evt.shop.paid.v1", "paid"}, {"onex.evt.billing.other.v1", "other"}} {
		if r := e.Dispatch(ctx, msg(c.topic, c.typ)); r.Status != dispatch.StatusInvalid {
			t.Errorf("%s %s: %s", c.topic, c.typ, r.Status)
		}
	}
}
