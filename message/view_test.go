package message

import (
	"bytes"
	"errors"
	"testing"
)

// DecodeRecordView decodes what DecodeRecord decodes, with Key and Value
// aliasing the input (nil stays nil), refuses what it refuses, and
// copies nothing for a message whose texts are all shared.
func TestDecodeRecordView(t *testing.T) {
	m := testMessage()
	env := Envelope{Topic: m.Topic, Timestamp: m.Timestamp.UnixNano(), MessageID: m.Headers.MessageID, CorrelationID: m.Headers.CorrelationID}
	good := AppendRecord(nil, &m, env)
	var want, got Message
	if err := DecodeRecord(good, env, "", &want); err != nil {
		t.Fatal(err)
	}
	if err := DecodeRecordView(good, env, "", &got); err != nil || !messagesEqual(&got, &want) {
		t.Fatalf("view decode: %v, %+v", err, got)
	}
	i := bytes.Index(good, m.Value)
	good[i] = 'w'
	if got.Value[0] != 'w' {
		t.Fatal("Value does not alias the input")
	}
	if cap(got.Key) != len(got.Key) || cap(got.Value) != len(got.Value) {
		t.Fatal("an append to Key or Value would write into the input")
	}

	nils := Message{Topic: m.Topic, Timestamp: m.Timestamp, Headers: m.Headers}
	b := AppendRecord(nil, &nils, env)
	if err := DecodeRecordView(b, env, "", &got); err != nil || got.Key != nil || got.Value != nil {
		t.Fatalf("nil Key and Value: %v, %q %q", err, got.Key, got.Value)
	}
	for n := range len(good) - 1 {
		var fresh Message
		if err := DecodeRecordView(good[:n], env, "", &fresh); err == nil {
			// A prefix may parse only if it decodes the same message.
			if !messagesEqual(&fresh, &want) {
				t.Fatalf("truncated at %d: decoded another message", n)
			}
		} else if !errors.Is(err, ErrCorruptMessage) {
			t.Fatalf("truncated at %d: %v", n, err)
		}
	}

	plain := Message{Topic: "t", Key: []byte("k"), Value: []byte("v"), Timestamp: m.Timestamp}
	plain.Headers.ApplyDefaults("t", "src", m.Timestamp)
	penv := Envelope{Topic: "t", Timestamp: plain.Timestamp.UnixNano(), MessageID: plain.Headers.MessageID, CorrelationID: plain.Headers.CorrelationID}
	enc := AppendRecord(nil, &plain, penv)
	if n := testing.AllocsPerRun(100, func() { _ = DecodeRecordView(enc, penv, "src", &got) }); n != 0 {
		t.Fatalf("%v allocations per view decode of shared texts, want 0", n)
	}
}
