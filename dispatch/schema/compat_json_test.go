package schema

import "testing"

// FuzzJSONCompat: the checker never panics on any pair of schemas that
// compile, and every schema can read what it writes (reflexivity).
func FuzzJSONCompat(f *testing.F) {
	for _, s := range []string{
		`{"type":"object","properties":{"a":{"type":"string"}},"required":["a"],"additionalProperties":false}`,
		`{"type":["string","null"],"enum":["x",null]}`,
		`{"type":"array","items":{"type":"integer","minimum":0},"maxItems":3}`,
		`{"anyOf":[{"type":"string"}],"$defs":{"x":true}}`,
		`true`, `false`, `{}`,
		`{"properties":{"p":false},"additionalProperties":{"type":"number"}}`,
	} {
		f.Add(s, `{"type":"object"}`)
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		ca, err := compile(Schema{Schema: a, Type: JSON})
		if err != nil {
			return
		}
		if why := jsonReadable(ca.doc, ca.doc); len(why) > 0 {
			t.Fatalf("%s cannot read itself: %v", a, why)
		}
		cb, err := compile(Schema{Schema: b, Type: JSON})
		if err != nil {
			return
		}
		_ = jsonReadable(ca.doc, cb.doc)
		_ = jsonReadable(cb.doc, ca.doc)
	})
}
