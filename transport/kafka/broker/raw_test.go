package broker

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/onexbus/onexbus/internal/kbatch"
)

// rawConn is a bare Kafka connection: kmsg encode, one frame out, one
// frame back, kmsg decode. No client library in between.
type rawConn struct {
	t    testing.TB
	nc   net.Conn
	br   *bufio.Reader
	corr int32
}

func dialRaw(t testing.TB, addr string) *rawConn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &rawConn{t: t, nc: nc, br: bufio.NewReader(nc)}
}

// encodeFrame is a request frame with its size prefix, as a client sends.
func encodeFrame(req kmsg.Request, corr int32, client string) []byte {
	b := []byte{0, 0, 0, 0}
	b = kbin.AppendInt16(b, req.Key())
	b = kbin.AppendInt16(b, req.GetVersion())
	b = kbin.AppendInt32(b, corr)
	b = kbin.AppendNullableString(b, &client)
	if req.IsFlexible() {
		b = append(b, 0)
	}
	b = req.AppendTo(b)
	binary.BigEndian.PutUint32(b, uint32(len(b)-4))
	return b
}

func (r *rawConn) send(req kmsg.Request) int32 {
	r.t.Helper()
	r.corr++
	if _, err := r.nc.Write(encodeFrame(req, r.corr, "raw-test")); err != nil {
		r.t.Fatalf("write: %v", err)
	}
	return r.corr
}

// readFrame returns the next response body after the correlation id.
func (r *rawConn) readFrame() (int32, []byte, error) {
	r.nc.SetReadDeadline(time.Now().Add(20 * time.Second))
	var sz [4]byte
	if _, err := io.ReadFull(r.br, sz[:]); err != nil {
		return 0, nil, err
	}
	body := make([]byte, binary.BigEndian.Uint32(sz[:]))
	if _, err := io.ReadFull(r.br, body); err != nil {
		return 0, nil, err
	}
	if len(body) < 4 {
		return 0, nil, errors.New("short response")
	}
	return int32(binary.BigEndian.Uint32(body)), body[4:], nil
}

// do sends req and decodes its response at req's version.
func (r *rawConn) do(req kmsg.Request) kmsg.Response {
	r.t.Helper()
	return r.recv(req, r.send(req))
}

// recv reads the next response, which must be corr's, and decodes it at
// req's version (a request sent earlier with send).
func (r *rawConn) recv(req kmsg.Request, corr int32) kmsg.Response {
	r.t.Helper()
	got, body, err := r.readFrame()
	if err != nil {
		r.t.Fatalf("%s v%d: read response: %v", kmsg.NameForKey(req.Key()), req.GetVersion(), err)
	}
	if got != corr {
		r.t.Fatalf("%s v%d: correlation id %d, want %d", kmsg.NameForKey(req.Key()), req.GetVersion(), got, corr)
	}
	resp := req.ResponseKind()
	if resp.IsFlexible() && req.Key() != 18 {
		if len(body) == 0 || body[0] != 0 {
			r.t.Fatalf("%s v%d: response header tags % x", kmsg.NameForKey(req.Key()), req.GetVersion(), body[:min(len(body), 4)])
		}
		body = body[1:]
	}
	if err := resp.ReadFrom(body); err != nil {
		r.t.Fatalf("%s v%d: decode response: %v", kmsg.NameForKey(req.Key()), req.GetVersion(), err)
	}
	return resp
}

// expectClosed asserts the broker closes the connection (EOF or reset)
// without sending a response.
func (r *rawConn) expectClosed() {
	r.t.Helper()
	_, _, err := r.readFrame()
	if err == nil {
		r.t.Fatal("got a response, want the connection closed")
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		r.t.Fatal("connection still open after 20s, want it closed")
	}
}

// testBatch builds one uncompressed batch of n records.
func testBatch(t testing.TB, n int, pid int64, epoch int16, seq int32) []byte {
	t.Helper()
	b := kbatch.NewBuilder(kbatch.CodecNone)
	if pid >= 0 {
		b.SetProducer(pid, epoch, seq)
	}
	now := time.Now().UnixMilli()
	for i := range n {
		if err := b.Add(now+int64(i), []byte("k"), []byte{byte(i)}, []kbatch.RecordHeader{{Key: []byte("h"), Value: []byte("v")}}); err != nil {
			t.Fatal(err)
		}
	}
	out, err := b.Finish(nil)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func newBufReader(nc net.Conn) *bufio.Reader { return bufio.NewReader(nc) }
