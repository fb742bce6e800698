package schema_test

import (
	"context"
	"errors"
	"testing"

	"github.com/onexbus/onexbus/dispatch/schema"
)

// verdict is the expected answer per level for registering next after old.
type verdict struct{ backward, forward, full bool }

// TestCompatibilityTable: pairs of schemas (old, then new) and the
// verdict per level, for both formats, through Register on a fresh
// subject per level (the registry's own path).
func TestCompatibilityTable(t *testing.T) {
	const (
		jOpen        = `{"type":"object","properties":{"a":{"type":"string"}}}`
		jOpenB       = `{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"integer"}}}`
		jClosed      = `{"type":"object","properties":{"a":{"type":"string"}},"additionalProperties":false}`
		jClosedB     = `{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"integer"}},"additionalProperties":false}`
		jReqA        = `{"type":"object","properties":{"a":{"type":"string"}},"required":["a"]}`
		jReqADefault = `{"type":"object","properties":{"a":{"type":"string","default":""}},"required":["a"]}`
		jInt         = `{"type":"integer"}`
		jNumber      = `{"type":"number"}`
		jEnum2       = `{"type":"string","enum":["a","b"]}`
		jEnum3       = `{"type":"string","enum":["a","b","c"]}`
		jItemsInt    = `{"type":"array","items":{"type":"integer"}}`
		jItemsNum    = `{"type":"array","items":{"type":"number"}}`
		jMax10       = `{"type":"string","maxLength":10}`
		jMax5        = `{"type":"string","maxLength":5}`
		jAnyOf1      = `{"anyOf":[{"type":"string"}]}`
		jAnyOf2      = `{"anyOf":[{"type":"string"},{"type":"integer"}]}`
		jAPString    = `{"type":"object","additionalProperties":{"type":"string"}}`
		jAPStringB   = `{"type":"object","properties":{"b":{"type":"string"}},"additionalProperties":{"type":"string"}}`

		aV1       = `{"type":"record","name":"U","fields":[{"name":"a","type":"string"}]}`
		aAddDef   = `{"type":"record","name":"U","fields":[{"name":"a","type":"string"},{"name":"b","type":"int","default":0}]}`
		aAddNoDef = `{"type":"record","name":"U","fields":[{"name":"a","type":"string"},{"name":"b","type":"int"}]}`
		aInt      = `{"type":"record","name":"N","fields":[{"name":"n","type":"int"}]}`
		aLong     = `{"type":"record","name":"N","fields":[{"name":"n","type":"long"}]}`
		aEnum2    = `{"type":"enum","name":"E","symbols":["A","B"]}`
		aEnum3    = `{"type":"enum","name":"E","symbols":["A","B","C"]}`
		aRenamed  = `{"type":"record","name":"V","fields":[{"name":"a","type":"string"}]}`
	)
	for _, tc := range []struct {
		name     string
		typ      schema.Type
		old, new string
		want     verdict
	}{
		// JSON Schema, by Confluent's rules.
		{"json property added to open model", schema.JSON, jOpen, jOpenB, verdict{false, true, false}},
		{"json property removed from open model", schema.JSON, jOpenB, jOpen, verdict{true, false, false}},
		{"json property added to closed model", schema.JSON, jClosed, jClosedB, verdict{true, false, false}},
		{"json property removed from closed model", schema.JSON, jClosedB, jClosed, verdict{false, true, false}},
		{"json additionalProperties closed", schema.JSON, jOpen, jClosed, verdict{false, true, false}},
		{"json additionalProperties opened", schema.JSON, jClosed, jOpen, verdict{true, false, false}},
		{"json required added", schema.JSON, jOpen, jReqA, verdict{false, true, false}},
		{"json required removed", schema.JSON, jReqA, jOpen, verdict{true, false, false}},
		{"json required added with default", schema.JSON, jOpen, jReqADefault, verdict{true, true, true}},
		{"json type widened integer to number", schema.JSON, jInt, jNumber, verdict{true, false, false}},
		{"json type narrowed number to integer", schema.JSON, jNumber, jInt, verdict{false, true, false}},
		{"json enum widened", schema.JSON, jEnum2, jEnum3, verdict{true, false, false}},
		{"json enum narrowed", schema.JSON, jEnum3, jEnum2, verdict{false, true, false}},
		{"json items widened", schema.JSON, jItemsInt, jItemsNum, verdict{true, false, false}},
		{"json maxLength decreased", schema.JSON, jMax10, jMax5, verdict{false, true, false}},
		{"json identical", schema.JSON, jReqA, jReqA, verdict{true, true, true}},
		{"json property added under additionalProperties schema", schema.JSON, jAPString, jAPStringB, verdict{true, true, true}},
		{"json anyOf changed (equality only)", schema.JSON, jAnyOf1, jAnyOf2, verdict{false, false, false}},
		// Avro, by Avro's resolution rules (hamba's checker).
		{"avro field added with default", schema.Avro, aV1, aAddDef, verdict{true, true, true}},
		{"avro field added without default", schema.Avro, aV1, aAddNoDef, verdict{false, true, false}},
		{"avro field removed without default", schema.Avro, aAddNoDef, aV1, verdict{true, false, false}},
		{"avro int promoted to long", schema.Avro, aInt, aLong, verdict{true, false, false}},
		{"avro long narrowed to int", schema.Avro, aLong, aInt, verdict{false, true, false}},
		{"avro enum symbol added", schema.Avro, aEnum2, aEnum3, verdict{true, false, false}},
		{"avro record renamed", schema.Avro, aV1, aRenamed, verdict{false, false, false}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			r := openRegistry(t, newBus(t))
			for _, lv := range []struct {
				level schema.Level
				want  bool
			}{{schema.Backward, tc.want.backward}, {schema.Forward, tc.want.forward}, {schema.Full, tc.want.full}, {schema.None, true}} {
				subject := "s-" + string(lv.level)
				if err := r.SetCompatibility(ctx, subject, lv.level); err != nil {
					t.Fatal(err)
				}
				register(t, r, subject, tc.typ, tc.old)
				ok, why, err := r.CheckCompatibility(subject, schema.Latest, schema.Schema{Schema: tc.new, Type: tc.typ})
				if err != nil {
					t.Fatal(err)
				}
				if ok != lv.want {
					t.Errorf("%s: check says %v (%v), want %v", lv.level, ok, why, lv.want)
				}
				_, err = r.Register(ctx, subject, schema.Schema{Schema: tc.new, Type: tc.typ})
				if lv.want && err != nil || !lv.want && !errors.Is(err, schema.ErrIncompatible) {
					t.Errorf("%s: register: %v, want compatible %v", lv.level, err, lv.want)
				}
			}
		})
	}
}

// TestCompatibilityTransitive: v3 is compatible with v2 but not with v1
// (v1 and v2 registered under NONE, then the level set); the plain level
// accepts v3, the transitive one refuses it.
func TestCompatibilityTransitive(t *testing.T) {
	const (
		v1 = `{"type":"record","name":"U","fields":[{"name":"a","type":"string"}]}`
		v2 = `{"type":"record","name":"U","fields":[{"name":"a","type":"string"},{"name":"b","type":"int","default":0}]}`
		v3 = `{"type":"record","name":"U","fields":[{"name":"a","type":"string"},{"name":"b","type":"int"}]}`
		j1 = `{"type":"string"}`
		j2 = `{"type":"integer"}`
		j3 = `{"type":"number"}`
	)
	for _, tc := range []struct {
		name       string
		typ        schema.Type
		v1, v2, v3 string
		plain, all schema.Level
	}{
		{"avro backward", schema.Avro, v1, v2, v3, schema.Backward, schema.BackwardTransitive},
		{"avro full", schema.Avro, v1, v2, v3, schema.Full, schema.FullTransitive},
		{"json backward", schema.JSON, j1, j2, j3, schema.Backward, schema.BackwardTransitive},
		{"json forward", schema.JSON, j1, j2, `{"type":"integer","minimum":0}`, schema.Forward, schema.ForwardTransitive},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			r := openRegistry(t, newBus(t))
			for _, level := range []schema.Level{tc.plain, tc.all} {
				subject := "s-" + string(level)
				if err := r.SetCompatibility(ctx, subject, schema.None); err != nil {
					t.Fatal(err)
				}
				register(t, r, subject, tc.typ, tc.v1)
				register(t, r, subject, tc.typ, tc.v2)
				if err := r.SetCompatibility(ctx, subject, level); err != nil {
					t.Fatal(err)
				}
				ok, _, err := r.CheckCompatibility(subject, schema.AllVersions, schema.Schema{Schema: tc.v3, Type: tc.typ})
				if err != nil || ok {
					t.Fatalf("check against all versions: %v %v, want incompatible", ok, err)
				}
				_, err = r.Register(ctx, subject, schema.Schema{Schema: tc.v3, Type: tc.typ})
				if level == tc.plain && err != nil {
					t.Fatalf("%s refused v3: %v", level, err)
				}
				if level == tc.all && !errors.Is(err, schema.ErrIncompatible) {
					t.Fatalf("%s accepted v3: %v", level, err)
				}
			}
		})
	}
}
