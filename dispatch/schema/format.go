package schema

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/hamba/avro/v2"
	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Type is a schema's format, spelled as in the Confluent API's
// schemaType field.
type Type string

// The supported formats. An empty Type means AVRO, as in Confluent's API.
const (
	Avro Type = "AVRO"
	JSON Type = "JSON"
)

// Schema is a schema as clients give it: its text, its format and
// references (accepted only when empty: references are not supported).
type Schema struct {
	Schema     string      `json:"schema"`
	Type       Type        `json:"schemaType,omitempty"`
	References []Reference `json:"references,omitempty"`
}

// Reference names another subject's version from a schema (Confluent's
// schema references). The registry refuses schemas that have any.
type Reference struct {
	Name    string `json:"name"`
	Subject string `json:"subject"`
	Version int    `json:"version"`
}

// SubjectSchema is one version of a subject: the schema with its global
// id and its version in the subject.
type SubjectSchema struct {
	Subject string `json:"subject"`
	Version int    `json:"version"`
	ID      int    `json:"id"`
	Schema
}

// compiled is a parsed schema, immutable once built: what validation and
// the compatibility checks use.
type compiled struct {
	typ   Type
	text  string // as registered
	canon string // the identity for id reuse: the compact JSON text
	avro  avro.Schema
	js    *jsonschema.Schema
	doc   any // the JSON Schema document, for the compatibility checker
}

// maxDetail caps the validation detail carried in an error, so a hostile
// payload cannot make errors (and warn logs) huge.
const maxDetail = 512

// compile parses s. Its errors wrap ErrInvalidSchema.
func compile(s Schema) (*compiled, error) {
	if len(s.References) > 0 {
		return nil, fmt.Errorf("%w: schema references are not supported", ErrInvalidSchema)
	}
	switch s.Type {
	case "", Avro:
		// A cache of its own: the default one is global and would keep
		// the first definition of a named type for every later version.
		sch, err := avro.ParseWithCache(s.Schema, "", &avro.SchemaCache{})
		if err != nil {
			return nil, fmt.Errorf("%w: avro: %w", ErrInvalidSchema, err)
		}
		// The identity keeps defaults and aliases, which Avro's parsing
		// canonical form (sch.String()) drops but resolution uses.
		canon := s.Schema
		var buf bytes.Buffer
		if json.Compact(&buf, []byte(s.Schema)) == nil {
			canon = buf.String()
		}
		return &compiled{typ: Avro, text: s.Schema, canon: canon, avro: sch}, nil
	case JSON:
		doc, err := jsonschema.UnmarshalJSON(strings.NewReader(s.Schema))
		if err != nil {
			return nil, fmt.Errorf("%w: json: %w", ErrInvalidSchema, err)
		}
		c := jsonschema.NewCompiler()
		// No loader: a $ref outside the document (file, http) is refused,
		// never fetched.
		c.UseLoader(jsonschema.SchemeURLLoader{})
		const loc = "urn:onexbus:schema"
		if err := c.AddResource(loc, doc); err != nil {
			return nil, fmt.Errorf("%w: json: %w", ErrInvalidSchema, err)
		}
		js, err := c.Compile(loc)
		if err != nil {
			return nil, fmt.Errorf("%w: json: %w", ErrInvalidSchema, err)
		}
		var plain any // float64 numbers, for the checker
		if err := json.Unmarshal([]byte(s.Schema), &plain); err != nil {
			return nil, fmt.Errorf("%w: json: %w", ErrInvalidSchema, err)
		}
		var buf bytes.Buffer
		if err := json.Compact(&buf, []byte(s.Schema)); err != nil {
			return nil, fmt.Errorf("%w: json: %w", ErrInvalidSchema, err)
		}
		return &compiled{typ: JSON, text: s.Schema, canon: buf.String(), js: js, doc: plain}, nil
	}
	return nil, fmt.Errorf("%w: unsupported schema type %q (AVRO and JSON are)", ErrInvalidSchema, s.Type)
}

// schema returns c as clients see it.
func (c *compiled) schema() Schema {
	s := Schema{Schema: c.text}
	if c.typ != Avro {
		s.Type = c.typ
	}
	return s
}

// validate checks one payload (without the wire format's prefix).
func (c *compiled) validate(payload []byte) error {
	switch c.typ {
	case JSON:
		v, err := jsonschema.UnmarshalJSON(bytes.NewReader(payload))
		if err != nil {
			return fmt.Errorf("%w: not JSON: %s", ErrInvalidPayload, capDetail(err.Error()))
		}
		if err := c.js.Validate(v); err != nil {
			return fmt.Errorf("%w: %s", ErrInvalidPayload, capDetail(err.Error()))
		}
		return nil
	default:
		if err := checkAvro(c.avro, payload); err != nil {
			return fmt.Errorf("%w: avro: %s", ErrInvalidPayload, capDetail(err.Error()))
		}
		return nil
	}
}

func capDetail(s string) string {
	s = strings.ReplaceAll(s, "\n", "; ")
	if len(s) > maxDetail {
		return s[:maxDetail] + "..."
	}
	return s
}
