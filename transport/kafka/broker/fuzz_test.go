package broker

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/onexbus/onexbus/internal/kafkawire"
)

// fuzzServer is one broker shared by every fuzz input.
var fuzzServer struct {
	once sync.Once
	addr string
	logs logSink
	err  error
}

func fuzzAddr(f *testing.F) string {
	fuzzServer.once.Do(func() {
		dir, err := makeFuzzDir()
		if err != nil {
			fuzzServer.err = err
			return
		}
		bus := newTestBus(f, dir)
		srv, err := New(bus, WithLogger(fuzzServer.logs.logger()), WithMaxFrameBytes(1<<20), WithMaxInFlightBytes(8<<20))
		if err != nil {
			fuzzServer.err = err
			return
		}
		srv.cfg.maxWait = 50 * time.Millisecond
		srv.cfg.frameTimeout = 200 * time.Millisecond // a frame cut short closes soon
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			fuzzServer.err = err
			return
		}
		fuzzServer.addr = ln.Addr().String()
		go srv.Serve(ln)
		f.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			srv.Close(ctx)
			bus.Close(ctx)
		})
	})
	if fuzzServer.err != nil {
		f.Fatal(fuzzServer.err)
	}
	return fuzzServer.addr
}

// FuzzRequestPath sends a frame with a random key, version and body (and,
// with raw set, the body as the whole frame) through the whole request
// path over TCP, then an ApiVersions. The broker must answer or close the
// connection, never panic (a recovered panic is logged and fails the
// input), and allocate a bounded amount per input.
func FuzzRequestPath(f *testing.F) {
	addr := fuzzAddr(f)
	for _, r := range kafkawire.DefaultVersions().Ranges() {
		for _, v := range []int16{r.Min, r.Max} {
			req := kmsg.RequestForKey(r.Key)
			req.SetVersion(v)
			frame := encodeFrame(req, 1, "fuzz")
			f.Add(r.Key, v, frame[14:], false) // body after the 4+2+2+4+2+"fuzz" header (no tags)
		}
	}
	f.Add(int16(999), int16(0), []byte{}, false)
	f.Add(int16(0), int16(0), []byte{0x7f, 0xff, 0xff, 0xff}, true)
	f.Fuzz(func(t *testing.T, key, version int16, body []byte, raw bool) {
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		nc, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		var frame []byte
		if raw {
			frame = body
		} else {
			b := []byte{0, 0, 0, 0}
			b = kbin.AppendInt16(b, key)
			b = kbin.AppendInt16(b, version)
			b = kbin.AppendInt32(b, 1)
			b = kbin.AppendNullableString(b, kmsg.StringPtr("fuzz"))
			if req := kmsg.RequestForKey(key); req != nil {
				req.SetVersion(version)
				if req.IsFlexible() {
					b = append(b, 0)
				}
			}
			b = append(b, body...)
			binary.BigEndian.PutUint32(b, uint32(len(b)-4))
			frame = b
		}
		follow := encodeFrame(kmsg.NewPtrApiVersionsRequest(), 2, "fuzz")
		nc.SetDeadline(time.Now().Add(10 * time.Second))
		nc.Write(append(frame, follow...))
		// Read until the ApiVersions answer (correlation id 2) or a close.
		for {
			var sz [4]byte
			if _, err := io.ReadFull(nc, sz[:]); err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					t.Fatalf("no answer and no close within 10s")
				}
				break // closed
			}
			n := binary.BigEndian.Uint32(sz[:])
			if n > 64<<20 {
				t.Fatalf("response frame of %d bytes", n)
			}
			resp := make([]byte, n)
			if _, err := io.ReadFull(nc, resp); err != nil {
				break
			}
			if n >= 4 && binary.BigEndian.Uint32(resp) == 2 {
				break
			}
		}
		if strings.Contains(fuzzServer.logs.String(), "panic") {
			t.Fatalf("handler panicked:\n%s", fuzzServer.logs.String())
		}
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		if grew := after.TotalAlloc - before.TotalAlloc; grew > 256<<20 {
			t.Fatalf("one input allocated %d MiB", grew>>20)
		}
	})
}
