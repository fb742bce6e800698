// Package codecv1 is the version 1 encoder of the stored message form,
// kept verbatim from message.AppendMessage as it was until version 2
// (commit 325778d), so that tests can write logs and records exactly as
// the version 1 code did and check that today's reader still reads them.
// Only tests import it.
package codecv1

import (
	"encoding/binary"
	"hash/crc32"
	"math"
	"time"

	"github.com/onexbus/onexbus/message"
)

const (
	codecVersion = 1
	codecFields  = 26
	codecTexts   = 12
)

const (
	mpPosFixIntMax = 0x7f
	mpFixArray     = 0x90
	mpFixStr       = 0xa0
	mpNil          = 0xc0
	mpBin8         = 0xc4
	mpBin16        = 0xc5
	mpBin32        = 0xc6
	mpUint8        = 0xcc
	mpUint16       = 0xcd
	mpUint32       = 0xce
	mpUint64       = 0xcf
	mpInt8         = 0xd0
	mpInt16        = 0xd1
	mpInt32        = 0xd2
	mpInt64        = 0xd3
	mpStr8         = 0xd9
	mpStr16        = 0xda
	mpStr32        = 0xdb
	mpArray16      = 0xdc
	mpArray32      = 0xdd
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// AppendMessage appends the version 1 stored form of m to dst: a version
// byte, a msgpack array of 26 fields, a CRC-32C.
func AppendMessage(dst []byte, m *message.Message) []byte {
	start := len(dst)
	h := &m.Headers
	dst = appendArrayLen(append(dst, codecVersion), codecFields)
	dst = appendBinOrNil(dst, m.Key)
	dst = appendBinOrNil(dst, m.Value)
	dst = appendTime(dst, m.Timestamp)
	dst = appendBin(dst, h.CorrelationID[:])
	dst = appendBin(dst, h.MessageID[:])
	dst = appendTime(dst, h.Timestamp)
	for _, s := range [codecTexts]string{
		h.Source, h.EventType, h.ContentType, h.SchemaVersion,
		h.Destination, h.TraceID, h.SpanID, h.ParentSpanID,
		h.OperationName, h.RoutingKey, h.PartitionKey, h.TraceParent,
	} {
		dst = appendStr(dst, s)
	}
	dst = appendInt(dst, int64(h.Priority))
	dst = appendInt(dst, int64(h.RetryCount))
	dst = appendInt(dst, int64(h.MaxRetries))
	dst = appendInt(dst, int64(h.TTLSeconds))
	dst = appendHeaderList(dst, h.Extra)
	dst = appendHeaderList(dst, h.Unparsed)
	return binary.BigEndian.AppendUint32(dst, crc32.Checksum(dst[start:], castagnoli))
}

func appendArrayLen(dst []byte, n int) []byte {
	switch {
	case n < 16:
		return append(dst, mpFixArray|byte(n))
	case n <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(dst, mpArray16), uint16(n))
	}
	return binary.BigEndian.AppendUint32(append(dst, mpArray32), uint32(n))
}

func appendBinOrNil(dst, b []byte) []byte {
	if b == nil {
		return append(dst, mpNil)
	}
	return appendBin(dst, b)
}

func appendBin(dst, b []byte) []byte {
	switch n := len(b); {
	case n <= math.MaxUint8:
		dst = append(dst, mpBin8, byte(n))
	case n <= math.MaxUint16:
		dst = binary.BigEndian.AppendUint16(append(dst, mpBin16), uint16(n))
	default:
		dst = binary.BigEndian.AppendUint32(append(dst, mpBin32), uint32(n))
	}
	return append(dst, b...)
}

func appendStr(dst []byte, s string) []byte {
	switch n := len(s); {
	case n < 32:
		dst = append(dst, mpFixStr|byte(n))
	case n <= math.MaxUint8:
		dst = append(dst, mpStr8, byte(n))
	case n <= math.MaxUint16:
		dst = binary.BigEndian.AppendUint16(append(dst, mpStr16), uint16(n))
	default:
		dst = binary.BigEndian.AppendUint32(append(dst, mpStr32), uint32(n))
	}
	return append(dst, s...)
}

func appendInt(dst []byte, v int64) []byte {
	switch {
	case v >= 0 && v <= mpPosFixIntMax:
		return append(dst, byte(v))
	case v < 0 && v >= -32:
		return append(dst, byte(v))
	case v >= 0 && v <= math.MaxUint8:
		return append(dst, mpUint8, byte(v))
	case v >= 0 && v <= math.MaxUint16:
		return binary.BigEndian.AppendUint16(append(dst, mpUint16), uint16(v))
	case v >= 0 && v <= math.MaxUint32:
		return binary.BigEndian.AppendUint32(append(dst, mpUint32), uint32(v))
	case v >= 0:
		return binary.BigEndian.AppendUint64(append(dst, mpUint64), uint64(v))
	case v >= math.MinInt8:
		return append(dst, mpInt8, byte(v))
	case v >= math.MinInt16:
		return binary.BigEndian.AppendUint16(append(dst, mpInt16), uint16(v))
	case v >= math.MinInt32:
		return binary.BigEndian.AppendUint32(append(dst, mpInt32), uint32(v))
	}
	return binary.BigEndian.AppendUint64(append(dst, mpInt64), uint64(v))
}

func appendTime(dst []byte, t time.Time) []byte {
	return appendInt(appendInt(dst, t.Unix()), int64(t.Nanosecond()))
}

func appendHeaderList(dst []byte, l []message.Header) []byte {
	dst = appendArrayLen(dst, 2*len(l))
	for _, x := range l {
		dst = appendStr(appendStr(dst, x.Key), x.Value)
	}
	return dst
}
