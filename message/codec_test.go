package message

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vmihailenco/msgpack/v5"
	"github.com/vmihailenco/msgpack/v5/msgpcode"
)

func testMessage() Message {
	h := fullHeaders()
	h.Unparsed = []Header{{"priority", "urgent"}}
	return Message{
		Topic:     "onex.evt.orders.created.v1",
		Partition: 3,
		Offset:    42,
		Key:       []byte("customer-42"),
		Value:     bytes.Repeat([]byte("v"), 256),
		Headers:   h,
		Timestamp: time.Date(2026, 3, 4, 5, 6, 7, 8, time.UTC),
	}
}

// messagesEqual compares the encoded fields of two messages.
func messagesEqual(a, b *Message) bool {
	return bytes.Equal(a.Key, b.Key) && (a.Key == nil) == (b.Key == nil) &&
		bytes.Equal(a.Value, b.Value) && (a.Value == nil) == (b.Value == nil) &&
		a.Timestamp.Equal(b.Timestamp) && headersEqual(a.Headers, b.Headers)
}

// TestCodecRoundTrip covers ACCEPTANCE 7 for the stored form: every
// header, correlation_id included, survives encoding.
func TestCodecRoundTrip(t *testing.T) {
	full := testMessage()
	var defaulted Message
	defaulted.Headers.ApplyDefaults("t", "s", time.Now())
	bigExtra := testMessage()
	for range 20 {
		bigExtra.Headers.Extra = append(bigExtra.Headers.Extra, Header{strings.Repeat("k", 40), strings.Repeat("v", 300)})
	}
	bigValue := testMessage()
	bigValue.Value = bytes.Repeat([]byte{7}, 70000)
	extremes := testMessage()
	extremes.Headers.RetryCount = 1 << 62
	extremes.Headers.MaxRetries = -1 << 40
	extremes.Headers.TTLSeconds = 70000
	extremes.Timestamp = time.Unix(-1<<40, 999_999_999)
	tests := map[string]Message{
		"full":         full,
		"zero":         {},
		"defaulted":    defaulted,
		"empty key":    {Key: []byte{}, Value: nil},
		"empty value":  {Key: nil, Value: []byte{}},
		"many extra":   bigExtra,
		"large value":  bigValue,
		"extreme ints": extremes,
	}
	for name, m := range tests {
		t.Run(name, func(t *testing.T) {
			b := AppendMessage([]byte("prefix"), &m)
			if string(b[:6]) != "prefix" {
				t.Fatal("prefix clobbered")
			}
			b = b[6:]
			if n := EncodedLen(&m); n != len(b) {
				t.Fatalf("EncodedLen = %d, encoded %d bytes", n, len(b))
			}
			got := Message{Topic: "kept", Offset: 7}
			if err := DecodeMessageTopic(b, m.Topic, &got); err != nil {
				t.Fatalf("decode: %v", err)
			}
			if !messagesEqual(&got, &m) {
				t.Fatalf("round trip:\n got %+v\nwant %+v", got, m)
			}
			if got.Headers.CorrelationID != m.Headers.CorrelationID {
				t.Fatal("correlation_id changed")
			}
			if got.Topic != "kept" || got.Offset != 7 {
				t.Fatal("positional fields touched")
			}
			// The encoding is real msgpack: the library reads it.
			var fields []any
			if err := msgpack.Unmarshal(b[1:len(b)-4], &fields); err != nil || len(fields) != codecFields {
				t.Fatalf("msgpack.Unmarshal: %d fields, %v", len(fields), err)
			}
		})
	}
}

func TestCodecDecodeDoesNotAlias(t *testing.T) {
	m := testMessage()
	b := AppendMessage(nil, &m)
	var got Message
	if err := DecodeMessage(b, &got); err != nil {
		t.Fatal(err)
	}
	for i := range b {
		b[i] = 0
	}
	if !messagesEqual(&got, &m) {
		t.Fatal("decoded message aliases the input")
	}
	got.Key = append(got.Key, 'x')
	if got.Value[0] != 'v' {
		t.Fatal("appending to Key clobbered Value")
	}
}

// TestCodecCorruption flips every bit and truncates at every length: each
// is detected as ErrCorruptMessage, and the message is left unchanged.
func TestCodecCorruption(t *testing.T) {
	m := testMessage()
	good := AppendMessage(nil, &m)
	check := func(t *testing.T, b []byte) {
		t.Helper()
		got := Message{Topic: "x"}
		if err := DecodeMessage(b, &got); !errors.Is(err, ErrCorruptMessage) {
			t.Fatalf("err = %v, want ErrCorruptMessage", err)
		}
		if !reflect.DeepEqual(got, Message{Topic: "x"}) {
			t.Fatal("message changed on error")
		}
	}
	t.Run("bit flips", func(t *testing.T) {
		b := bytes.Clone(good)
		for i := range b {
			for bit := range 8 {
				b[i] ^= 1 << bit
				check(t, b)
				b[i] ^= 1 << bit
			}
		}
	})
	t.Run("truncations", func(t *testing.T) {
		for n := range len(good) {
			check(t, good[:n])
		}
	})
	t.Run("trailing byte", func(t *testing.T) {
		check(t, append(bytes.Clone(good), 0))
	})
	t.Run("valid CRC, bad msgpack", func(t *testing.T) {
		for _, body := range [][]byte{
			{0xc1},                   // never-used code
			{0x91, 0xc0},             // too few fields
			{0xdd, 0xff, 0xff, 0xff}, // huge array
			{0xdc, 0x00, 0x1a, 0xc0}, // truncated
		} {
			check(t, withCRC(append([]byte{codecVersion}, body...)))
		}
	})
	t.Run("bad version", func(t *testing.T) {
		b := bytes.Clone(good)
		b[0] = 2
		check(t, withCRC(b[:len(b)-4]))
	})
}

func withCRC(b []byte) []byte {
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// TestCodecSkipsNewFields checks the evolution rule: a version 1 reader
// skips elements a later writer appended.
func TestCodecSkipsNewFields(t *testing.T) {
	m := testMessage()
	b := AppendMessage(nil, &m)
	body := bytes.Clone(b[:len(b)-4])
	// Array header of 26 is 0xdc 0x00 0x1a; make it 29 and append three
	// values of kinds the reader does not expect.
	if body[1] != 0xdc || body[3] != codecFields {
		t.Fatalf("unexpected header % x", body[:4])
	}
	body[3] = codecFields + 3
	extra, err := msgpack.Marshal(map[string]any{"a": []any{1.5, true, "x", nil}})
	if err != nil {
		t.Fatal(err)
	}
	body = append(body, extra...)
	body = append(body, 0xd6, 0x01, 1, 2, 3, 4) // fixext4
	body = append(body, 0xcb, 0, 0, 0, 0, 0, 0, 0, 0)
	var got Message
	if err := DecodeMessage(withCRC(body), &got); err != nil {
		t.Fatal(err)
	}
	if !messagesEqual(&got, &m) {
		t.Fatal("fields lost")
	}
}

func TestMsgpackCodes(t *testing.T) {
	for _, c := range []struct{ ours, theirs byte }{
		{mpPosFixIntMax, msgpcode.PosFixedNumHigh}, {mpNegFixIntMin, msgpcode.NegFixedNumLow},
		{mpFixMap, msgpcode.FixedMapLow}, {mpFixArray, msgpcode.FixedArrayLow}, {mpFixStr, msgpcode.FixedStrLow},
		{mpNil, msgpcode.Nil}, {mpFalse, msgpcode.False}, {mpTrue, msgpcode.True},
		{mpBin8, msgpcode.Bin8}, {mpBin16, msgpcode.Bin16}, {mpBin32, msgpcode.Bin32},
		{mpExt8, msgpcode.Ext8}, {mpExt16, msgpcode.Ext16}, {mpExt32, msgpcode.Ext32},
		{mpFloat, msgpcode.Float}, {mpDouble, msgpcode.Double},
		{mpUint8, msgpcode.Uint8}, {mpUint16, msgpcode.Uint16}, {mpUint32, msgpcode.Uint32}, {mpUint64, msgpcode.Uint64},
		{mpInt8, msgpcode.Int8}, {mpInt16, msgpcode.Int16}, {mpInt32, msgpcode.Int32}, {mpInt64, msgpcode.Int64},
		{mpFixExt1, msgpcode.FixExt1}, {mpFixExt16, msgpcode.FixExt16},
		{mpStr8, msgpcode.Str8}, {mpStr16, msgpcode.Str16}, {mpStr32, msgpcode.Str32},
		{mpArray16, msgpcode.Array16}, {mpArray32, msgpcode.Array32}, {mpMap16, msgpcode.Map16}, {mpMap32, msgpcode.Map32},
	} {
		if c.ours != c.theirs {
			t.Errorf("code %#x, msgpcode says %#x", c.ours, c.theirs)
		}
	}
}

// TestCodecIntsMatchLibrary checks our integer encoding against the
// library's, width for width.
func TestCodecIntsMatchLibrary(t *testing.T) {
	for _, v := range []int64{0, 1, 127, 128, 255, 256, 65535, 65536, 1<<32 - 1, 1 << 32, 1<<63 - 1, -1, -32, -33, -128, -129, -32768, -32769, -1 << 31, -1<<31 - 1, -1 << 63} {
		var buf bytes.Buffer
		enc := msgpack.NewEncoder(&buf)
		enc.UseCompactInts(true)
		if err := enc.EncodeInt(v); err != nil {
			t.Fatal(err)
		}
		got := appendInt(nil, v)
		var back int64
		if err := msgpack.Unmarshal(got, &back); err != nil || back != v {
			t.Errorf("%d: library reads our % x as %d, %v", v, got, back, err)
		}
		if len(got) != len(buf.Bytes()) || len(got) != intSize(v) {
			t.Errorf("%d: ours % x (size %d), library % x", v, got, intSize(v), buf.Bytes())
		}
		r := reader{b: buf.Bytes()}
		if r.int() != v || r.bad {
			t.Errorf("%d: we misread the library's % x", v, buf.Bytes())
		}
	}
}

func TestCodecAllocs(t *testing.T) {
	m := testMessage()
	m.Headers.Unparsed = nil
	buf := make([]byte, 0, 4096)
	if n := testing.AllocsPerRun(100, func() { buf = AppendMessage(buf[:0], &m) }); n != 0 {
		t.Errorf("AppendMessage allocates %v times with room", n)
	}
	b := AppendMessage(nil, &m)
	var got Message
	// Key+Value, the strings, the Extra list.
	if n := testing.AllocsPerRun(100, func() { _ = DecodeMessageTopic(b, m.Topic, &got) }); n > 3 {
		t.Errorf("DecodeMessageTopic allocates %v times, want <= 3", n)
	}
	if got.Headers.EventType != m.Topic || got.Headers.ContentType != DefaultContentType {
		t.Fatal("decode lost interned strings")
	}
}

func benchMessage() Message {
	var m Message
	m.Topic = "onex.evt.orders.created.v1"
	m.Key = []byte("customer-0000000042")
	m.Value = bytes.Repeat([]byte("x"), 256)
	m.Timestamp = time.Now()
	m.Headers.TraceParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	m.Headers.ApplyDefaults(m.Topic, "svc-orders", m.Timestamp)
	return m
}

func BenchmarkAppendMessage(b *testing.B) {
	m := benchMessage()
	buf := make([]byte, 0, EncodedLen(&m))
	b.SetBytes(int64(cap(buf)))
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendMessage(buf[:0], &m)
	}
}

func BenchmarkDecodeMessage(b *testing.B) {
	m := benchMessage()
	enc := AppendMessage(nil, &m)
	b.SetBytes(int64(len(enc)))
	b.Run("topic", func(b *testing.B) {
		b.ReportAllocs()
		var got Message
		for b.Loop() {
			if err := DecodeMessageTopic(enc, m.Topic, &got); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("no-topic", func(b *testing.B) {
		b.ReportAllocs()
		var got Message
		for b.Loop() {
			if err := DecodeMessage(enc, &got); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkMsgpackMarshal is the reflection-based baseline the codec
// avoids.
func BenchmarkMsgpackMarshal(b *testing.B) {
	m := benchMessage()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := msgpack.Marshal(&m); err != nil {
			b.Fatal(err)
		}
	}
}

// FuzzDecodeMessage checks that decoding never panics, that only
// ErrCorruptMessage is returned, and that a decoded message re-encodes to
// bytes that decode to the same message.
func FuzzDecodeMessage(f *testing.F) {
	for _, m := range []Message{testMessage(), {}, {Key: []byte{}}} {
		f.Add(AppendMessage(nil, &m), false)
	}
	f.Add([]byte{codecVersion, 0xc1, 0, 0, 0, 0}, false)
	f.Fuzz(func(t *testing.T, b []byte, fixCRC bool) {
		if fixCRC && len(b) >= 4 {
			// Let the fuzzer reach the parser past the CRC.
			b = withCRC(b[:len(b)-4])
		}
		var m Message
		if err := DecodeMessage(b, &m); err != nil {
			if !errors.Is(err, ErrCorruptMessage) {
				t.Fatalf("error %v does not wrap ErrCorruptMessage", err)
			}
			return
		}
		enc := AppendMessage(nil, &m)
		if len(enc) != EncodedLen(&m) {
			t.Fatalf("EncodedLen %d, encoded %d", EncodedLen(&m), len(enc))
		}
		var again Message
		if err := DecodeMessage(enc, &again); err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if !messagesEqual(&m, &again) {
			t.Fatalf("re-decoded differs:\n%+v\n%+v", m, again)
		}
		// Canonical form is stable.
		if enc2 := AppendMessage(nil, &again); !bytes.Equal(enc, enc2) {
			t.Fatal("re-encoding is not stable")
		}
	})
}

// DecodeVerifiedMessage trusts its container for the CRC and nothing
// else: the same message as DecodeMessageTopic decodes, a damaged CRC
// trailer passes, and bad msgpack, truncations and bad versions are
// still refused with ErrCorruptMessage and m left unchanged, never a
// panic.
func TestDecodeVerifiedMessage(t *testing.T) {
	m := testMessage()
	good := AppendMessage(nil, &m)
	var want, got Message
	if err := DecodeMessageTopic(good, m.Topic, &want); err != nil {
		t.Fatal(err)
	}
	if err := DecodeVerifiedMessage(good, m.Topic, "", &got); err != nil || !messagesEqual(&got, &want) {
		t.Fatalf("verified decode: %v, %+v", err, got)
	}
	bad := bytes.Clone(good)
	bad[len(bad)-1] ^= 0x01 // the CRC trailer only
	if err := DecodeVerifiedMessage(bad, m.Topic, "", &got); err != nil || !messagesEqual(&got, &want) {
		t.Fatalf("a CRC the container vouched for was checked again: %v", err)
	}
	if err := DecodeMessageTopic(bad, m.Topic, &got); !errors.Is(err, ErrCorruptMessage) {
		t.Fatalf("DecodeMessageTopic of a bad CRC: %v", err)
	}
	refuse := func(t *testing.T, b []byte) {
		t.Helper()
		got := Message{Topic: "x"}
		if err := DecodeVerifiedMessage(b, "x", "", &got); !errors.Is(err, ErrCorruptMessage) {
			t.Fatalf("err = %v, want ErrCorruptMessage", err)
		}
		if !reflect.DeepEqual(got, Message{Topic: "x"}) {
			t.Fatal("message changed on error")
		}
	}
	for n := range len(good) - 4 {
		refuse(t, good[:n])
	}
	for _, body := range [][]byte{{0xc1}, {0x91, 0xc0}, {0xdd, 0xff, 0xff, 0xff}, {0xdc, 0x00, 0x1a, 0xc0}} {
		refuse(t, withCRC(append([]byte{codecVersion}, body...)))
	}
	v2 := bytes.Clone(good)
	v2[0] = 2
	refuse(t, v2)
}

// A message whose header texts are its topic, the bus's source and the
// defaults decodes with one allocation (Key and Value): every text is
// shared, none copied.
func TestDecodeVerifiedSharesSource(t *testing.T) {
	m := Message{Topic: "orders", Key: []byte("k"), Value: []byte("v")}
	m.Headers.ApplyDefaults(m.Topic, "billing", time.Unix(1, 0))
	b := AppendMessage(nil, &m)
	var got Message
	if n := testing.AllocsPerRun(100, func() { _ = DecodeVerifiedMessage(b, m.Topic, "billing", &got) }); n != 1 {
		t.Errorf("DecodeVerifiedMessage allocates %v times, want 1", n)
	}
	if got.Headers.Source != "billing" || got.Headers.EventType != "orders" || string(got.Value) != "v" {
		t.Fatalf("decoded %+v", got.Headers)
	}
	if n := testing.AllocsPerRun(100, func() { _ = DecodeVerifiedMessage(b, m.Topic, "", &got) }); n != 2 {
		t.Errorf("without the source: %v allocations, want 2 (Key and Value, the source's text)", n)
	}
}
