package schema

import (
	"fmt"

	"github.com/hamba/avro/v2"
)

// Level is a subject's compatibility level, spelled as in Confluent's
// API. A new version is checked against the latest live version, or
// against every live version for the transitive levels:
//
//   - BACKWARD: the new schema reads data written with the old one.
//   - FORWARD: the old schema reads data written with the new one.
//   - FULL: both.
//   - NONE: no check.
type Level string

// The levels. BACKWARD is the default, as in Confluent's registry.
const (
	None               Level = "NONE"
	Backward           Level = "BACKWARD"
	BackwardTransitive Level = "BACKWARD_TRANSITIVE"
	Forward            Level = "FORWARD"
	ForwardTransitive  Level = "FORWARD_TRANSITIVE"
	Full               Level = "FULL"
	FullTransitive     Level = "FULL_TRANSITIVE"
)

// DefaultLevel is the global level until one is set.
const DefaultLevel = Backward

// parseLevel checks l; its errors wrap ErrInvalidCompatibility.
func parseLevel(l string) (Level, error) {
	switch v := Level(l); v {
	case None, Backward, BackwardTransitive, Forward, ForwardTransitive, Full, FullTransitive:
		return v, nil
	}
	return "", fmt.Errorf("%w: %q", ErrInvalidCompatibility, l)
}

func (l Level) transitive() bool {
	return l == BackwardTransitive || l == ForwardTransitive || l == FullTransitive
}

// single is l checked against one version.
func (l Level) single() Level {
	switch l {
	case BackwardTransitive:
		return Backward
	case ForwardTransitive:
		return Forward
	case FullTransitive:
		return Full
	}
	return l
}

// all is l checked against every version.
func (l Level) all() Level {
	switch l {
	case Backward:
		return BackwardTransitive
	case Forward:
		return ForwardTransitive
	case Full:
		return FullTransitive
	}
	return l
}

func (l Level) backward() bool {
	return l == Backward || l == BackwardTransitive || l == Full || l == FullTransitive
}

func (l Level) forward() bool {
	return l == Forward || l == ForwardTransitive || l == Full || l == FullTransitive
}

// checkLevel checks next against the live versions olds (oldest first)
// under level l and returns why it is incompatible (nil: compatible).
func checkLevel(l Level, next *compiled, olds []*compiled) []string {
	if l == None || len(olds) == 0 {
		return nil
	}
	if !l.transitive() {
		olds = olds[len(olds)-1:]
	}
	var why []string
	for _, old := range olds {
		if l.backward() {
			why = append(why, readable(next, old)...)
		}
		if l.forward() {
			why = append(why, readable(old, next)...)
		}
	}
	return why
}

// readable returns why reader cannot read everything writer accepts
// (nil: it can).
func readable(reader, writer *compiled) []string {
	if reader.typ != writer.typ {
		return []string{fmt.Sprintf("SCHEMA_TYPE_CHANGED: %s and %s", writer.typ, reader.typ)}
	}
	if reader.typ == JSON {
		return jsonReadable(reader.doc, writer.doc)
	}
	if err := avro.NewSchemaCompatibility().Compatible(reader.avro, writer.avro); err != nil {
		return []string{"avro: " + err.Error()}
	}
	return nil
}
