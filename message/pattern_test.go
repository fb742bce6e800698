package message

import (
	"errors"
	"strings"
	"testing"
)

// TestPatternMatch covers ACCEPTANCE 17: `*` matches one topic segment and
// `**` any number (zero included), anywhere in the pattern.
func TestPatternMatch(t *testing.T) {
	tests := []struct {
		pattern string
		match   []string
		noMatch []string
	}{
		{"orders", []string{"orders"}, []string{"orders.x", "order", "x.orders"}},
		{"a..b", []string{"a..b"}, []string{"a.b", "a.x.b"}},
		{"*", []string{"a", "orders"}, []string{"a.b"}},
		{"a.*", []string{"a.b", "a.c"}, []string{"a", "a.b.c", "b.a"}},
		{"*.b", []string{"a.b", "x.b"}, []string{"b", "a.b.c", "a.x"}},
		{"a.*.c", []string{"a.b.c", "a.x.c"}, []string{"a.c", "a.b.b.c", "a.b.d"}},
		{"**", []string{"a", "a.b", "a.b.c.d"}, nil},
		{"a.**", []string{"a", "a.b", "a.b.c"}, []string{"b", "ab", "b.a"}},
		{"**.c", []string{"c", "a.c", "a.b.c"}, []string{"a", "c.a", "ac"}},
		{"a.**.c", []string{"a.c", "a.b.c", "a.b.x.c", "a.c.c"}, []string{"a", "a.b", "c", "a.c.d"}},
		{"onex.evt.**", []string{"onex.evt.a.b.v1", "onex.evt"}, []string{"onex.cmd.a.b.v1"}},
		{"onex.*.orders.*.v1", []string{"onex.evt.orders.created.v1", "onex.cmd.orders.x.v1"}, []string{"onex.evt.orders.created.v2", "onex.evt.billing.x.v1"}},
		{"**.*", []string{"a", "a.b"}, nil},
		{"*.**.*", []string{"a.b", "a.b.c"}, []string{"a"}},
		{"**.a.**.b.**", []string{"a.b", "x.a.y.b.z", "a.a.b.b"}, []string{"b.a", "a", "ab"}},
		{"**.**", []string{"a", "a.b"}, nil},
		{"a.**.b.*", []string{"a.b.c", "a.x.b.c", "a.b.b.c"}, []string{"a.b", "a.c.b"}},
		{"*.*", []string{"a.b"}, []string{"a", "a.b.c"}},
	}
	for _, tt := range tests {
		t.Run(tt.pattern, func(t *testing.T) {
			p, err := CompilePattern(tt.pattern)
			if err != nil {
				t.Fatalf("CompilePattern(%q): %v", tt.pattern, err)
			}
			if p.String() != tt.pattern {
				t.Fatalf("String() = %q", p.String())
			}
			for _, topic := range tt.match {
				if !p.Match(topic) {
					t.Errorf("%q does not match %q", tt.pattern, topic)
				}
				if !refMatch(p.segs, splitTopic(topic)) && !p.literal {
					t.Errorf("reference matcher disagrees on %q", topic)
				}
			}
			for _, topic := range tt.noMatch {
				if p.Match(topic) {
					t.Errorf("%q matches %q", tt.pattern, topic)
				}
			}
		})
	}
}

func TestPatternLiteral(t *testing.T) {
	for pat, lit := range map[string]bool{"a.b": true, "orders": true, "a.*": false, "**": false} {
		p, err := CompilePattern(pat)
		if err != nil {
			t.Fatal(err)
		}
		if p.Literal() != lit {
			t.Errorf("%q.Literal() = %v", pat, p.Literal())
		}
	}
	var zero Pattern
	if zero.Match("a") || zero.Match("") || zero.Literal() {
		t.Fatal("zero Pattern matches")
	}
}

func TestCompilePatternErrors(t *testing.T) {
	tests := []struct {
		name, pattern, rule string
	}{
		{"empty", "", "empty (must be 1-255 characters)"},
		{"empty segment", "a..*", "empty segment at 2"},
		{"leading dot", ".*", "empty segment at 0"},
		{"trailing dot", "*.", "empty segment at 2"},
		{"star in segment", "a*", `segment "a*" at 0 mixes '*' with other characters`},
		{"triple star", "a.***", `segment "***" at 2 mixes`},
		{"star suffix", "*.b*", `segment "b*"`},
		{"space", "a b.*", `character ' ' at 1`},
		{"unicode", "é.*", `character 'é' at 0`},
		{"literal space", "a b", `character ' ' at 1`},
		{"literal dot", ".", `must not be "." or ".."`},
		{"too long", strings.Repeat("a.", 128) + "*", "257 characters long"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := CompilePattern(tt.pattern)
			if !errors.Is(err, ErrInvalidPattern) {
				t.Fatalf("CompilePattern(%q) = %v, want ErrInvalidPattern", tt.pattern, err)
			}
			if !strings.Contains(err.Error(), tt.rule) {
				t.Fatalf("CompilePattern(%q) = %q, want it to contain %q", tt.pattern, err, tt.rule)
			}
		})
	}
}

func TestPatternMatchAllocs(t *testing.T) {
	p, err := CompilePattern("onex.**.orders.*.v1")
	if err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() { p.Match("onex.evt.x.y.orders.created.v1") }); n != 0 {
		t.Fatalf("Match allocates %v times", n)
	}
}

func BenchmarkPatternMatch(b *testing.B) {
	for _, bc := range []struct{ name, pattern, topic string }{
		{"literal", "onex.evt.orders.created.v1", "onex.evt.orders.created.v1"},
		{"star", "onex.*.orders.*.v1", "onex.evt.orders.created.v1"},
		{"doublestar", "onex.**.v1", "onex.evt.orders.created.v1"},
		{"doublestar-miss", "**.a.**.b", "x.y.z.a.q.r.s.t.u.v.w"},
	} {
		p, err := CompilePattern(bc.pattern)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				p.Match(bc.topic)
			}
		})
	}
}

// splitTopic and refMatch are an obviously correct (exponential)
// reference matcher for the fuzz target.
func splitTopic(topic string) []string { return strings.Split(topic, ".") }

func refMatch(segs []patSeg, topic []string) bool {
	if len(segs) == 0 {
		return len(topic) == 0
	}
	switch segs[0].kind {
	case segAnyNum:
		for i := 0; i <= len(topic); i++ {
			if refMatch(segs[1:], topic[i:]) {
				return true
			}
		}
		return false
	case segOne:
		return len(topic) > 0 && refMatch(segs[1:], topic[1:])
	}
	return len(topic) > 0 && topic[0] == segs[0].lit && refMatch(segs[1:], topic[1:])
}

// FuzzCompilePattern checks that compiling never panics, that a compiled
// pattern re-compiles from its String, and that Match agrees with the
// reference matcher on a topic derived from the input.
func FuzzCompilePattern(f *testing.F) {
	f.Add("a.**.c", "a.b.c")
	f.Add("*.b", "a.b")
	f.Add("**.a.**.b.**", "x.a.y.b.z")
	f.Add("a*", "a")
	f.Add("a..b", "a..b")
	f.Fuzz(func(t *testing.T, pattern, topic string) {
		p, err := CompilePattern(pattern)
		if err != nil {
			if !errors.Is(err, ErrInvalidPattern) {
				t.Fatalf("error %v does not wrap ErrInvalidPattern", err)
			}
			return
		}
		q, err := CompilePattern(p.String())
		if err != nil || q.String() != p.String() || q.Literal() != p.Literal() {
			t.Fatalf("re-compiling %q: %v", p.String(), err)
		}
		if p.Literal() {
			if ValidateTopic(pattern) != nil || p.Match(topic) != (topic == pattern) {
				t.Fatalf("literal %q and topic %q", pattern, topic)
			}
			return
		}
		if len(topic) > 64 {
			topic = topic[:64] // keep the reference matcher quick
		}
		if got, want := p.Match(topic), refMatch(p.segs, splitTopic(topic)); got != want {
			t.Fatalf("%q.Match(%q) = %v, reference says %v", pattern, topic, got, want)
		}
	})
}
