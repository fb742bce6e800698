package message

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Pattern is a compiled subscription or route pattern: topic segments
// separated by '.', where a segment "*" matches exactly one topic segment
// and a segment "**" matches zero or more segments, anywhere in the
// pattern. Every other segment matches itself.
//
// A Pattern is immutable and safe for concurrent use. The zero Pattern
// matches nothing.
type Pattern struct {
	src  string
	segs []patSeg
	// literal: no wildcard; Match is src == topic.
	literal bool
}

// patSeg is one segment of a Pattern.
type patSeg struct {
	kind segKind
	lit  string
}

type segKind uint8

const (
	segLit    segKind = iota // matches itself
	segOne                   // "*": exactly one segment
	segAnyNum                // "**": zero or more segments
)

// CompilePattern compiles p. The one parser for patterns in onexbus: the
// bus, its routes and onexbusd all use it, so `*` and `**` mean the same
// everywhere.
//
// A pattern without wildcards is a topic name and must pass ValidateTopic
// (so every valid topic, even one with empty segments like "a..b", can be
// subscribed to). A pattern with a wildcard is at most MaxTopicLen
// characters and each of its segments is "*", "**" or a non-empty run of
// [a-zA-Z0-9_-]. Errors wrap ErrInvalidPattern (and ErrInvalidTopic for
// a literal pattern) and name the rule broken: an empty segment, a
// segment mixing '*' with other characters (like "a*" or "***"), or an
// invalid character.
func CompilePattern(p string) (Pattern, error) {
	if !strings.Contains(p, "*") {
		if err := ValidateTopic(p); err != nil {
			return Pattern{}, fmt.Errorf("%w %q: %w", ErrInvalidPattern, quoteShort(p), err)
		}
		return Pattern{src: p, segs: []patSeg{{kind: segLit, lit: p}}, literal: true}, nil
	}
	if len(p) > MaxTopicLen {
		return Pattern{}, fmt.Errorf("%w %q: %d characters long, more than %d", ErrInvalidPattern, quoteShort(p), len(p), MaxTopicLen)
	}
	segs := make([]patSeg, 0, strings.Count(p, ".")+1)
	start := 0
	for i := 0; i <= len(p); i++ {
		if i < len(p) && p[i] != '.' {
			continue
		}
		s := p[start:i]
		switch {
		case s == "":
			return Pattern{}, fmt.Errorf("%w %q: empty segment at %d", ErrInvalidPattern, p, start)
		case s == "*":
			segs = append(segs, patSeg{kind: segOne})
		case s == "**":
			// "**.**" is the same as "**": keep one.
			if n := len(segs); n == 0 || segs[n-1].kind != segAnyNum {
				segs = append(segs, patSeg{kind: segAnyNum})
			}
		default:
			for j := 0; j < len(s); j++ {
				c := s[j]
				if c == '*' {
					return Pattern{}, fmt.Errorf("%w %q: segment %q at %d mixes '*' with other characters (a wildcard segment is exactly * or **)", ErrInvalidPattern, p, s, start)
				}
				if !topicChar(c) {
					r, _ := utf8.DecodeRuneInString(s[j:])
					return Pattern{}, fmt.Errorf("%w %q: character %q at %d is not one of [a-zA-Z0-9._-*]", ErrInvalidPattern, p, r, start+j)
				}
			}
			segs = append(segs, patSeg{kind: segLit, lit: s})
		}
		start = i + 1
	}
	return Pattern{src: p, segs: segs}, nil
}

// String returns the pattern as given to CompilePattern.
func (p Pattern) String() string { return p.src }

// Literal reports whether the pattern has no wildcard, so that it matches
// exactly one topic: String().
func (p Pattern) Literal() bool { return p.literal }

// Match reports whether topic matches the pattern. It does not validate
// topic and does not allocate. A topic's segments are the parts between
// dots, so "a." has the segments "a" and "".
func (p Pattern) Match(topic string) bool {
	if p.literal {
		return topic == p.src
	}
	if len(p.segs) == 0 {
		return false
	}
	// Classic glob matching over segments, with "*" as '?' and "**" as
	// '*': on a mismatch, backtrack to the last "**" and let it swallow
	// one more segment. A single backtrack point is enough because a
	// later "**" can absorb anything an earlier one would have.
	// pos is the byte offset of the current topic segment;
	// pos == len(topic)+1 means every segment is consumed.
	end := len(topic) + 1
	pos, pi := 0, 0
	starPi, starPos := -1, 0
	for pos < end {
		if pi < len(p.segs) {
			s := &p.segs[pi]
			switch s.kind {
			case segAnyNum:
				starPi, starPos = pi, pos
				pi++
				continue
			case segOne:
				pos = nextSeg(topic, pos)
				pi++
				continue
			case segLit:
				if next, ok := matchSeg(topic, pos, s.lit); ok {
					pos = next
					pi++
					continue
				}
			}
		}
		if starPi < 0 {
			return false
		}
		starPos = nextSeg(topic, starPos)
		pos, pi = starPos, starPi+1
	}
	for pi < len(p.segs) && p.segs[pi].kind == segAnyNum {
		pi++
	}
	return pi == len(p.segs)
}

// nextSeg returns the offset of the topic segment after the one at pos,
// or len(topic)+1 after the last.
func nextSeg(topic string, pos int) int {
	if i := strings.IndexByte(topic[pos:], '.'); i >= 0 {
		return pos + i + 1
	}
	return len(topic) + 1
}

// matchSeg reports whether the topic segment at pos is lit and returns the
// offset of the next segment.
func matchSeg(topic string, pos int, lit string) (int, bool) {
	rest := topic[pos:]
	if !strings.HasPrefix(rest, lit) {
		return 0, false
	}
	if len(rest) == len(lit) {
		return len(topic) + 1, true
	}
	if rest[len(lit)] != '.' {
		return 0, false
	}
	return pos + len(lit) + 1, true
}
