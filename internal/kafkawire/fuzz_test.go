package kafkawire

import (
	"bytes"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// FuzzParseRequest: any frame parses or fails with an error, never a
// panic; what parses re-encodes to a frame that parses to the same header.
func FuzzParseRequest(f *testing.F) {
	v := DefaultVersions()
	for _, r := range v.Ranges() {
		for _, ver := range []int16{r.Min, r.Max} {
			req := kmsg.RequestForKey(r.Key)
			req.SetVersion(ver)
			f.Add(encodeRequest(req, 1, nil))
		}
	}
	f.Add([]byte{0, 18, 0, 99, 0, 0, 0, 5, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, frame []byte) {
		got, err := ParseRequest(frame, v)
		if err != nil || got.Downgrade {
			return
		}
		client := got.ClientID
		re := encodeRequest(got.Msg, got.CorrelationID, client)
		again, err := ParseRequest(re, v)
		if err != nil {
			t.Fatalf("re-encoded %s v%d does not parse: %v", kmsg.NameForKey(got.Key), got.Version, err)
		}
		if again.Header.Key != got.Key || again.Version != got.Version || again.Client() != got.Client() {
			t.Fatalf("header changed: %+v vs %+v", again.Header, got.Header)
		}
		if re2 := encodeRequest(again.Msg, got.CorrelationID, client); !bytes.Equal(re, re2) {
			t.Fatalf("%s v%d: encoding not stable", kmsg.NameForKey(got.Key), got.Version)
		}
	})
}

// FuzzReadFrame: sizes outside the limits never allocate; the result is
// a frame of exactly the announced size or an error.
func FuzzReadFrame(f *testing.F) {
	f.Add([]byte{0, 0, 0, 10, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10})
	f.Add([]byte{0x7f, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, in []byte) {
		frame, err := ReadFrame(bytes.NewReader(in), 1<<16)
		if err == nil && (len(frame) < MinFrameBytes || len(frame) > 1<<16 || len(frame) > len(in)-4) {
			t.Fatalf("frame of %d bytes from %d input bytes", len(frame), len(in))
		}
	})
}
