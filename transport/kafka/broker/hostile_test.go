package broker

import (
	"bytes"
	"context"
	"encoding/binary"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// logSink collects log lines for assertions.
type logSink struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logSink) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logSink) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func (l *logSink) logger() hclog.Logger {
	return hclog.New(&hclog.LoggerOptions{Output: l, Level: hclog.Info})
}

// waitLog waits until the log holds want (the close line is written as the
// connection closes, after the client sees it).
func waitLog(t *testing.T, l *logSink, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(l.String(), want) {
		if time.Now().After(deadline) {
			t.Fatalf("log has no %q:\n%s", want, l.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestHostileFramesCloseOnlyTheirConnection: an unknown key, an
// unsupported version, a malformed body, an oversized or undersized
// frame, and a request before SASL each close that connection with one
// log line naming the client; another connection keeps working.
func TestHostileFramesCloseOnlyTheirConnection(t *testing.T) {
	var logs logSink
	tb := startBroker(t, WithLogger(logs.logger()), WithMaxFrameBytes(64<<10), WithMaxInFlightBytes(64<<10))
	healthy := dialRaw(t, tb.addr)
	meta := kmsg.NewPtrMetadataRequest()
	meta.SetVersion(4)
	healthy.do(meta)

	header := func(key, version int16) []byte {
		b := binary.BigEndian.AppendUint16(nil, uint16(key))
		b = binary.BigEndian.AppendUint16(b, uint16(version))
		b = binary.BigEndian.AppendUint32(b, 1)
		b = binary.BigEndian.AppendUint16(b, 7)
		return append(b, "hostile"...)
	}
	frame := func(body []byte) []byte {
		return append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)
	}
	good := encodeFrame(meta, 1, "hostile")
	for _, tc := range []struct {
		name, log string
		bytes     []byte
	}{
		{"unknown key 999", "unknown or unserved api key: key 999", frame(header(999, 0))},
		{"unserved key", "unknown or unserved api key: key 27", frame(header(27, 1))},
		{"unsupported version", "unsupported api version: Metadata v13", frame(header(3, 13))},
		{"produce below min", "unsupported api version: Produce v2", frame(header(0, 2))},
		{"malformed body", "malformed request body: Metadata v4", good[:len(good)-2]},
		{"oversized frame", "frame larger than the maximum", binary.BigEndian.AppendUint32(nil, 1<<30)},
		{"negative size", "frame smaller than a request header", binary.BigEndian.AppendUint32(nil, 0xffffffff)},
		{"tiny frame", "frame smaller than a request header", frame([]byte{0, 3, 0})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rc := dialRaw(t, tb.addr)
			if tc.name == "malformed body" {
				binary.BigEndian.PutUint32(tc.bytes, uint32(len(tc.bytes)-4))
			}
			if _, err := rc.nc.Write(tc.bytes); err != nil {
				t.Fatal(err)
			}
			rc.expectClosed()
			waitLog(t, &logs, tc.log)
			healthy.do(meta) // the other connection goes on
		})
	}
	if !strings.Contains(logs.String(), `(client "hostile")`) {
		t.Fatalf("close lines do not name the client:\n%s", logs.String())
	}
}

// TestHandlerPanicClosesOnlyThatConnection: a panicking handler is
// recovered; its connection closes with a log line, the server goes on.
func TestHandlerPanicClosesOnlyThatConnection(t *testing.T) {
	var logs logSink
	bus := newTestBus(t, t.TempDir())
	srv, err := New(bus, WithLogger(logs.logger()))
	if err != nil {
		t.Fatal(err)
	}
	srv.handlers[32] = func(*conn, *connInfo, kmsg.Request, func(kmsg.Response)) { panic("boom") }
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Close(ctx)
		<-served
		bus.Close(ctx)
	})
	addr := ln.Addr().String()
	healthy := dialRaw(t, addr)
	bad := dialRaw(t, addr)
	bad.send(kmsg.NewPtrDescribeConfigsRequest())
	bad.expectClosed()
	waitLog(t, &logs, "panic in DescribeConfigs v0 handler: boom")
	if a := healthy.do(kmsg.NewPtrApiVersionsRequest()).(*kmsg.ApiVersionsResponse); a.ErrorCode != 0 {
		t.Fatal("healthy connection broken")
	}
}

// TestIdleConnectionCloses: a connection that sends nothing is closed
// after the idle timeout.
func TestIdleConnectionCloses(t *testing.T) {
	var logs logSink
	tb := startBroker(t, WithLogger(logs.logger()), WithIdleTimeout(50*time.Millisecond))
	rc := dialRaw(t, tb.addr)
	rc.expectClosed()
	waitLog(t, &logs, "idle timeout")
}

// TestMaxConnections: a connection over the cap is closed at once.
func TestMaxConnections(t *testing.T) {
	var logs logSink
	tb := startBroker(t, WithLogger(logs.logger()), WithMaxConnections(1))
	first := dialRaw(t, tb.addr)
	first.do(kmsg.NewPtrApiVersionsRequest())
	second := dialRaw(t, tb.addr)
	second.send(kmsg.NewPtrApiVersionsRequest())
	second.expectClosed()
	waitLog(t, &logs, "over 1 connections")
	first.do(kmsg.NewPtrApiVersionsRequest())
}

// TestResponsesInRequestOrder: pipelined requests, a slow long-poll fetch
// first, are answered strictly in request order.
func TestResponsesInRequestOrder(t *testing.T) {
	tb := startBroker(t)
	rc := dialRaw(t, tb.addr)
	ct := createTopicsReq("order", 1, 1)
	rc.do(ct)
	fetch := kmsg.NewPtrFetchRequest()
	fetch.SetVersion(11)
	fetch.ReplicaID, fetch.MaxWaitMillis, fetch.MinBytes, fetch.MaxBytes = -1, 300, 1, 1<<20
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic = "order"
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.PartitionMaxBytes, fp.CurrentLeaderEpoch = 1<<20, -1
	ft.Partitions = []kmsg.FetchRequestTopicPartition{fp}
	fetch.Topics = []kmsg.FetchRequestTopic{ft}
	start := time.Now()
	first := rc.send(fetch)
	var corrs []int32
	for range 5 {
		corrs = append(corrs, rc.send(kmsg.NewPtrApiVersionsRequest()))
	}
	got, _, err := rc.readFrame()
	if err != nil || got != first {
		t.Fatalf("first response %d (%v), want the fetch's %d", got, err, first)
	}
	if waited := time.Since(start); waited < 250*time.Millisecond {
		t.Fatalf("empty fetch answered after %v, want the 300ms long poll", waited)
	}
	for _, want := range corrs {
		if got, _, err := rc.readFrame(); err != nil || got != want {
			t.Fatalf("response %d (%v), want %d", got, err, want)
		}
	}
}
