package message

import (
	"bytes"
	"strings"
	"time"

	"github.com/google/uuid"
)

// codecFixtureMessages are the messages of testdata/codec-v1.hex, whose
// lines are their version 1 encodings, written by the version 1 encoder
// (message.AppendMessage at 325778d) and never regenerated: the reader
// must keep decoding them to exactly these messages.
func codecFixtureMessages() map[string]Message {
	full := testMessage()
	var defaulted Message
	defaulted.Topic = "onex.evt.orders.created.v1"
	defaulted.Value = bytes.Repeat([]byte{0xab}, 256)
	defaulted.Timestamp = time.Date(2026, 12, 1, 14, 0, 0, 123456789, time.UTC)
	defaulted.Headers.CorrelationID = uuid.MustParse("0f8fad5b-d9cb-469f-a165-70867728950e")
	defaulted.Headers.MessageID = uuid.MustParse("7c9e6679-7425-40de-944b-e07fc1f90ae7")
	defaulted.Headers.ApplyDefaults(defaulted.Topic, "onexbus", defaulted.Timestamp)
	keyed := defaulted
	keyed.Key = []byte("customer-0000000042")
	keyed.Headers.TraceParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	keyed.Headers.Timestamp = time.Unix(1, 2).UTC()
	extremes := testMessage()
	extremes.Headers.RetryCount = 1 << 62
	extremes.Headers.MaxRetries = -1 << 40
	extremes.Headers.TTLSeconds = 70000
	extremes.Headers.Priority = PriorityUnset
	extremes.Timestamp = time.Unix(-1<<40, 999_999_999)
	manyExtra := testMessage()
	for i := range 20 {
		manyExtra.Headers.Extra = append(manyExtra.Headers.Extra, Header{strings.Repeat("k", 40+i), strings.Repeat("v", 300)})
	}
	return map[string]Message{
		"full":        full,
		"zero":        {},
		"defaulted":   defaulted,
		"keyed":       keyed,
		"empty key":   {Key: []byte{}},
		"empty value": {Value: []byte{}},
		"extremes":    extremes,
		"many extra":  manyExtra,
	}
}
