package schema

import (
	"encoding/binary"
	"errors"
	"testing"

	"github.com/hamba/avro/v2"
)

const fuzzAvroSchema = `{"type":"record","name":"R","fields":[
 {"name":"s","type":"string"},
 {"name":"n","type":["null","long"]},
 {"name":"tags","type":{"type":"array","items":"int"}},
 {"name":"attrs","type":{"type":"map","values":"bytes"}},
 {"name":"e","type":{"type":"enum","name":"E","symbols":["A","B"]}},
 {"name":"f","type":{"type":"fixed","name":"F","size":2}},
 {"name":"d","type":"double"},
 {"name":"b","type":"boolean"},
 {"name":"next","type":["null","R"]}
]}`

type fuzzRec struct {
	S     string            `avro:"s"`
	N     *int64            `avro:"n"`
	Tags  []int32           `avro:"tags"`
	Attrs map[string][]byte `avro:"attrs"`
	E     string            `avro:"e"`
	F     [2]byte           `avro:"f"`
	D     float64           `avro:"d"`
	B     bool              `avro:"b"`
	Next  *fuzzRec          `avro:"next"`
}

func fuzzSeeds(t testing.TB, s avro.Schema) [][]byte {
	n := int64(-7)
	vals := []fuzzRec{
		{S: "a", Tags: []int32{1, -2, 300}, Attrs: map[string][]byte{"k": []byte("v")}, E: "B", D: 1.5, B: true},
		{S: "", N: &n, E: "A", Next: &fuzzRec{S: "inner", E: "A"}},
	}
	var out [][]byte
	for _, v := range vals {
		b, err := avro.Marshal(s, v)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

func zigzag(n int64) []byte { return binary.AppendUvarint(nil, uint64(n<<1^(n>>63))) }

// TestCheckAvro: encoded values pass; damaged ones and hostile block
// counts fail at once (no allocation in proportion to what a count
// claims).
func TestCheckAvro(t *testing.T) {
	s := avro.MustParse(fuzzAvroSchema)
	for _, b := range fuzzSeeds(t, s) {
		if err := checkAvro(s, b); err != nil {
			t.Fatalf("encoded value refused: %v", err)
		}
		for cut := range len(b) {
			if err := checkAvro(s, b[:cut]); err == nil {
				t.Fatalf("value cut at %d of %d accepted", cut, len(b))
			}
		}
	}
	ints := avro.MustParse(`{"type":"array","items":"int"}`)
	if err := checkAvro(ints, append(zigzag(100_000_000), 0)); err == nil {
		t.Fatal("a block of 10^8 ints in 1 byte accepted")
	}
	nulls := avro.MustParse(`{"type":"array","items":"null"}`)
	if err := checkAvro(nulls, append(zigzag(100_000_000), 0)); err != nil {
		t.Fatalf("10^8 nulls (zero bytes each) refused: %v", err)
	}
	allocs := testing.AllocsPerRun(10, func() { _ = checkAvro(nulls, append(zigzag(1<<40), 0)) })
	if allocs > 2 {
		t.Fatalf("%v allocations for a huge null array", allocs)
	}
	deep := []byte{}
	for range maxAvroDepth + 10 {
		deep = append(deep, 0x02) // union branch 1: a nested R... as a bare list
	}
	list := avro.MustParse(`{"type":"record","name":"L","fields":[{"name":"next","type":["null","L"]}]}`)
	if err := checkAvro(list, deep); err == nil {
		t.Fatal("nesting past the limit accepted")
	}
}

// FuzzCheckAvro: the walker never panics, and what it accepts hamba's
// decoder decodes too.
func FuzzCheckAvro(f *testing.F) {
	s := avro.MustParse(fuzzAvroSchema)
	for _, b := range fuzzSeeds(f, s) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if err := checkAvro(s, b); err != nil {
			return
		}
		var v any
		if err := avro.Unmarshal(s, b, &v); err != nil && !errors.Is(err, errAvroShort) {
			t.Fatalf("walker accepts % x, hamba refuses it: %v", b, err)
		}
	})
}
