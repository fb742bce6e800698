package message

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// MaxTopicLen is the longest topic name Kafka (and so onexbus) accepts.
const MaxTopicLen = 255

// ValidateTopic reports whether name follows Kafka's topic name rules: 1 to
// MaxTopicLen characters of [a-zA-Z0-9._-], and neither "." nor "..".
//
// The error wraps ErrInvalidTopic and names the rule broken, for example
//
//	onexbus: invalid topic "a b": character ' ' at 1 is not one of [a-zA-Z0-9._-]
//
// Positions are byte offsets. ValidateTopic does not allocate when name is
// valid.
func ValidateTopic(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w %q: empty (must be 1-%d characters)", ErrInvalidTopic, name, MaxTopicLen)
	case len(name) > MaxTopicLen:
		return fmt.Errorf("%w %q: %d characters long, more than %d", ErrInvalidTopic, quoteShort(name), len(name), MaxTopicLen)
	case name == "." || name == "..":
		return fmt.Errorf("%w %q: must not be \".\" or \"..\"", ErrInvalidTopic, name)
	}
	for i := 0; i < len(name); i++ {
		if !topicChar(name[i]) {
			r, _ := utf8.DecodeRuneInString(name[i:])
			return fmt.Errorf("%w %q: character %q at %d is not one of [a-zA-Z0-9._-]", ErrInvalidTopic, quoteShort(name), r, i)
		}
	}
	return nil
}

// topicChar reports whether c may appear in a Kafka topic name.
func topicChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-'
}

// quoteShort shortens s for an error message so that a 10 kB name does
// not make a 10 kB error.
func quoteShort(s string) string {
	const max = 64
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}

// Category is the kind of message a topic carries, derived from its name.
type Category uint8

// Categories. CategoryNone is the category of a topic outside the ONEX
// grammar.
const (
	CategoryNone Category = iota
	CategoryEvent
	CategoryCommand
	CategoryIntent
	CategoryDeadLetter
)

// String returns EVENT, COMMAND, INTENT, DLQ, or "" for CategoryNone.
func (c Category) String() string {
	switch c {
	case CategoryNone:
		return ""
	case CategoryEvent:
		return "EVENT"
	case CategoryCommand:
		return "COMMAND"
	case CategoryIntent:
		return "INTENT"
	case CategoryDeadLetter:
		return "DLQ"
	}
	return fmt.Sprintf("Category(%d)", uint8(c))
}

// ParseCategory parses the String form of a Category, case-insensitively;
// it also accepts the topic grammar's words (evt, cmd, intent, dlq,
// events, commands, intents). The empty string is CategoryNone. Any other
// text is an error.
func ParseCategory(s string) (Category, error) {
	switch strings.ToLower(s) {
	case "":
		return CategoryNone, nil
	case "event", "evt", "events":
		return CategoryEvent, nil
	case "command", "cmd", "commands":
		return CategoryCommand, nil
	case "intent", "intents":
		return CategoryIntent, nil
	case "dlq":
		return CategoryDeadLetter, nil
	}
	return CategoryNone, fmt.Errorf("onexbus: unknown category %q (want EVENT, COMMAND, INTENT or DLQ)", s)
}

// Grammar names the topic grammar a topic name follows.
type Grammar uint8

// Grammars.
const (
	// GrammarNone: a valid Kafka name that follows no ONEX grammar.
	GrammarNone Grammar = iota
	// GrammarONEX: onex.<evt|cmd|intent|dlq>.<domain>.<name>.v<N>.
	GrammarONEX
	// GrammarLegacyEnv: <env>.<domain>.<events|commands|intents>.v<N>.
	GrammarLegacyEnv
	// GrammarLegacyONEX: onex.<domain>.<events|commands|intents>.
	GrammarLegacyONEX
)

// String returns none, onex, legacy-env or legacy-onex.
func (g Grammar) String() string {
	switch g {
	case GrammarNone:
		return "none"
	case GrammarONEX:
		return "onex"
	case GrammarLegacyEnv:
		return "legacy-env"
	case GrammarLegacyONEX:
		return "legacy-onex"
	}
	return fmt.Sprintf("Grammar(%d)", uint8(g))
}

// ONEXGrammar describes the topic grammars ParseTopic recognises, for
// messages to humans.
const ONEXGrammar = "onex.<evt|cmd|intent|dlq>.<domain>.<name>.v<N> " +
	"(or the older <env>.<domain>.<events|commands|intents>.v<N> and onex.<domain>.<events|commands|intents>)"

// Topic is a parsed topic name. The string fields are substrings of Name.
type Topic struct {
	// Name is the whole topic name.
	Name string
	// Grammar is the grammar Name follows; GrammarNone when none.
	Grammar Grammar
	// Category is derived from the grammar's kind segment.
	Category Category
	// Env is the environment segment of GrammarLegacyEnv.
	Env string
	// Domain is the domain segment.
	Domain string
	// EventName is the name segment of GrammarONEX.
	EventName string
	// Version is the N of the v<N> segment; 0 when the grammar has none.
	Version int
}

// Conforms reports whether the topic follows one of the ONEX grammars
// (GrammarONEX or a legacy one).
func (t Topic) Conforms() bool { return t.Grammar != GrammarNone }

// ParseTopic validates name with ValidateTopic (errors wrap
// ErrInvalidTopic), then recognises the ONEX grammars:
//
//	onex.<evt|cmd|intent|dlq>.<domain>.<name>.v<N>     GrammarONEX
//	<env>.<domain>.<events|commands|intents>.v<N>      GrammarLegacyEnv
//	onex.<domain>.<events|commands|intents>            GrammarLegacyONEX
//
// where <env>, <domain> and <name> are non-empty runs of [a-z0-9_-] and
// <N> is 1 to 9 decimal digits. The grammars are case-sensitive. A valid
// Kafka name that matches none has Grammar GrammarNone and no error.
// ParseTopic does not allocate when name is valid.
func ParseTopic(name string) (Topic, error) {
	if err := ValidateTopic(name); err != nil {
		return Topic{}, err
	}
	t := Topic{Name: name}
	var seg [5]string
	n := 0
	for rest := name; ; n++ {
		if n == len(seg) {
			return t, nil // more than 5 segments: no grammar has that many
		}
		i := strings.IndexByte(rest, '.')
		if i < 0 {
			seg[n] = rest
			n++
			break
		}
		seg[n], rest = rest[:i], rest[i+1:]
	}
	switch n {
	case 5:
		if seg[0] != "onex" || !grammarWord(seg[2]) || !grammarWord(seg[3]) {
			return t, nil
		}
		v, ok := parseVersion(seg[4])
		if !ok {
			return t, nil
		}
		switch seg[1] {
		case "evt":
			t.Category = CategoryEvent
		case "cmd":
			t.Category = CategoryCommand
		case "intent":
			t.Category = CategoryIntent
		case "dlq":
			t.Category = CategoryDeadLetter
		default:
			return t, nil
		}
		t.Grammar, t.Domain, t.EventName, t.Version = GrammarONEX, seg[2], seg[3], v
	case 4:
		c := pluralCategory(seg[2])
		v, ok := parseVersion(seg[3])
		if c == CategoryNone || !ok || !grammarWord(seg[0]) || !grammarWord(seg[1]) {
			return t, nil
		}
		t.Grammar, t.Category, t.Env, t.Domain, t.Version = GrammarLegacyEnv, c, seg[0], seg[1], v
	case 3:
		c := pluralCategory(seg[2])
		if seg[0] != "onex" || c == CategoryNone || !grammarWord(seg[1]) {
			return t, nil
		}
		t.Grammar, t.Category, t.Domain = GrammarLegacyONEX, c, seg[1]
	}
	return t, nil
}

// pluralCategory maps the legacy grammars' kind segment to a Category.
func pluralCategory(s string) Category {
	switch s {
	case "events":
		return CategoryEvent
	case "commands":
		return CategoryCommand
	case "intents":
		return CategoryIntent
	}
	return CategoryNone
}

// grammarWord reports whether s is a non-empty run of [a-z0-9_-].
func grammarWord(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// parseVersion parses "v<N>" with N of 1 to 9 digits.
func parseVersion(s string) (int, bool) {
	if len(s) < 2 || len(s) > 10 || s[0] != 'v' {
		return 0, false
	}
	v := 0
	for i := 1; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	return v, true
}

// Enforcement says what happens to a topic that breaks the ONEX grammar.
// Kafka's name rules are enforced in every mode.
type Enforcement uint8

// Enforcement modes. The zero value is EnforceWarn, the default.
const (
	// EnforceWarn accepts a non-ONEX topic; the caller logs a warning.
	EnforceWarn Enforcement = iota
	// EnforceReject refuses a non-ONEX topic with ErrNotONEXTopic.
	EnforceReject
	// EnforceOff does not check the grammar.
	EnforceOff
)

// String returns warn, reject or off.
func (e Enforcement) String() string {
	switch e {
	case EnforceWarn:
		return "warn"
	case EnforceReject:
		return "reject"
	case EnforceOff:
		return "off"
	}
	return fmt.Sprintf("Enforcement(%d)", uint8(e))
}

// ParseEnforcement parses warn, reject or off, case-insensitively.
func ParseEnforcement(s string) (Enforcement, error) {
	switch strings.ToLower(s) {
	case "warn":
		return EnforceWarn, nil
	case "reject":
		return EnforceReject, nil
	case "off":
		return EnforceOff, nil
	}
	return EnforceWarn, fmt.Errorf("onexbus: unknown topic enforcement %q (want warn, reject or off)", s)
}

// Check parses name with ParseTopic and applies the mode:
//
//   - in every mode, a name that breaks Kafka's rules is an error wrapping
//     ErrInvalidTopic;
//   - EnforceReject: a name that follows no ONEX grammar (Topic.Conforms
//     false) is an error wrapping ErrNotONEXTopic that names the expected
//     grammar;
//   - EnforceWarn: the Topic and nil; the caller logs when
//     !Topic.Conforms();
//   - EnforceOff: the Topic and nil.
//
// An unknown mode is treated as EnforceWarn.
func (e Enforcement) Check(name string) (Topic, error) {
	t, err := ParseTopic(name)
	if err != nil {
		return Topic{}, err
	}
	if e == EnforceReject && !t.Conforms() {
		return t, fmt.Errorf("%w: %q, expected %s", ErrNotONEXTopic, name, ONEXGrammar)
	}
	return t, nil
}
