package dashboard

import "errors"

// Sentinel errors of the dashboard.
var (
	// ErrInvalidOption is returned by New for a bad Options value.
	ErrInvalidOption = errors.New("dashboard: invalid option")
	// ErrForbidden is a state-changing request without the right
	// Origin, session or CSRF token.
	ErrForbidden = errors.New("dashboard: forbidden")
	// ErrBadRequest is a request with a bad parameter.
	ErrBadRequest = errors.New("dashboard: bad request")
	// ErrNotFound is an unknown topic, group, letter or operation.
	ErrNotFound = errors.New("dashboard: not found")
	// ErrScanBudget is a message search that met its scan budget before
	// it filled the page; the matches found so far are shown.
	ErrScanBudget = errors.New("dashboard: scan budget reached")
)
