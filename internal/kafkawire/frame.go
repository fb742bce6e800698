package kafkawire

import (
	"encoding/binary"
	"fmt"
	"io"
)

const (
	// DefaultMaxFrameBytes is the default largest request accepted: 100 MiB,
	// Kafka's socket.request.max.bytes and kgo's largest write.
	DefaultMaxFrameBytes = 100 << 20
	// MinFrameBytes is the smallest request: key (2), version (2),
	// correlation id (4) and a null client id (2).
	MinFrameBytes = 10
)

// ReadSize reads a 4-byte big-endian size prefix from r and checks it
// against [MinFrameBytes, max]. It returns ErrFrameTooSmall or
// ErrFrameTooLarge (wrapped, with the size) for a size outside that range,
// and r's error (io.EOF on a clean end before any byte) otherwise.
func ReadSize(r io.Reader, max int) (int, error) {
	var b [4]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return 0, err
	}
	n := int32(binary.BigEndian.Uint32(b[:]))
	switch {
	case n < MinFrameBytes:
		return 0, fmt.Errorf("%w: %d bytes", ErrFrameTooSmall, n)
	case int64(n) > int64(max):
		return 0, fmt.Errorf("%w: %d bytes > %d", ErrFrameTooLarge, n, max)
	}
	return int(n), nil
}

// ReadFrame reads one whole frame from r into a new buffer: the size
// prefix (checked as by ReadSize) and then the body. A body cut short is
// io.ErrUnexpectedEOF.
func ReadFrame(r io.Reader, max int) ([]byte, error) {
	n, err := ReadSize(r, max)
	if err != nil {
		return nil, err
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("kafkawire: read %d-byte frame: %w", n, err)
	}
	return buf, nil
}
