package faultstore_test

import (
	"errors"
	"syscall"
	"testing"

	"github.com/onexbus/onexbus/internal/faultstore"
	"github.com/onexbus/onexbus/store"
	"github.com/onexbus/onexbus/store/memory"
	"github.com/onexbus/onexbus/store/storetest"
)

// TestConformance: with no rule the wrapper is a store like any other.
func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return faultstore.New(memory.New()) })
}

// TestRules checks what each kind does to the transaction it fires on:
// which error Update returns and whether what fn wrote is visible.
func TestRules(t *testing.T) {
	for _, tc := range []struct {
		kind    faultstore.Kind
		want    []error
		visible bool
	}{
		{faultstore.KindCommit, []error{faultstore.ErrInjected}, false},
		{faultstore.KindSyncLost, []error{faultstore.ErrInjected, faultstore.ErrSync}, false},
		{faultstore.KindSyncKept, []error{faultstore.ErrInjected, faultstore.ErrSync}, true},
		{faultstore.KindNoSpace, []error{faultstore.ErrInjected, syscall.ENOSPC}, false},
	} {
		t.Run(tc.kind.String(), func(t *testing.T) {
			fs := faultstore.New(memory.New())
			put := func(k string) error {
				return fs.Update(func(tx store.Tx) error {
					b, err := tx.CreateBucket([]byte("b"))
					if err != nil {
						return err
					}
					return b.Put([]byte(k), []byte("v"))
				})
			}
			if err := put("ok1"); err != nil {
				t.Fatal(err)
			}
			if at := fs.Fail(faultstore.Rule{Kind: tc.kind, At: 3, Count: 1}); at != 3 {
				t.Fatalf("rule starts at %d, want 3", at)
			}
			if err := put("ok2"); err != nil {
				t.Fatalf("transaction 2 failed before the rule's first: %v", err)
			}
			err := put("bad")
			for _, w := range tc.want {
				if !errors.Is(err, w) {
					t.Errorf("faulted Update returned %v, want it to wrap %v", err, w)
				}
			}
			if err := put("ok3"); err != nil {
				t.Fatalf("transaction after a one-shot rule failed: %v", err)
			}
			var got bool
			if err := fs.View(func(tx store.Tx) error {
				got = tx.Bucket([]byte("b")).Get([]byte("bad")) != nil
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if got != tc.visible {
				t.Fatalf("faulted write visible=%v, want %v", got, tc.visible)
			}
			if fs.Commits() != 4 || fs.Fired() != 1 {
				t.Fatalf("commits=%d fired=%d, want 4 and 1", fs.Commits(), fs.Fired())
			}
		})
	}
}
