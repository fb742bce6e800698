package watermill

import (
	"slices"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/google/uuid"

	"github.com/onexbus/onexbus/core"
)

// UUIDHeader is the free header that carries a Watermill UUID which is not
// a UUID in canonical form (and so cannot be the message_id). It is not
// shown in a received message's Metadata, and metadata of that name is not
// sent.
const UUIDHeader = "watermill_uuid"

// toBus converts a Watermill message into a bus message for topic. The
// payload is shared, not copied: Publish encodes it before returning.
func toBus(topic string, wm *message.Message) *core.Message {
	keys := make([]string, 0, len(wm.Metadata))
	for k := range wm.Metadata {
		if k != UUIDHeader {
			keys = append(keys, k)
		}
	}
	// Map order is random; sorted names make the stored free headers,
	// and so the stored bytes, the same for the same message.
	slices.Sort(keys)
	recs := make([]core.RecordHeader, len(keys))
	for i, k := range keys {
		recs[i] = core.RecordHeader{Key: k, Value: []byte(wm.Metadata[k])}
	}
	h := core.HeadersFromRecord(recs, nil)
	if id, err := uuid.Parse(wm.UUID); err == nil && id.String() == wm.UUID {
		h.MessageID = id
	} else {
		// Kept verbatim, so that the subscriber sees the same UUID.
		h.Extra = append(h.Extra, core.Header{Key: UUIDHeader, Value: wm.UUID})
	}
	return &core.Message{Topic: topic, Value: wm.Payload, Headers: h}
}

// fromBus converts a delivered bus message into a Watermill message. The
// handler owns m, so its Value becomes the payload without a copy.
func fromBus(m *core.Message) *message.Message {
	recs := m.Headers.AppendRecordHeaders(make([]core.RecordHeader, 0, 24))
	md := make(message.Metadata, len(recs)+len(m.Headers.Unparsed))
	id := m.Headers.MessageID.String()
	for _, r := range recs {
		if r.Key == UUIDHeader {
			id = string(r.Value)
			continue
		}
		md[r.Key] = string(r.Value)
	}
	// What did not parse on the way in was replaced by a default; the
	// subscriber gets the value its publisher sent.
	for _, u := range m.Headers.Unparsed {
		md[u.Key] = u.Value
	}
	wm := message.NewMessage(id, m.Value)
	wm.Metadata = md
	return wm
}
