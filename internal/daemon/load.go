package daemon

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"

	"github.com/onexbus/onexbus/transport/kafka"
)

// SourceKind is the layer a setting's value came from.
type SourceKind uint8

// Layers, in increasing precedence.
const (
	SourceDefault SourceKind = iota
	SourceFile
	SourceEnv
	SourceFlag
)

// Source says where a setting's value came from.
type Source struct {
	// Kind is the layer.
	Kind SourceKind
	// Where is the flag (--kafka-addr), the variable (ONEXBUS_KAFKA_ADDR)
	// or the file and line (/etc/onexbusd.yaml:12); empty for a default.
	Where string
}

// String is "default", "flag --x", "env X" or "file f.yaml:3".
func (s Source) String() string {
	switch s.Kind {
	case SourceFlag:
		return "flag " + s.Where
	case SourceEnv:
		return "env " + s.Where
	case SourceFile:
		return "file " + s.Where
	}
	return "default"
}

// Value is one setting's effective value and its origin.
type Value struct {
	Setting
	// Text is the value as given (or the default); see Shown for printing.
	Text string
	// Source is where Text came from.
	Source Source
}

// Redacted is what secrets print as.
const Redacted = "<redacted>"

// Shown is Text, or Redacted for a secret that is set.
func (v Value) Shown() string {
	if v.Secret && v.Text != "" {
		return Redacted
	}
	return v.Text
}

// Layers are the inputs of Load besides the defaults.
type Layers struct {
	// Flags holds the setting flags (see AddFlags); only the flags given
	// on the command line (Changed) count. Nil: none.
	Flags *pflag.FlagSet
	// LookupEnv reads the environment (os.LookupEnv); a variable set to
	// the empty string counts as unset. Nil: none.
	LookupEnv func(string) (string, bool)
	// File is the YAML file; empty: none.
	File string
}

// Loaded is a configuration with where each value came from.
type Loaded struct {
	// Config is the parsed, validated configuration.
	Config Config
	// Values has one entry per setting, in table order.
	Values []Value
	// File is the YAML file read, if any.
	File string
}

// Value returns the entry of the setting named name (its YAML path).
func (l *Loaded) Value(name string) (Value, bool) {
	for _, v := range l.Values {
		if v.Name == name {
			return v, true
		}
	}
	return Value{}, false
}

// AddFlags registers one flag per setting on fs (all as text, parsed by
// Load; a boolean setting's flag alone means true).
func AddFlags(fs *pflag.FlagSet) {
	for _, s := range settings {
		if s.flag == "" || fs.Lookup(s.flag) != nil {
			continue
		}
		help := s.help + " (env " + s.env + ")"
		fs.String(s.flag, s.def, help)
		if s.boolean {
			fs.Lookup(s.flag).NoOptDefVal = "true"
		}
	}
}

// Load builds the configuration: defaults, overridden by the YAML file,
// overridden by the environment, overridden by flags. Every problem is
// reported at once (errors.Join), each wrapping ErrInvalidConfig and
// naming the setting, its variable and where the bad value came from; an
// unknown YAML key is an error with its line. The returned Loaded is
// non-nil whenever the file could be read, so that `config print` can
// show what was understood.
func Load(l Layers) (*Loaded, error) {
	out := &Loaded{File: l.File, Values: make([]Value, len(settings))}
	for i, s := range settings {
		out.Values[i] = Value{Setting: Settings()[i], Text: s.def}
	}
	var errs []error
	var nodes map[string]*yaml.Node
	if l.File != "" {
		vals, n, ferrs := readYAMLFile(l.File)
		nodes = n
		errs = append(errs, ferrs...)
		for i, s := range settings {
			if v, ok := vals[s.name]; ok {
				out.Values[i].Text, out.Values[i].Source = v.text, Source{SourceFile, fmt.Sprintf("%s:%d", l.File, v.line)}
			}
		}
	}
	if l.LookupEnv != nil {
		for i, s := range settings {
			if v, ok := l.LookupEnv(s.env); ok && v != "" && s.env != "" {
				out.Values[i].Text, out.Values[i].Source = v, Source{SourceEnv, s.env}
			}
		}
	}
	if l.Flags != nil {
		for i, s := range settings {
			if f := l.Flags.Lookup(s.flag); s.flag != "" && f != nil && f.Changed {
				out.Values[i].Text, out.Values[i].Source = f.Value.String(), Source{SourceFlag, "--" + s.flag}
			}
		}
	}
	var c Config
	upstream := map[string]string{}
	where := map[string]Value{}
	for i, s := range settings {
		v := out.Values[i]
		if s.upstream {
			if v.Source.Kind != SourceDefault {
				upstream[s.env] = v.Text
				where[s.env] = v
			}
			continue
		}
		if err := s.set(&c, v.Text); err != nil {
			errs = append(errs, valueError(v, err))
		}
	}
	up, err := kafka.LoadEnv(func(name string) string { return upstream[name] })
	c.Upstream = up
	errs = append(errs, upstreamErrors(err, where)...)
	errs = append(errs, decodeStructured(l.File, nodes, &c.Security)...)
	for _, st := range structuredSettings {
		v := Value{Setting: st, Text: c.Security.summary(st.Name)}
		if n, ok := nodes[st.Name]; ok {
			v.Source = Source{SourceFile, fmt.Sprintf("%s:%d", l.File, n.Line)}
		}
		out.Values = append(out.Values, v)
	}
	if err := c.validate(); err != nil {
		errs = append(errs, err)
	}
	out.Config = c
	return out, errors.Join(errs...)
}

// valueError names the setting, its variable and the value's origin.
func valueError(v Value, err error) error {
	return fmt.Errorf("%w: %s (%s, %s): %w", ErrInvalidConfig, v.Name, v.Env, v.Source, err)
}

// upstreamErrors splits transport/kafka's joined error and puts the
// setting name and origin in front of each part that names a variable.
func upstreamErrors(err error, where map[string]Value) []error {
	if err == nil {
		return nil
	}
	var parts []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		parts = j.Unwrap()
	} else {
		parts = []error{err}
	}
	out := make([]error, 0, len(parts))
	for _, p := range parts {
		msg := p.Error()
		name, src := "upstream", "default"
		for _, s := range settings {
			if s.upstream && strings.Contains(msg, s.env+":") {
				name = s.name
				if v, ok := where[s.env]; ok {
					src = v.Source.String()
				}
				break
			}
		}
		out = append(out, fmt.Errorf("%w: %s (%s): %w", ErrInvalidConfig, name, src, p))
	}
	return out
}

type yamlValue struct {
	text string
	line int
}

// readYAML reads the settings of a YAML file: nested mappings whose
// dotted paths are setting names; a leaf is a scalar or a list of scalars
// (joined with commas). Unknown keys and other shapes are errors with
// their line.
func readYAML(path string) (map[string]yamlValue, []error) {
	vals, _, errs := readYAMLFile(path)
	return vals, errs
}

// readYAMLFile is readYAML that also returns the structured settings'
// nodes (security.users, tokens, acls) by name.
func readYAMLFile(path string) (map[string]yamlValue, map[string]*yaml.Node, []error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, []error{fmt.Errorf("%w: read config file: %w", ErrInvalidConfig, err)}
	}
	var doc yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil, nil // an empty file sets nothing
		}
		return nil, nil, []error{fmt.Errorf("%w: config file %s: %w", ErrInvalidConfig, path, err)}
	}
	if len(doc.Content) == 0 {
		return nil, nil, nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, nil, []error{fmt.Errorf("%w: config file %s:%d: the top level is not a mapping of settings", ErrInvalidConfig, path, root.Line)}
	}
	known := map[string]bool{}
	sections := map[string]bool{}
	structured := map[string]bool{}
	for _, s := range structuredSettings {
		structured[s.Name] = true
	}
	nodes := map[string]*yaml.Node{}
	names := make([]string, 0, len(settings)+len(structuredSettings))
	for _, s := range settings {
		known[s.name] = true
		names = append(names, s.name)
	}
	for _, s := range structuredSettings {
		names = append(names, s.Name)
	}
	for _, name := range names {
		parts := strings.Split(name, ".")
		for i := 1; i < len(parts); i++ {
			sections[strings.Join(parts[:i], ".")] = true
		}
	}
	vals := map[string]yamlValue{}
	var errs []error
	bad := func(n *yaml.Node, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: %s:%d: %s", ErrInvalidConfig, path, n.Line, fmt.Sprintf(format, args...)))
	}
	var walk func(prefix string, m *yaml.Node)
	walk = func(prefix string, m *yaml.Node) {
		for i := 0; i+1 < len(m.Content); i += 2 {
			k, v := m.Content[i], m.Content[i+1]
			name := prefix + k.Value
			switch {
			case structured[name]:
				if _, dup := nodes[name]; dup {
					bad(k, "%s given twice", name)
					continue
				}
				if v.Kind != yaml.SequenceNode && !(v.Kind == yaml.ScalarNode && v.Tag == "!!null") {
					bad(k, "%s must be a list of mappings", name)
					continue
				}
				nodes[name] = v
			case known[name]:
				if _, dup := vals[name]; dup {
					bad(k, "%s given twice", name)
					continue
				}
				switch v.Kind {
				case yaml.ScalarNode:
					vals[name] = yamlValue{v.Value, k.Line}
				case yaml.SequenceNode:
					items := make([]string, 0, len(v.Content))
					ok := true
					for _, it := range v.Content {
						if it.Kind != yaml.ScalarNode {
							bad(it, "%s: list items must be scalars", name)
							ok = false
							break
						}
						items = append(items, it.Value)
					}
					if ok {
						vals[name] = yamlValue{strings.Join(items, ","), k.Line}
					}
				default:
					bad(k, "%s must be a value or a list of values", name)
				}
			case sections[name] && v.Kind == yaml.MappingNode:
				walk(name+".", v)
			case sections[name]:
				bad(k, "%s is a section: give a mapping of its settings", name)
			default:
				bad(k, "unknown key %q", name)
			}
		}
	}
	walk("", root)
	return vals, nodes, errs
}
