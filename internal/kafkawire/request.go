package kafkawire

import (
	"fmt"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Header is a request header.
type Header struct {
	Key           int16
	Version       int16
	CorrelationID int32
	// ClientID is the client's id; nil when the client sent a null one.
	ClientID *string
}

// Client returns the client id, or "" for a null one.
func (h Header) Client() string {
	if h.ClientID == nil {
		return ""
	}
	return *h.ClientID
}

// Request is a parsed request.
type Request struct {
	Header
	// Msg is the decoded body, at Header.Version. It aliases the frame.
	Msg kmsg.Request
	// Downgrade is true for an ApiVersions request above the advertised
	// maximum: the broker answers a version 0 ApiVersions response with
	// UNSUPPORTED_VERSION and its own range (KIP-511). Msg is then set to
	// version 0 and its body is not parsed.
	Downgrade bool
}

// ParseHeader reads a request header from the start of frame and returns
// it with the offset of the first byte after the fixed fields (the header's
// tag section, if the request is flexible, comes next).
func ParseHeader(frame []byte) (Header, int, error) {
	r := kbin.Reader{Src: frame}
	h := Header{Key: r.Int16(), Version: r.Int16(), CorrelationID: r.Int32()}
	h.ClientID = r.NullableString()
	if !r.Ok() {
		return Header{}, 0, ErrTruncatedHeader
	}
	return h, len(frame) - len(r.Src), nil
}

// ParseRequest parses one frame (without its size prefix) against the
// version table v. Errors: ErrTruncatedHeader, ErrUnknownKey,
// ErrUnsupportedVersion and ErrMalformedBody, wrapped with the key and
// version; the Header is returned with every error after the header parsed,
// so the caller can name the client.
func ParseRequest(frame []byte, v *Versions) (Request, error) {
	h, n, err := ParseHeader(frame)
	if err != nil {
		return Request{}, err
	}
	req := Request{Header: h}
	rng, ok := v.Lookup(h.Key)
	msg := kmsg.RequestForKey(h.Key) // nil for a key kmsg does not know
	if !ok || msg == nil {
		return req, fmt.Errorf("%w: key %d", ErrUnknownKey, h.Key)
	}
	if h.Key == ApiVersionsKey && h.Version > rng.Max {
		msg.SetVersion(0)
		req.Msg, req.Downgrade = msg, true
		return req, nil
	}
	if h.Version < rng.Min || h.Version > rng.Max {
		return req, fmt.Errorf("%w: %s v%d (serving v%d-v%d)", ErrUnsupportedVersion, kmsg.NameForKey(h.Key), h.Version, rng.Min, rng.Max)
	}
	msg.SetVersion(h.Version)
	body := frame[n:]
	if msg.IsFlexible() {
		r := kbin.Reader{Src: body}
		kmsg.SkipTags(&r)
		if !r.Ok() {
			return req, fmt.Errorf("%w: %s v%d: header tags", ErrMalformedBody, kmsg.NameForKey(h.Key), h.Version)
		}
		body = r.Src
	}
	if err := msg.ReadFrom(body); err != nil {
		return req, fmt.Errorf("%w: %s v%d: %w", ErrMalformedBody, kmsg.NameForKey(h.Key), h.Version, err)
	}
	req.Msg = msg
	return req, nil
}
