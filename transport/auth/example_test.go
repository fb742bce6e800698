package auth_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/onexbus/onexbus/transport/auth"
)

// A user with SCRAM credentials, a bearer token and a read-only rule.
func Example() {
	store := auth.NewStore()
	if err := store.AddUser("alice", "correct-horse"); err != nil {
		fmt.Println(err)
		return
	}
	token, rec, err := store.CreateToken("dashboard", 24*time.Hour)
	if err != nil {
		fmt.Println(err)
		return
	}
	_ = store.SetRules([]auth.Rule{
		{Principal: "dashboard", Resource: auth.ResourceTopic, Pattern: "orders.**", Operations: []auth.Operation{auth.OpRead}},
	})

	fmt.Println(store.VerifyPassword("alice", "correct-horse"))
	fmt.Println(errors.Is(store.VerifyPassword("alice", "wrong"), auth.ErrWrongPassword))
	principal, _ := store.VerifyToken(token)
	fmt.Println(principal, rec.Principal == principal)
	fmt.Println(store.Authorize(principal, auth.ResourceTopic, "orders.eu.paid", auth.OpRead))
	fmt.Println(errors.Is(store.Authorize(principal, auth.ResourceTopic, "orders.eu", auth.OpWrite), auth.ErrForbidden))
	_ = store.RevokeToken(rec.ID)
	_, err = store.VerifyToken(token)
	fmt.Println(errors.Is(err, auth.ErrTokenRevoked))
	// Output:
	// <nil>
	// true
	// dashboard true
	// <nil>
	// true
	// true
}
