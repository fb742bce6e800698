package broker

import "errors"

// Errors of the server's lifecycle.
var (
	// ErrInvalidOption is wrapped by New when options are out of range;
	// every problem is reported at once.
	ErrInvalidOption = errors.New("broker: invalid option")
	// ErrClosed is returned by Serve after Close has begun.
	ErrClosed = errors.New("broker: server closed")
)

// Errors of authentication, returned by an Authenticator's exchanges.
var (
	// ErrUnsupportedMechanism is returned by Authenticator.Start for a
	// mechanism it does not offer.
	ErrUnsupportedMechanism = errors.New("broker: unsupported SASL mechanism")
	// ErrAuthFailed is returned by an Exchange when the credentials do not
	// match. Its message never contains the secret.
	ErrAuthFailed = errors.New("broker: authentication failed")
	// ErrBadSASLMessage is returned by an Exchange for a message that does
	// not follow the mechanism's grammar.
	ErrBadSASLMessage = errors.New("broker: malformed SASL message")
)
