package message

import (
	"errors"
	"strconv"
	"strings"
	"testing"
)

// TestValidateTopic covers ACCEPTANCE 9: 255 characters pass; 256, ".",
// "..", spaces, "@", unicode, newline and tab are rejected with an error
// naming the rule.
func TestValidateTopic(t *testing.T) {
	tests := []struct {
		name, topic string
		rule        string // substring of the error; "" means valid
	}{
		{"255 chars", strings.Repeat("a", 255), ""},
		{"one char", "a", ""},
		{"all classes", "Az09._-", ""},
		{"empty segments are Kafka-legal", "a..b", ""},
		{"leading dot", ".a", ""},
		{"256 chars", strings.Repeat("a", 256), "256 characters long, more than 255"},
		{"empty", "", "empty (must be 1-255 characters)"},
		{"dot", ".", `must not be "." or ".."`},
		{"dotdot", "..", `must not be "." or ".."`},
		{"space", "a b", `character ' ' at 1 is not one of [a-zA-Z0-9._-]`},
		{"at", "user@host", `character '@' at 4 is not one of [a-zA-Z0-9._-]`},
		{"unicode", "café", `character 'é' at 3 is not one of [a-zA-Z0-9._-]`},
		{"newline", "a\nb", `character '\n' at 1 is not one of`},
		{"tab", "a\tb", `character '\t' at 1 is not one of`},
		{"slash", "a/b", `character '/' at 1`},
		{"star", "a.*", `character '*' at 2`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := ValidateTopic(tt.topic)
			if tt.rule == "" {
				if err != nil {
					t.Fatalf("ValidateTopic(%q) = %v, want nil", tt.topic, err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidTopic) {
				t.Fatalf("ValidateTopic(%q) = %v, want ErrInvalidTopic", tt.topic, err)
			}
			if !strings.Contains(err.Error(), tt.rule) {
				t.Fatalf("ValidateTopic(%q) = %q, want it to name the rule %q", tt.topic, err, tt.rule)
			}
		})
	}
}

func TestValidateTopicMessage(t *testing.T) {
	err := ValidateTopic("a b")
	want := `onexbus: invalid topic "a b": character ' ' at 1 is not one of [a-zA-Z0-9._-]`
	if err == nil || err.Error() != want {
		t.Fatalf("got %v, want %s", err, want)
	}
}

func TestParseTopic(t *testing.T) {
	tests := []struct {
		name  string
		topic string
		want  Topic
	}{
		{"onex event", "onex.evt.platform.node-introspection.v1",
			Topic{Grammar: GrammarONEX, Category: CategoryEvent, Domain: "platform", EventName: "node-introspection", Version: 1}},
		{"onex command", "onex.cmd.orders.create_order.v12",
			Topic{Grammar: GrammarONEX, Category: CategoryCommand, Domain: "orders", EventName: "create_order", Version: 12}},
		{"onex intent", "onex.intent.a.b.v3",
			Topic{Grammar: GrammarONEX, Category: CategoryIntent, Domain: "a", EventName: "b", Version: 3}},
		{"onex dlq", "onex.dlq.a.b.v1",
			Topic{Grammar: GrammarONEX, Category: CategoryDeadLetter, Domain: "a", EventName: "b", Version: 1}},
		{"legacy env events", "prod.orders.events.v2",
			Topic{Grammar: GrammarLegacyEnv, Category: CategoryEvent, Env: "prod", Domain: "orders", Version: 2}},
		{"legacy env commands", "dev.billing.commands.v1",
			Topic{Grammar: GrammarLegacyEnv, Category: CategoryCommand, Env: "dev", Domain: "billing", Version: 1}},
		{"legacy env intents", "dev.billing.intents.v1",
			Topic{Grammar: GrammarLegacyEnv, Category: CategoryIntent, Env: "dev", Domain: "billing", Version: 1}},
		{"legacy onex", "onex.registry.events",
			Topic{Grammar: GrammarLegacyONEX, Category: CategoryEvent, Domain: "registry"}},
		{"legacy onex commands", "onex.registry.commands",
			Topic{Grammar: GrammarLegacyONEX, Category: CategoryCommand, Domain: "registry"}},
		{"plain", "orders", Topic{}},
		{"unknown kind", "onex.snapshot.a.b.v1", Topic{}},
		{"no version", "onex.evt.a.b.c", Topic{}},
		{"bad version", "onex.evt.a.b.vx", Topic{}},
		{"bare v", "onex.evt.a.b.v", Topic{}},
		{"version too long", "onex.evt.a.b.v1234567890", Topic{}},
		{"uppercase", "onex.EVT.a.b.v1", Topic{}},
		{"uppercase domain", "onex.evt.A.b.v1", Topic{}},
		{"empty domain", "onex.evt..b.v1", Topic{}},
		{"six segments", "onex.evt.a.b.c.v1", Topic{}},
		{"legacy singular", "prod.orders.event.v1", Topic{}},
		{"legacy onex with version", "onex.orders.events.v1",
			Topic{Grammar: GrammarLegacyEnv, Category: CategoryEvent, Env: "onex", Domain: "orders", Version: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseTopic(tt.topic)
			if err != nil {
				t.Fatalf("ParseTopic(%q): %v", tt.topic, err)
			}
			tt.want.Name = tt.topic
			if got != tt.want {
				t.Fatalf("ParseTopic(%q) = %+v, want %+v", tt.topic, got, tt.want)
			}
			if got.Conforms() != (tt.want.Grammar != GrammarNone) {
				t.Fatalf("Conforms() = %v", got.Conforms())
			}
		})
	}
	t.Run("invalid kafka name", func(t *testing.T) {
		if _, err := ParseTopic("onex.evt.a b.c.v1"); !errors.Is(err, ErrInvalidTopic) {
			t.Fatalf("got %v, want ErrInvalidTopic", err)
		}
	})
}

func TestParseTopicAllocs(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() { _, _ = ParseTopic("onex.evt.platform.node-introspection.v1") }); n != 0 {
		t.Fatalf("ParseTopic allocates %v times, want 0", n)
	}
}

func TestEnforcementCheck(t *testing.T) {
	const onex, plain, bad = "onex.evt.a.b.v1", "orders", "a b"
	tests := []struct {
		mode    Enforcement
		topic   string
		wantErr error
	}{
		{EnforceWarn, onex, nil},
		{EnforceWarn, plain, nil},
		{EnforceWarn, bad, ErrInvalidTopic},
		{EnforceReject, onex, nil},
		{EnforceReject, "prod.orders.events.v1", nil},
		{EnforceReject, plain, ErrNotONEXTopic},
		{EnforceReject, bad, ErrInvalidTopic},
		{EnforceOff, onex, nil},
		{EnforceOff, plain, nil},
		{EnforceOff, bad, ErrInvalidTopic},
	}
	for _, tt := range tests {
		t.Run(tt.mode.String()+"/"+tt.topic, func(t *testing.T) {
			got, err := tt.mode.Check(tt.topic)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("Check(%q) = %v, want %v", tt.topic, err, tt.wantErr)
			}
			if tt.wantErr == ErrNotONEXTopic && !strings.Contains(err.Error(), "onex.<evt|cmd|intent|dlq>.<domain>.<name>.v<N>") {
				t.Fatalf("error %q does not name the expected grammar", err)
			}
			if err == nil && got.Name != tt.topic {
				t.Fatalf("Check(%q).Name = %q", tt.topic, got.Name)
			}
			if tt.mode == EnforceWarn && tt.topic == plain && got.Conforms() {
				t.Fatal("plain topic conforms")
			}
		})
	}
	var zero Enforcement
	if zero != EnforceWarn {
		t.Fatal("zero Enforcement is not EnforceWarn")
	}
}

func TestParseEnums(t *testing.T) {
	for _, e := range []Enforcement{EnforceWarn, EnforceReject, EnforceOff} {
		t.Run("enforcement/"+e.String(), func(t *testing.T) {
			got, err := ParseEnforcement(strings.ToUpper(e.String()))
			if err != nil || got != e {
				t.Fatalf("ParseEnforcement(%q) = %v, %v", e, got, err)
			}
		})
	}
	if _, err := ParseEnforcement("loud"); err == nil {
		t.Fatal("ParseEnforcement(loud) succeeded")
	}
	for _, c := range []Category{CategoryNone, CategoryEvent, CategoryCommand, CategoryIntent, CategoryDeadLetter} {
		t.Run("category/"+c.String(), func(t *testing.T) {
			got, err := ParseCategory(c.String())
			if err != nil || got != c {
				t.Fatalf("ParseCategory(%q) = %v, %v", c, got, err)
			}
		})
	}
	wantStr := map[Category]string{CategoryEvent: "EVENT", CategoryCommand: "COMMAND", CategoryIntent: "INTENT", CategoryDeadLetter: "DLQ", CategoryNone: ""}
	for c, s := range wantStr {
		if c.String() != s {
			t.Errorf("%d.String() = %q, want %q", c, c.String(), s)
		}
	}
	if c, err := ParseCategory("evt"); err != nil || c != CategoryEvent {
		t.Fatalf("ParseCategory(evt) = %v, %v", c, err)
	}
	if _, err := ParseCategory("snapshot"); err == nil {
		t.Fatal("ParseCategory(snapshot) succeeded")
	}
}

// FuzzParseTopic checks that ParseTopic agrees with ValidateTopic, that a
// recognised grammar rebuilds the name from its parts, and that parsing
// never panics.
func FuzzParseTopic(f *testing.F) {
	for _, s := range []string{"onex.evt.a.b.v1", "prod.orders.events.v2", "onex.x.intents", "a b", ".", "..", "", strings.Repeat("x", 256), "onex.evt.a.b.v999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		tp, err := ParseTopic(name)
		if verr := ValidateTopic(name); (err == nil) != (verr == nil) {
			t.Fatalf("ParseTopic err %v, ValidateTopic err %v", err, verr)
		}
		if err != nil {
			if !errors.Is(err, ErrInvalidTopic) {
				t.Fatalf("error %v does not wrap ErrInvalidTopic", err)
			}
			return
		}
		if tp.Name != name {
			t.Fatalf("Name = %q", tp.Name)
		}
		var rebuilt string
		v := "v" + strconv.Itoa(tp.Version)
		switch tp.Grammar {
		case GrammarNone:
			if tp.Category != CategoryNone {
				t.Fatalf("category %v without grammar", tp.Category)
			}
			return
		case GrammarONEX:
			kind := map[Category]string{CategoryEvent: "evt", CategoryCommand: "cmd", CategoryIntent: "intent", CategoryDeadLetter: "dlq"}[tp.Category]
			rebuilt = "onex." + kind + "." + tp.Domain + "." + tp.EventName + "." + v
		case GrammarLegacyEnv:
			rebuilt = tp.Env + "." + tp.Domain + "." + strings.ToLower(tp.Category.String()) + "s." + v
		case GrammarLegacyONEX:
			rebuilt = "onex." + tp.Domain + "." + strings.ToLower(tp.Category.String()) + "s"
		}
		// The parts rebuild a name (modulo leading zeros in the version)
		// that parses to the same parts.
		p, err := ParseTopic(rebuilt)
		p.Name = name
		if err != nil || p != tp {
			t.Fatalf("ParseTopic(%q) = %+v; rebuilt %q parses to %+v, %v", name, tp, rebuilt, p, err)
		}
	})
}
