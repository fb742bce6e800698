package schema

import (
	"fmt"
	"reflect"
	"slices"
	"sort"
)

// The JSON Schema compatibility checker follows the rules Confluent
// documents for JSON Schema, read as one question: does every document
// the writer's schema accepts pass the reader's? It answers it
// structurally, keyword by keyword, for these constructs:
//
//   - type (a name or a list; "integer" is inside "number"; no type
//     means any): a reader type set that drops a writer type is
//     TYPE_NARROWED.
//   - properties with additionalProperties (the content model): a
//     property the writer has and the reader lacks is checked against the
//     reader's additionalProperties (false: PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL);
//     a property the reader adds is checked against the writer's
//     additionalProperties (open: PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL,
//     unless the reader's property accepts anything; closed: compatible);
//     additionalProperties themselves compare as schemas (true when absent).
//   - required: a name the reader requires and the writer did not is
//     REQUIRED_PROPERTY_ADDED, unless the reader's property has a default
//     (Confluent's REQUIRED_PROPERTY_WITH_DEFAULT_ADDED).
//   - enum: a writer value the reader's enum lacks is ENUM_ARRAY_NARROWED,
//     and so is an enum the reader adds.
//   - items (one schema): compared as schemas.
//   - bounds: maxLength, maxItems, maxProperties, maximum and
//     exclusiveMaximum may grow, the min* and minimum, exclusiveMinimum
//     may shrink; a tighter or newly added bound is *_DECREASED /
//     *_INCREASED / *_ADDED.
//   - boolean schemas: true accepts everything, false nothing.
//
// Not covered (compared for equality only, a difference is reported as
// incompatible with the keyword's name, so the checker errs on the safe
// side): the combinators allOf, anyOf, oneOf, not, if/then/else; $ref and
// $defs/definitions; patternProperties, propertyNames, dependencies,
// dependentRequired, dependentSchemas; tuple items (prefixItems, items as
// a list, additionalItems), contains, uniqueItems; const, pattern,
// format, multipleOf; unevaluatedProperties and unevaluatedItems.
// Annotations (title, description, default, examples, $schema, $id,
// $comment, readOnly, writeOnly, deprecated) never matter.

// equalityKeywords are compared only for equality (see above).
var equalityKeywords = []string{
	"allOf", "anyOf", "oneOf", "not", "if", "then", "else",
	"$ref", "$defs", "definitions", "$dynamicRef", "$anchor",
	"patternProperties", "propertyNames", "dependencies", "dependentRequired", "dependentSchemas",
	"prefixItems", "additionalItems", "contains", "minContains", "maxContains", "uniqueItems",
	"const", "pattern", "format", "multipleOf", "unevaluatedProperties", "unevaluatedItems",
}

// upperBounds may grow from writer to reader; lowerBounds may shrink.
var (
	upperBounds = []string{"maxLength", "maxItems", "maxProperties", "maximum", "exclusiveMaximum"}
	lowerBounds = []string{"minLength", "minItems", "minProperties", "minimum", "exclusiveMinimum"}
)

// jsonReadable returns why reader (a decoded JSON Schema document) may
// refuse a document writer accepts; nil when it cannot.
func jsonReadable(reader, writer any) []string {
	var why []string
	jsonAccepts(reader, writer, "#", &why)
	return why
}

func jsonAccepts(r, w any, path string, why *[]string) {
	if b, ok := w.(bool); ok && !b {
		return // the writer accepts nothing
	}
	if b, ok := r.(bool); ok {
		if !b {
			*why = append(*why, path+": SCHEMA_NARROWED to false")
		}
		return
	}
	rm, _ := r.(map[string]any)
	wm, _ := w.(map[string]any)
	if rm == nil {
		if r != nil {
			*why = append(*why, path+": reader schema is not an object")
		}
		return // an absent schema accepts everything
	}
	if wm == nil {
		wm = map[string]any{} // true or absent: anything
	}
	for _, k := range equalityKeywords {
		if !reflect.DeepEqual(rm[k], wm[k]) {
			*why = append(*why, fmt.Sprintf("%s: %s changed (the checker compares it for equality only)", path, k))
		}
	}
	rt, rAny := jsonTypes(rm)
	wt, wAny := jsonTypes(wm)
	switch {
	case rAny:
	case wAny:
		*why = append(*why, fmt.Sprintf("%s: TYPE_NARROWED: any type to %v", path, sortedKeys(rt)))
	default:
		for t := range wt {
			if !rt[t] && !(t == "integer" && rt["number"]) {
				*why = append(*why, fmt.Sprintf("%s: TYPE_NARROWED: %s no longer accepted", path, t))
			}
		}
	}
	jsonEnum(rm, wm, path, why)
	jsonBounds(rm, wm, path, why)
	mayBe := func(types map[string]bool, anyType bool, t string) bool { return anyType || types[t] }
	if mayBe(rt, rAny, "object") && mayBe(wt, wAny, "object") {
		jsonObject(rm, wm, path, why)
	}
	if mayBe(rt, rAny, "array") && mayBe(wt, wAny, "array") {
		ri, wi := rm["items"], wm["items"]
		_, rList := ri.([]any)
		_, wList := wi.([]any)
		if rList || wList {
			if !reflect.DeepEqual(ri, wi) {
				*why = append(*why, path+": items changed (tuple items are compared for equality only)")
			}
		} else {
			jsonAccepts(ri, wi, path+"/items", why)
		}
	}
}

func jsonObject(rm, wm map[string]any, path string, why *[]string) {
	rp, _ := rm["properties"].(map[string]any)
	wp, _ := wm["properties"].(map[string]any)
	rAP, wAP := rm["additionalProperties"], wm["additionalProperties"]
	for _, name := range sortedKeys(wp) {
		ws := wp[name]
		p := path + "/properties/" + name
		if rs, ok := rp[name]; ok {
			jsonAccepts(rs, ws, p, why)
			continue
		}
		if b, ok := rAP.(bool); ok && !b {
			*why = append(*why, p+": PROPERTY_REMOVED_FROM_CLOSED_CONTENT_MODEL")
			continue
		}
		jsonAccepts(rAP, ws, p, why)
	}
	for _, name := range sortedKeys(rp) {
		if _, ok := wp[name]; ok {
			continue
		}
		rs := rp[name]
		p := path + "/properties/" + name
		if b, ok := wAP.(bool); ok && !b {
			continue // the writer never wrote it
		}
		if wAP == nil || wAP == true {
			if !acceptsAnything(rs) {
				*why = append(*why, p+": PROPERTY_ADDED_TO_OPEN_CONTENT_MODEL")
			}
			continue
		}
		jsonAccepts(rs, wAP, p, why)
	}
	jsonAccepts(rAP, wAP, path+"/additionalProperties", why)
	wreq := stringSet(wm["required"])
	for _, name := range sortedKeys(stringSet(rm["required"])) {
		if wreq[name] {
			continue
		}
		if ps, ok := rp[name].(map[string]any); ok {
			if _, hasDefault := ps["default"]; hasDefault {
				continue
			}
		}
		*why = append(*why, fmt.Sprintf("%s/required: REQUIRED_PROPERTY_ADDED: %s", path, name))
	}
}

func jsonEnum(rm, wm map[string]any, path string, why *[]string) {
	re, rOK := rm["enum"].([]any)
	if !rOK {
		return
	}
	we, wOK := wm["enum"].([]any)
	if !wOK {
		*why = append(*why, path+": ENUM_ARRAY_NARROWED: enum added")
		return
	}
	for _, v := range we {
		if !slices.ContainsFunc(re, func(x any) bool { return reflect.DeepEqual(x, v) }) {
			*why = append(*why, fmt.Sprintf("%s: ENUM_ARRAY_NARROWED: %v removed", path, v))
		}
	}
}

func jsonBounds(rm, wm map[string]any, path string, why *[]string) {
	check := func(k string, upper bool) {
		rv, rOK := rm[k].(float64)
		if !rOK {
			return // no bound in the reader
		}
		wv, wOK := wm[k].(float64)
		switch {
		case !wOK:
			*why = append(*why, fmt.Sprintf("%s: %s added", path, k))
		case upper && rv < wv:
			*why = append(*why, fmt.Sprintf("%s: %s decreased from %v to %v", path, k, wv, rv))
		case !upper && rv > wv:
			*why = append(*why, fmt.Sprintf("%s: %s increased from %v to %v", path, k, wv, rv))
		}
	}
	for _, k := range upperBounds {
		check(k, true)
	}
	for _, k := range lowerBounds {
		check(k, false)
	}
}

// jsonTypes returns the type set of a schema, or anyType when it has no
// type keyword.
func jsonTypes(m map[string]any) (types map[string]bool, anyType bool) {
	switch t := m["type"].(type) {
	case string:
		return map[string]bool{t: true}, false
	case []any:
		types = map[string]bool{}
		for _, x := range t {
			if s, ok := x.(string); ok {
				types[s] = true
			}
		}
		return types, false
	}
	return nil, true
}

// acceptsAnything reports whether s is true or a schema without any
// constraining keyword.
func acceptsAnything(s any) bool {
	if b, ok := s.(bool); ok {
		return b
	}
	m, ok := s.(map[string]any)
	if !ok {
		return false
	}
	for k := range m {
		switch k {
		case "title", "description", "default", "examples", "$schema", "$id", "$comment", "readOnly", "writeOnly", "deprecated":
		default:
			return false
		}
	}
	return true
}

func stringSet(v any) map[string]bool {
	l, _ := v.([]any)
	set := make(map[string]bool, len(l))
	for _, x := range l {
		if s, ok := x.(string); ok {
			set[s] = true
		}
	}
	return set
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
