package kafkawire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// encodeRequest builds a frame body as a client does: header v1 or v2
// (flexible: an empty tag section after the client id), then the body.
func encodeRequest(req kmsg.Request, corr int32, client *string) []byte {
	b := kbin.AppendInt16(nil, req.Key())
	b = kbin.AppendInt16(b, req.GetVersion())
	b = kbin.AppendInt32(b, corr)
	b = kbin.AppendNullableString(b, client)
	if req.IsFlexible() {
		b = append(b, 0)
	}
	return req.AppendTo(b)
}

func TestReadSizeLimits(t *testing.T) {
	frame := func(n int32) io.Reader {
		return bytes.NewReader(binary.BigEndian.AppendUint32(nil, uint32(n)))
	}
	for _, tc := range []struct {
		name string
		n    int32
		want error
	}{
		{"negative", -1, ErrFrameTooSmall},
		{"zero", 0, ErrFrameTooSmall},
		{"below header", 9, ErrFrameTooSmall},
		{"smallest", 10, nil},
		{"at max", 1000, nil},
		{"over max", 1001, ErrFrameTooLarge},
		{"max int32", 1<<31 - 1, ErrFrameTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n, err := ReadSize(frame(tc.n), 1000)
			if !errors.Is(err, tc.want) || (err == nil && n != int(tc.n)) {
				t.Fatalf("ReadSize(%d) = %d, %v; want %v", tc.n, n, err, tc.want)
			}
		})
	}
	if _, err := ReadSize(bytes.NewReader(nil), 1000); err != io.EOF {
		t.Fatalf("empty input: %v, want io.EOF", err)
	}
	short := append(binary.BigEndian.AppendUint32(nil, 20), 1, 2, 3)
	if _, err := ReadFrame(bytes.NewReader(short), 1000); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("short body: %v, want ErrUnexpectedEOF", err)
	}
	ok := append(binary.BigEndian.AppendUint32(nil, 10), make([]byte, 10)...)
	if f, err := ReadFrame(bytes.NewReader(ok), 1000); err != nil || len(f) != 10 {
		t.Fatalf("ReadFrame = %d bytes, %v", len(f), err)
	}
}

// TestParseRequestEveryKeyMinMax round-trips a default request of every
// served key at its minimum and maximum version.
func TestParseRequestEveryKeyMinMax(t *testing.T) {
	v := DefaultVersions()
	client := "test-client"
	for _, r := range v.Ranges() {
		for _, ver := range []int16{r.Min, r.Max} {
			req := kmsg.RequestForKey(r.Key)
			req.SetVersion(ver)
			frame := encodeRequest(req, 77, &client)
			got, err := ParseRequest(frame, v)
			if err != nil {
				t.Fatalf("%s v%d: %v", kmsg.NameForKey(r.Key), ver, err)
			}
			if got.Key != r.Key || got.Version != ver || got.CorrelationID != 77 || got.Client() != client || got.Downgrade {
				t.Fatalf("%s v%d: header %+v", kmsg.NameForKey(r.Key), ver, got.Header)
			}
			if re := encodeRequest(got.Msg, 77, &client); !bytes.Equal(re, frame) {
				t.Fatalf("%s v%d: re-encoding differs", kmsg.NameForKey(r.Key), ver)
			}
		}
	}
}

func TestParseRequestRejects(t *testing.T) {
	v := DefaultVersions()
	meta := kmsg.NewPtrMetadataRequest()
	meta.SetVersion(13)
	tooNew := encodeRequest(meta, 1, nil)
	prod := kmsg.NewPtrProduceRequest()
	prod.SetVersion(2)
	tooOld := encodeRequest(prod, 1, nil)
	txn := kmsg.NewPtrWriteTxnMarkersRequest() // broker to broker: never served
	unknown := binary.BigEndian.AppendUint16(nil, 999)
	unknown = append(unknown, 0, 0, 0, 0, 0, 1, 0xff, 0xff)
	meta.SetVersion(4)
	good := encodeRequest(meta, 1, nil)
	for _, tc := range []struct {
		name  string
		frame []byte
		want  error
	}{
		{"empty", nil, ErrTruncatedHeader},
		{"short header", []byte{0, 3, 0, 4, 0, 0}, ErrTruncatedHeader},
		{"client id past end", []byte{0, 3, 0, 4, 0, 0, 0, 1, 0, 9, 'a'}, ErrTruncatedHeader},
		{"unknown key 999", unknown, ErrUnknownKey},
		{"WriteTxnMarkers not served", encodeRequest(txn, 1, nil), ErrUnknownKey},
		{"version above max", tooNew, ErrUnsupportedVersion},
		{"version below min", tooOld, ErrUnsupportedVersion},
		{"truncated body", good[:len(good)-1], ErrMalformedBody},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseRequest(tc.frame, v)
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

// TestApiVersionsDowngrade: a version above ours is a downgrade request,
// parsed without its body (KIP-511), and the response header of
// ApiVersions never carries the tag byte.
func TestApiVersionsDowngrade(t *testing.T) {
	frame := []byte{0, 18, 0, 99, 0, 0, 0, 5, 0xff, 0xff, 1, 2, 3}
	got, err := ParseRequest(frame, DefaultVersions())
	if err != nil || !got.Downgrade || got.Msg.GetVersion() != 0 || got.Version != 99 {
		t.Fatalf("ParseRequest = %+v, %v", got, err)
	}
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.SetVersion(3) // flexible, but its header has no tags
	out := AppendResponse(nil, 5, resp)
	body := resp.AppendTo(nil)
	if len(out) != 8+len(body) || binary.BigEndian.Uint32(out) != uint32(4+len(body)) || !bytes.Equal(out[8:], body) {
		t.Fatalf("ApiVersions response frame % x", out)
	}
	md := kmsg.NewPtrMetadataResponse()
	md.SetVersion(9)
	out = AppendResponse([]byte("prefix"), 6, md)
	out = out[len("prefix"):]
	if binary.BigEndian.Uint32(out[4:]) != 6 || out[8] != 0 || int(binary.BigEndian.Uint32(out)) != len(out)-4 {
		t.Fatalf("flexible response frame % x", out)
	}
	md.SetVersion(4)
	out = AppendResponse(nil, 6, md)
	if !bytes.Equal(out[8:], md.AppendTo(nil)) {
		t.Fatal("non-flexible response got a tag byte")
	}
}
