package kafkawire

import "errors"

// Framing errors, returned by ReadSize and ReadFrame.
var (
	// ErrFrameTooSmall is returned for a size prefix below MinFrameBytes
	// (including negative sizes).
	ErrFrameTooSmall = errors.New("kafkawire: frame smaller than a request header")
	// ErrFrameTooLarge is returned for a size prefix above the maximum.
	ErrFrameTooLarge = errors.New("kafkawire: frame larger than the maximum")
)

// Request errors, returned by ParseRequest.
var (
	// ErrTruncatedHeader is returned when the frame ends inside the request
	// header.
	ErrTruncatedHeader = errors.New("kafkawire: truncated request header")
	// ErrUnknownKey is returned for an API key kmsg does not know or the
	// broker does not serve.
	ErrUnknownKey = errors.New("kafkawire: unknown or unserved api key")
	// ErrUnsupportedVersion is returned for a version outside the advertised
	// range (except ApiVersions, see Request.Downgrade).
	ErrUnsupportedVersion = errors.New("kafkawire: unsupported api version")
	// ErrMalformedBody is returned when the body does not decode at the
	// request's version.
	ErrMalformedBody = errors.New("kafkawire: malformed request body")
)
