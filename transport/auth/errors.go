package auth

import (
	"errors"
	"fmt"
)

// Authentication errors: returned by VerifyPassword, VerifyToken and
// Authenticate. Each is wrapped with the user name or token id (never the
// secret).
var (
	// ErrUnknownUser is returned when no user of that name exists (or it
	// has no credential of the mechanism asked for).
	ErrUnknownUser = errors.New("auth: unknown user")
	// ErrWrongPassword is returned when the password does not derive the
	// stored key.
	ErrWrongPassword = errors.New("auth: wrong password")
	// ErrUnknownToken is returned for a malformed token or one whose id
	// is not in the store, or whose hash does not match.
	ErrUnknownToken = errors.New("auth: unknown token")
	// ErrTokenExpired is returned for a token past its expiry.
	ErrTokenExpired = errors.New("auth: token expired")
	// ErrTokenRevoked is returned for a token revoked by RevokeToken.
	ErrTokenRevoked = errors.New("auth: token revoked")
)

// Authorization errors: returned by Authorize.
var (
	// ErrForbidden is returned when no rule allows the operation.
	ErrForbidden = errors.New("auth: forbidden")
)

// Configuration errors: returned by the store's editing calls and NewRule.
var (
	// ErrInvalid is returned for bad input: an empty or malformed name, a
	// bad pattern, an unknown operation, mechanism or resource type, a
	// non-positive lifetime or iteration count.
	ErrInvalid = errors.New("auth: invalid")
	// ErrExists is returned when adding a user or token id that exists.
	ErrExists = errors.New("auth: already exists")
)

// joinErrs reports every problem at once, under ErrInvalid.
func joinErrs(errs []error) error {
	return fmt.Errorf("auth: %d bad rules: %w", len(errs), errors.Join(errs...))
}
