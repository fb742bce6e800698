package message

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"hash/crc32"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

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

// roundTripCases are messages every form must carry exactly.
func roundTripCases() map[string]Message {
	full := testMessage()
	var defaulted Message
	defaulted.Topic = "t"
	defaulted.Headers.ApplyDefaults("t", "s", time.Now())
	defaulted.Timestamp = defaulted.Headers.Timestamp
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
	unset := testMessage()
	unset.Headers.Priority = PriorityUnset
	unset.Headers.MaxRetries = 0
	unset.Headers.ContentType = ""
	unset.Headers.SchemaVersion = ""
	unset.Headers.Timestamp = time.Time{}
	return map[string]Message{
		"full":         full,
		"zero":         {},
		"defaulted":    defaulted,
		"empty key":    {Key: []byte{}, Value: nil},
		"empty value":  {Key: nil, Value: []byte{}},
		"many extra":   bigExtra,
		"large value":  bigValue,
		"extreme ints": extremes,
		"unset fields": unset,
	}
}

// TestCodecRoundTrip covers ACCEPTANCE 7 for the standalone stored form:
// every header, correlation_id included, survives encoding.
func TestCodecRoundTrip(t *testing.T) {
	for name, m := range roundTripCases() {
		t.Run(name, func(t *testing.T) {
			b := AppendMessage([]byte("prefix"), &m)
			if string(b[:6]) != "prefix" {
				t.Fatal("prefix clobbered")
			}
			b = b[6:]
			if b[0] != codecV2 {
				t.Fatalf("version %d, want %d", b[0], codecV2)
			}
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
		})
	}
}

// envelopeOf is the envelope a log frame gives m: its topic, timestamp
// and ids.
func envelopeOf(m *Message) Envelope {
	return Envelope{Topic: m.Topic, Timestamp: m.Timestamp.UnixNano(), MessageID: m.Headers.MessageID, CorrelationID: m.Headers.CorrelationID}
}

// TestRecordRoundTrip: the framed form carries every field exactly, with
// the frame's envelope equal to the message's fields (the bus's case:
// nothing stored twice) and with an envelope that differs from them in
// every field (each is then stored in the body).
func TestRecordRoundTrip(t *testing.T) {
	other := Envelope{Topic: "other", Timestamp: 12345, MessageID: uuid.New(), CorrelationID: uuid.New()}
	for name, m := range roundTripCases() {
		for envName, env := range map[string]Envelope{"own": envelopeOf(&m), "other": other, "zero": {}} {
			t.Run(name+"/"+envName, func(t *testing.T) {
				b := AppendRecord([]byte("prefix"), &m, env)[6:]
				if n := RecordLen(&m, env); n != len(b) {
					t.Fatalf("RecordLen = %d, encoded %d bytes", n, len(b))
				}
				got := Message{Topic: "kept", Offset: 7}
				if err := DecodeRecord(b, env, "s", &got); err != nil {
					t.Fatalf("decode: %v", err)
				}
				if !messagesEqual(&got, &m) {
					t.Fatalf("round trip:\n got %+v\nwant %+v", got, m)
				}
				if got.Topic != "kept" || got.Offset != 7 {
					t.Fatal("positional fields touched")
				}
				if envName == "own" && !m.Timestamp.IsZero() && len(b) > EncodedLen(&m)-4 {
					t.Fatalf("framed %d bytes, standalone %d: the frame's fields are stored again", len(b), EncodedLen(&m))
				}
			})
		}
	}
}

// TestRecordSize: a published message with a 256-byte value and default
// headers (the bus's common case) stores its value, its source and four
// bytes of framing; version 1 stored 375 bytes for it.
func TestRecordSize(t *testing.T) {
	ms := codecFixtureMessages()
	m := ms["defaulted"]
	v1 := codecFixtureV1(t)["defaulted"]
	b := AppendRecord(nil, &m, envelopeOf(&m))
	want := 1 + 1 + 2 + 256 + 1 + len("onexbus")
	if len(b) != want {
		t.Errorf("framed record of a defaulted 256-byte message: %d bytes, want %d", len(b), want)
	}
	t.Logf("256-byte value, default headers: version 1 %d bytes, version 2 framed %d, standalone %d", len(v1), len(b), EncodedLen(&m))
}

// codecFixtureV1 reads testdata/codec-v1.hex: name -> version 1 bytes.
func codecFixtureV1(t testing.TB) map[string][]byte {
	t.Helper()
	data, err := os.ReadFile("testdata/codec-v1.hex")
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if strings.HasPrefix(line, "#") {
			continue
		}
		name, hx, ok := strings.Cut(line, "\t")
		b, err := hex.DecodeString(hx)
		if !ok || err != nil {
			t.Fatalf("fixture line %q: %v", line, err)
		}
		out[name] = b
	}
	if len(out) != len(codecFixtureMessages()) {
		t.Fatalf("fixture has %d records, want %d", len(out), len(codecFixtureMessages()))
	}
	return out
}

// TestCodecReadsVersion1: the records the version 1 encoder wrote (the
// committed fixture) decode to exactly the messages it encoded, by every
// decoder, and DecodeRecord ignores the envelope for them (a version 1
// body holds every field itself).
func TestCodecReadsVersion1(t *testing.T) {
	ms := codecFixtureMessages()
	for name, b := range codecFixtureV1(t) {
		t.Run(name, func(t *testing.T) {
			want := ms[name]
			if b[0] != codecV1 {
				t.Fatalf("fixture version %d", b[0])
			}
			var got Message
			if err := DecodeMessageTopic(b, want.Topic, &got); err != nil || !messagesEqual(&got, &want) {
				t.Fatalf("DecodeMessageTopic: %v\n got %+v\nwant %+v", err, got, want)
			}
			got = Message{}
			if err := DecodeVerifiedMessage(b, want.Topic, "onexbus", &got); err != nil || !messagesEqual(&got, &want) {
				t.Fatalf("DecodeVerifiedMessage: %v", err)
			}
			got = Message{}
			env := Envelope{Topic: "elsewhere", Timestamp: 1, MessageID: uuid.New(), CorrelationID: uuid.New()}
			if err := DecodeRecord(b, env, "onexbus", &got); err != nil || !messagesEqual(&got, &want) {
				t.Fatalf("DecodeRecord: %v\n got %+v\nwant %+v", err, got, want)
			}
			// Read again in version 2, it is the same message.
			again := AppendRecord(nil, &got, envelopeOf(&want))
			var v2 Message
			if err := DecodeRecord(again, envelopeOf(&want), "", &v2); err != nil || !messagesEqual(&v2, &want) {
				t.Fatalf("version 1 -> version 2: %v", err)
			}
		})
	}
}

func TestCodecDecodeDoesNotAlias(t *testing.T) {
	m := testMessage()
	for name, b := range map[string][]byte{"standalone": AppendMessage(nil, &m), "framed": AppendRecord(nil, &m, envelopeOf(&m)), "v1": codecFixtureV1(t)["full"]} {
		var got Message
		if err := DecodeRecord(b, envelopeOf(&m), "", &got); err != nil {
			t.Fatal(name, err)
		}
		for i := range b {
			b[i] = 0
		}
		if !messagesEqual(&got, &m) {
			t.Fatal(name, "decoded message aliases the input")
		}
		got.Key = append(got.Key, 'x')
		if got.Value[0] != 'v' {
			t.Fatal(name, "appending to Key clobbered Value")
		}
	}
}

// TestCodecCorruption flips every bit and truncates at every length of a
// standalone version 2 encoding and of a version 1 one: each is detected
// as ErrCorruptMessage (their CRC covers every byte), and the message is
// left unchanged.
func TestCodecCorruption(t *testing.T) {
	m := testMessage()
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
	for version, good := range map[string][]byte{"v2": AppendMessage(nil, &m), "v1": codecFixtureV1(t)["full"]} {
		t.Run(version+"/bit flips", func(t *testing.T) {
			b := bytes.Clone(good)
			for i := range b {
				for bit := range 8 {
					b[i] ^= 1 << bit
					check(t, b)
					b[i] ^= 1 << bit
				}
			}
		})
		t.Run(version+"/truncations", func(t *testing.T) {
			for n := range len(good) {
				check(t, good[:n])
			}
		})
		t.Run(version+"/trailing byte", func(t *testing.T) {
			check(t, append(bytes.Clone(good), 0))
		})
	}
	t.Run("v1/valid CRC, bad msgpack", func(t *testing.T) {
		for _, body := range [][]byte{
			{0xc1},                   // never-used code
			{0x91, 0xc0},             // too few fields
			{0xdd, 0xff, 0xff, 0xff}, // huge array
			{0xdc, 0x00, 0x1a, 0xc0}, // truncated
		} {
			check(t, withCRC(append([]byte{codecV1}, body...)))
		}
	})
	t.Run("v2/valid CRC, bad fields", func(t *testing.T) {
		fields := func(bits uint64, rest ...byte) []byte { return append(binary.AppendUvarint(nil, bits), rest...) }
		for _, body := range [][]byte{
			{}, // no field bits
			{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, // overlong bits
			fields(v2Value, 0x05, 'a'),                              // value shorter than its length
			fields(v2Value, 0xff, 0xff, 0xff, 0xff, 0x0f),           // huge length
			fields(v2Timestamp, 0x00, 0x80, 0xa8, 0xd6, 0xb9, 0x07), // 2e9 nanoseconds
			fields(v2MessageID, 1, 2, 3),                            // short UUID
			fields(v2Extra, 0x03, 0x01, 'k'),                        // list shorter than its count
			fields(v2RetryCount, 0x80),                              // truncated varint
			fields(v2Value, 0x00, 0x00),                             // a trailing byte
			fields(v2Later, 0x04, 'a'),                              // a later field shorter than its length
			fields(v2Priority),                                      // a missing priority
		} {
			check(t, withCRC(append([]byte{codecV2}, body...)))
		}
	})
	t.Run("bad version", func(t *testing.T) {
		for _, v := range []byte{0, 3, 0xff} {
			b := AppendMessage(nil, &m)
			b[0] = v
			check(t, withCRC(b[:len(b)-4]))
		}
	})
}

// TestRecordCorruption: a framed body has no CRC of its own (its frame's
// covers it, and the log checks that on every read from a store that can
// damage it); still, a truncation at any length is refused, and a flipped
// bit is refused or decodes to some message, never panics.
func TestRecordCorruption(t *testing.T) {
	m := testMessage()
	env := envelopeOf(&m)
	good := AppendRecord(nil, &m, env)
	for n := range len(good) {
		got := Message{Topic: "x"}
		if err := DecodeRecord(good[:n], env, "", &got); !errors.Is(err, ErrCorruptMessage) {
			t.Fatalf("truncated to %d: err = %v, want ErrCorruptMessage", n, err)
		}
		if !reflect.DeepEqual(got, Message{Topic: "x"}) {
			t.Fatal("message changed on error")
		}
	}
	b := bytes.Clone(good)
	for i := range b {
		for bit := range 8 {
			b[i] ^= 1 << bit
			var got Message
			if err := DecodeRecord(b, env, "", &got); err != nil && !errors.Is(err, ErrCorruptMessage) {
				t.Fatalf("err %v does not wrap ErrCorruptMessage", err)
			}
			b[i] ^= 1 << bit
		}
	}
}

// A framed body lacks what its frame holds: decoding it on its own is
// refused, never read as a message with nil ids and a zero time.
func TestDecodeMessageRefusesFramed(t *testing.T) {
	m := testMessage()
	b := AppendRecord(nil, &m, envelopeOf(&m))
	for name, decode := range map[string]func() error{
		"DecodeMessage":         func() error { var got Message; return DecodeMessage(b, &got) },
		"DecodeMessageTopic":    func() error { var got Message; return DecodeMessageTopic(b, m.Topic, &got) },
		"DecodeVerifiedMessage": func() error { var got Message; return DecodeVerifiedMessage(b, m.Topic, "", &got) },
	} {
		if err := decode(); !errors.Is(err, ErrCorruptMessage) || !strings.Contains(err.Error(), "framed") {
			t.Errorf("%s: err = %v, want ErrCorruptMessage naming a framed record", name, err)
		}
	}
}

func withCRC(b []byte) []byte {
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// TestCodecSkipsNewFields checks the evolution rules: a version 1 reader
// skips elements a later writer appended to the array; a version 2
// reader skips fields of bits above the ones it knows.
func TestCodecSkipsNewFields(t *testing.T) {
	m := testMessage()
	t.Run("v1", func(t *testing.T) {
		b := codecFixtureV1(t)["full"]
		body := bytes.Clone(b[:len(b)-4])
		// Array header of 26 is 0xdc 0x00 0x1a; make it 29 and append
		// three values of kinds the reader does not expect.
		if body[1] != 0xdc || body[3] != v1Fields {
			t.Fatalf("unexpected header % x", body[:4])
		}
		body[3] = v1Fields + 3
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
	})
	t.Run("v2", func(t *testing.T) {
		env := envelopeOf(&m)
		b := AppendRecord(nil, &m, env)
		bits, n := binary.Uvarint(b[1:])
		later := binary.AppendUvarint([]byte{codecV2}, bits|v2Later|v2Later<<5)
		later = append(later, b[1+n:]...)
		later = append(later, 3, 'a', 'b', 'c', 0) // two fields: "abc", ""
		var got Message
		if err := DecodeRecord(later, env, "", &got); err != nil {
			t.Fatal(err)
		}
		if !messagesEqual(&got, &m) {
			t.Fatal("fields lost")
		}
	})
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

// TestCodecIntsMatchLibrary checks that the version 1 reader reads the
// library's integers, width for width.
func TestCodecIntsMatchLibrary(t *testing.T) {
	for _, v := range []int64{0, 1, 127, 128, 255, 256, 65535, 65536, 1<<32 - 1, 1 << 32, 1<<63 - 1, -1, -32, -33, -128, -129, -32768, -32769, -1 << 31, -1<<31 - 1, -1 << 63} {
		for _, compact := range []bool{true, false} {
			var buf bytes.Buffer
			enc := msgpack.NewEncoder(&buf)
			enc.UseCompactInts(compact)
			if err := enc.EncodeInt(v); err != nil {
				t.Fatal(err)
			}
			r := reader{b: buf.Bytes()}
			if r.int() != v || r.bad {
				t.Errorf("%d: we misread the library's % x", v, buf.Bytes())
			}
		}
	}
}

func TestCodecAllocs(t *testing.T) {
	m := testMessage()
	m.Headers.Unparsed = nil
	env := envelopeOf(&m)
	buf := make([]byte, 0, 4096)
	if n := testing.AllocsPerRun(100, func() { buf = AppendMessage(buf[:0], &m) }); n != 0 {
		t.Errorf("AppendMessage allocates %v times with room", n)
	}
	if n := testing.AllocsPerRun(100, func() { buf = AppendRecord(buf[:0], &m, env) }); n != 0 {
		t.Errorf("AppendRecord allocates %v times with room", n)
	}
	var got Message
	// Key+Value, the strings, the Extra list.
	b := AppendMessage(nil, &m)
	if n := testing.AllocsPerRun(100, func() { _ = DecodeMessageTopic(b, m.Topic, &got) }); n > 3 {
		t.Errorf("DecodeMessageTopic allocates %v times, want <= 3", n)
	}
	if got.Headers.EventType != m.Topic || got.Headers.ContentType != DefaultContentType {
		t.Fatal("decode lost interned strings")
	}
	r := AppendRecord(nil, &m, env)
	if n := testing.AllocsPerRun(100, func() { _ = DecodeRecord(r, env, "", &got) }); n > 3 {
		t.Errorf("DecodeRecord allocates %v times, want <= 3", n)
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

// BenchmarkAppendMessage encodes the message of BenchmarkDecodeMessage
// in both version 2 forms.
func BenchmarkAppendMessage(b *testing.B) {
	ms := codecFixtureMessages()
	m := ms["keyed"]
	env := envelopeOf(&m)
	for _, form := range []string{"record", "standalone"} {
		b.Run("form="+form, func(b *testing.B) {
			buf := make([]byte, 0, EncodedLen(&m))
			b.SetBytes(int64(len(m.Value)))
			b.ReportAllocs()
			for b.Loop() {
				if form == "record" {
					buf = AppendRecord(buf[:0], &m, env)
				} else {
					buf = AppendMessage(buf[:0], &m)
				}
			}
			b.ReportMetric(float64(len(buf)), "B/record")
		})
	}
}

// BenchmarkDecodeMessage decodes the log record of a message with a key,
// a 256-byte value and default headers but a traceparent, in each form:
// version 2 framed (what the bus writes), standalone, and version 1
// (what it wrote until 325778d).
func BenchmarkDecodeMessage(b *testing.B) {
	ms := codecFixtureMessages()
	m := ms["keyed"]
	env := envelopeOf(&m)
	for _, form := range []string{"record", "standalone", "v1"} {
		var enc []byte
		switch form {
		case "record":
			enc = AppendRecord(nil, &m, env)
		case "standalone":
			enc = AppendMessage(nil, &m)
		default:
			enc = codecFixtureV1(b)["keyed"]
		}
		b.Run("form="+form, func(b *testing.B) {
			b.SetBytes(int64(len(m.Value)))
			b.ReportAllocs()
			var got Message
			for b.Loop() {
				if err := DecodeRecord(enc, env, "onexbus", &got); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(enc)), "B/record")
		})
	}
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

// fuzzSeeds are encodings of every form: standalone and framed version
// 2, the version 1 fixture, and a few broken ones.
func fuzzSeeds(f *testing.F) [][]byte {
	var seeds [][]byte
	for _, m := range roundTripCases() {
		seeds = append(seeds, AppendMessage(nil, &m), AppendRecord(nil, &m, fuzzEnvelope))
	}
	for _, b := range codecFixtureV1(f) {
		seeds = append(seeds, b)
	}
	return append(seeds, []byte{codecV1, 0xc1, 0, 0, 0, 0}, []byte{codecV2, v2Framed | v2Value, 0x80})
}

// fuzzEnvelope is the frame FuzzDecodeRecord decodes in.
var fuzzEnvelope = Envelope{Topic: "onex.evt.orders.created.v1", Timestamp: 1_700_000_000_123_456_789,
	MessageID: uuid.MustParse("f47ac10b-58cc-4372-a567-0e02b2c3d479"), CorrelationID: uuid.MustParse("6ba7b810-9dad-11d1-80b4-00c04fd430c8")}

// FuzzDecodeMessage checks that standalone decoding (either version)
// never panics, that only ErrCorruptMessage is returned, and that a
// decoded message re-encodes, standalone and framed, to bytes that decode
// to the same message, the same bytes each time.
func FuzzDecodeMessage(f *testing.F) {
	for _, b := range fuzzSeeds(f) {
		f.Add(b, false)
	}
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
		checkReencodes(t, &m)
	})
}

// FuzzDecodeRecord is FuzzDecodeMessage for the body of a log record
// decoded in its frame's envelope (framed version 2, or any whole form).
func FuzzDecodeRecord(f *testing.F) {
	for _, b := range fuzzSeeds(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var m Message
		if err := DecodeRecord(b, fuzzEnvelope, "svc-orders", &m); err != nil {
			if !errors.Is(err, ErrCorruptMessage) {
				t.Fatalf("error %v does not wrap ErrCorruptMessage", err)
			}
			return
		}
		checkReencodes(t, &m)
	})
}

// checkReencodes checks that m, a decoded message, survives both forms
// of version 2 and that each encoding is stable.
func checkReencodes(t *testing.T, m *Message) {
	t.Helper()
	for _, env := range []*Envelope{nil, &fuzzEnvelope} {
		var enc []byte
		var again Message
		var err error
		if env == nil {
			enc = AppendMessage(nil, m)
			if len(enc) != EncodedLen(m) {
				t.Fatalf("EncodedLen %d, encoded %d", EncodedLen(m), len(enc))
			}
			err = DecodeMessage(enc, &again)
		} else {
			enc = AppendRecord(nil, m, *env)
			if len(enc) != RecordLen(m, *env) {
				t.Fatalf("RecordLen %d, encoded %d", RecordLen(m, *env), len(enc))
			}
			err = DecodeRecord(enc, *env, "", &again)
		}
		if err != nil {
			t.Fatalf("re-decode (framed %v): %v", env != nil, err)
		}
		if !messagesEqual(m, &again) {
			t.Fatalf("re-decoded differs (framed %v):\n%+v\n%+v", env != nil, *m, again)
		}
		// Canonical form is stable.
		var enc2 []byte
		if env == nil {
			enc2 = AppendMessage(nil, &again)
		} else {
			enc2 = AppendRecord(nil, &again, *env)
		}
		if !bytes.Equal(enc, enc2) {
			t.Fatalf("re-encoding is not stable (framed %v)", env != nil)
		}
	}
}

// DecodeVerifiedMessage and DecodeRecord trust their container for the
// CRC and nothing else: the same message as DecodeMessageTopic decodes,
// a damaged CRC trailer passes, and bad fields, truncations and bad
// versions are still refused with ErrCorruptMessage and m left
// unchanged, never a panic.
func TestDecodeVerifiedMessage(t *testing.T) {
	m := testMessage()
	for version, good := range map[string][]byte{"v2": AppendMessage(nil, &m), "v1": codecFixtureV1(t)["full"]} {
		t.Run(version, func(t *testing.T) {
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
			if err := DecodeRecord(bad, envelopeOf(&m), "", &got); err != nil || !messagesEqual(&got, &want) {
				t.Fatalf("DecodeRecord checked a CRC the frame vouched for: %v", err)
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
				if err := DecodeRecord(b, envelopeOf(&m), "", &got); !errors.Is(err, ErrCorruptMessage) {
					t.Fatalf("DecodeRecord: err = %v, want ErrCorruptMessage", err)
				}
				if !reflect.DeepEqual(got, Message{Topic: "x"}) {
					t.Fatal("message changed on error")
				}
			}
			for n := range len(good) - 4 {
				refuse(t, good[:n])
			}
			for _, body := range [][]byte{{0xc1}, {0x91, 0xc0}, {0xdd, 0xff, 0xff, 0xff}, {0xdc, 0x00, 0x1a, 0xc0}} {
				refuse(t, withCRC(append([]byte{codecV1}, body...)))
			}
			other := bytes.Clone(good)
			other[0] = 3
			refuse(t, other)
		})
	}
}

// A message whose header texts are its topic, the bus's source and the
// defaults decodes with one allocation (Key and Value): every text is
// shared, none copied. Framed, the defaults and the event type are not
// even stored.
func TestDecodeVerifiedSharesSource(t *testing.T) {
	m := Message{Topic: "orders", Key: []byte("k"), Value: []byte("v"), Timestamp: time.Unix(1, 0)}
	m.Headers.ApplyDefaults(m.Topic, "billing", m.Timestamp)
	b := AppendMessage(nil, &m)
	r := AppendRecord(nil, &m, envelopeOf(&m))
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
	if n := testing.AllocsPerRun(100, func() { _ = DecodeRecord(r, envelopeOf(&m), "billing", &got) }); n != 1 {
		t.Errorf("DecodeRecord allocates %v times, want 1", n)
	}
	if !messagesEqual(&got, &m) {
		t.Fatalf("decoded %+v, want %+v", got, m)
	}
}
