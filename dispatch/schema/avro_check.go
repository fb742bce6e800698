package schema

import (
	"errors"
	"fmt"
	"math"
	"unicode/utf8"

	"github.com/hamba/avro/v2"
)

// checkAvro walks one Avro binary value of schema s in b without
// building it, and reports the first way b is not exactly one such
// value. It replaces decoding into an `any` (hamba's generic decode),
// which lets a six-byte payload (an array of nulls claiming 10^8 items)
// allocate gigabytes: here every array and map block count is bounded by
// the bytes left (items that take no bytes are not walked at all), and
// nesting by maxAvroDepth.
func checkAvro(s avro.Schema, b []byte) error {
	c := avroCursor{b: b}
	if err := c.value(s, 0); err != nil {
		return err
	}
	if len(c.b) > 0 {
		return fmt.Errorf("%d bytes left after the value", len(c.b))
	}
	return nil
}

// maxAvroDepth bounds the nesting of a value (recursive schemas).
const maxAvroDepth = 512

var errAvroShort = errors.New("the payload ends inside the value")

type avroCursor struct{ b []byte }

func (c *avroCursor) long() (int64, error) {
	var u uint64
	for i := 0; i < 10; i++ {
		if len(c.b) == 0 {
			return 0, errAvroShort
		}
		x := c.b[0]
		c.b = c.b[1:]
		u |= uint64(x&0x7f) << (7 * i)
		if x&0x80 == 0 {
			return int64(u>>1) ^ -int64(u&1), nil
		}
	}
	return 0, errors.New("varint longer than 10 bytes")
}

func (c *avroCursor) int() (int32, error) {
	v, err := c.long()
	if err != nil {
		return 0, err
	}
	if v < math.MinInt32 || v > math.MaxInt32 {
		return 0, fmt.Errorf("int %d out of range", v)
	}
	return int32(v), nil
}

func (c *avroCursor) skip(n int64) error {
	if n < 0 {
		return fmt.Errorf("negative length %d", n)
	}
	if n > int64(len(c.b)) {
		return errAvroShort
	}
	c.b = c.b[n:]
	return nil
}

func (c *avroCursor) value(s avro.Schema, depth int) error {
	if depth > maxAvroDepth {
		return fmt.Errorf("value nested deeper than %d", maxAvroDepth)
	}
	switch t := s.(type) {
	case *avro.RefSchema:
		return c.value(t.Schema(), depth+1)
	case *avro.RecordSchema:
		for _, f := range t.Fields() {
			if err := c.value(f.Type(), depth+1); err != nil {
				return fmt.Errorf("field %s: %w", f.Name(), err)
			}
		}
		return nil
	case *avro.EnumSchema:
		i, err := c.int()
		if err != nil {
			return err
		}
		if i < 0 || int(i) >= len(t.Symbols()) {
			return fmt.Errorf("enum %s: index %d of %d symbols", t.Name(), i, len(t.Symbols()))
		}
		return nil
	case *avro.UnionSchema:
		i, err := c.long()
		if err != nil {
			return err
		}
		if i < 0 || i >= int64(len(t.Types())) {
			return fmt.Errorf("union index %d of %d branches", i, len(t.Types()))
		}
		return c.value(t.Types()[i], depth+1)
	case *avro.FixedSchema:
		return c.skip(int64(t.Size()))
	case *avro.ArraySchema:
		return c.blocks(depth, func() error { return c.value(t.Items(), depth+1) }, zeroWidth(t.Items(), 0))
	case *avro.MapSchema:
		return c.blocks(depth, func() error {
			if err := c.str(); err != nil {
				return fmt.Errorf("map key: %w", err)
			}
			return c.value(t.Values(), depth+1)
		}, false)
	}
	switch s.Type() {
	case avro.Null:
		return nil
	case avro.Boolean:
		if len(c.b) == 0 {
			return errAvroShort
		}
		if c.b[0] > 1 {
			return fmt.Errorf("boolean byte %d", c.b[0])
		}
		c.b = c.b[1:]
		return nil
	case avro.Int:
		_, err := c.int()
		return err
	case avro.Long:
		_, err := c.long()
		return err
	case avro.Float:
		return c.skip(4)
	case avro.Double:
		return c.skip(8)
	case avro.Bytes:
		n, err := c.long()
		if err != nil {
			return err
		}
		return c.skip(n)
	case avro.String:
		return c.str()
	}
	return fmt.Errorf("unsupported schema type %s", s.Type())
}

func (c *avroCursor) str() error {
	n, err := c.long()
	if err != nil {
		return err
	}
	before := c.b
	if err := c.skip(n); err != nil {
		return err
	}
	if !utf8.Valid(before[:n]) {
		return errors.New("string is not UTF-8")
	}
	return nil
}

// blocks walks the blocks of an array or map: a count (negative: its
// absolute value, then the block's byte size), items, until a zero
// count. Each item takes at least one byte unless zero (then none is
// walked), so a count above the bytes left is refused at once.
func (c *avroCursor) blocks(depth int, item func() error, zero bool) error {
	for {
		n, err := c.long()
		if err != nil {
			return err
		}
		if n == 0 {
			return nil
		}
		if n < 0 {
			if n == math.MinInt64 {
				return errors.New("block count out of range")
			}
			n = -n
			if _, err := c.long(); err != nil { // the block's size in bytes
				return err
			}
		}
		if zero {
			continue
		}
		if n > int64(len(c.b)) {
			return fmt.Errorf("block of %d items with %d bytes left", n, len(c.b))
		}
		for range n {
			if err := item(); err != nil {
				return err
			}
		}
	}
}

// zeroWidth reports whether every value of s encodes to no bytes at all
// (null, fixed of size 0, records of such fields).
func zeroWidth(s avro.Schema, depth int) bool {
	if depth > maxAvroDepth {
		return false
	}
	switch t := s.(type) {
	case *avro.RefSchema:
		return false // a recursive record holds a union somewhere: not zero
	case *avro.RecordSchema:
		for _, f := range t.Fields() {
			if !zeroWidth(f.Type(), depth+1) {
				return false
			}
		}
		return true
	case *avro.FixedSchema:
		return t.Size() == 0
	}
	return s.Type() == avro.Null
}
