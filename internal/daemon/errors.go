package daemon

import "errors"

// Errors of configuration.
var (
	// ErrInvalidConfig is wrapped by every configuration problem Load,
	// Validate and New report; the message names the setting, its
	// environment variable and where its value came from.
	ErrInvalidConfig = errors.New("onexbusd: invalid configuration")
	// ErrExposed is wrapped (with ErrInvalidConfig) when a listener binds
	// a non-loopback address while no authentication is configured and
	// security.insecure is not set.
	ErrExposed = errors.New("onexbusd: non-loopback listener without authentication")
)

// Errors of start-up.
var (
	// ErrDataDirLocked is returned by Run when another process holds the
	// data directory's lock; the message gives its pid when known.
	ErrDataDirLocked = errors.New("onexbusd: data directory is locked by another process")
	// ErrAddrInUse is returned by Run when a listener's address is taken;
	// the message names the setting and the address.
	ErrAddrInUse = errors.New("onexbusd: address already in use")
	// ErrCorruptData is returned by Run when the data directory holds a
	// damaged file; the message names the file and the damage.
	ErrCorruptData = errors.New("onexbusd: data is corrupt")
	// ErrAlreadyRun is returned by a second Run of one Daemon.
	ErrAlreadyRun = errors.New("onexbusd: daemon already ran")
)

// Errors of shutdown.
var (
	// ErrDrainTimeout is wrapped by Run's error when shutdown.timeout
	// ended before every in-flight request and delivery finished.
	ErrDrainTimeout = errors.New("onexbusd: drain did not finish within shutdown.timeout")
)
