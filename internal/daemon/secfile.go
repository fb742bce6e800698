package daemon

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"go.yaml.in/yaml/v3"
)

// Principals is what EditPrincipals hands its edit: the security.users,
// security.tokens and security.acls lists of a configuration file.
type Principals struct {
	Users  []UserConfig
	Tokens []TokenConfig
	ACLs   []ACLConfig
}

// EditPrincipals changes the principals of the configuration file at
// path safely: under an exclusive lock (path + ".lock", so concurrent
// editors, the CLI and the daemon's ACL persistence, serialize), it
// parses the file (a missing one is empty), runs edit on its users,
// tokens and rules, validates the result as a reload would, and replaces
// the file atomically: a temporary file in the same directory, written,
// fsync'd, renamed over path, and the directory fsync'd, so a crash
// leaves the old file or the new one, never half of either. Comments and
// every other setting are kept (the YAML is edited as a node tree); the
// file is written with mode 0600, as it holds credentials. An edit error
// or an invalid result writes nothing.
func EditPrincipals(path string, edit func(p *Principals) error) error {
	if path == "" {
		return fmt.Errorf("%w: no configuration file: give --config or ONEXBUS_CONFIG", ErrInvalidConfig)
	}
	unlock, err := lockFile(path + ".lock")
	if err != nil {
		return fmt.Errorf("onexbusd: lock %s: %w", path, err)
	}
	defer unlock()
	data, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("onexbusd: read %s: %w", path, err)
	}
	var doc yaml.Node
	if err := yaml.NewDecoder(bytes.NewReader(data)).Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: config file %s: %w", ErrInvalidConfig, path, err)
	}
	if doc.Kind == 0 {
		doc = yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{{Kind: yaml.MappingNode, Tag: "!!map"}}}
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return fmt.Errorf("%w: config file %s:%d: the top level is not a mapping of settings", ErrInvalidConfig, path, root.Line)
	}
	sec := mappingChild(root, "security")
	var cur SecurityConfig
	nodes := map[string]*yaml.Node{}
	for _, key := range []string{"users", "tokens", "acls"} {
		if n := lookupChild(sec, key); n != nil {
			nodes["security."+key] = n
		}
	}
	if errs := decodeStructured(path, nodes, &cur); len(errs) > 0 {
		return errors.Join(errs...)
	}
	p := &Principals{Users: cur.Users, Tokens: cur.Tokens, ACLs: cur.ACLs}
	if err := edit(p); err != nil {
		return err
	}
	next := SecurityConfig{Users: p.Users, Tokens: p.Tokens, ACLs: p.ACLs}
	if _, err := next.Snapshot(); err != nil {
		return err
	}
	for _, kv := range []struct {
		key string
		v   any
	}{{"users", p.Users}, {"tokens", p.Tokens}, {"acls", p.ACLs}} {
		var n yaml.Node
		if err := n.Encode(kv.v); err != nil {
			return fmt.Errorf("onexbusd: encode security.%s: %w", kv.key, err)
		}
		setChild(sec, kv.key, &n)
	}
	var out bytes.Buffer
	enc := yaml.NewEncoder(&out)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return fmt.Errorf("onexbusd: encode %s: %w", path, err)
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("onexbusd: encode %s: %w", path, err)
	}
	return writeAtomic(path, out.Bytes(), 0o600)
}

// lookupChild returns the value of key in mapping m, or nil.
func lookupChild(m *yaml.Node, key string) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// mappingChild returns the mapping under key in m, creating it (or
// turning a null into it).
func mappingChild(m *yaml.Node, key string) *yaml.Node {
	if n := lookupChild(m, key); n != nil {
		if n.Kind != yaml.MappingNode {
			*n = yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", HeadComment: n.HeadComment, LineComment: n.LineComment}
		}
		return n
	}
	n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}, n)
	return n
}

// setChild sets key in mapping m to v, keeping the comments of the value
// it replaces.
func setChild(m *yaml.Node, key string, v *yaml.Node) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			old := m.Content[i+1]
			v.HeadComment, v.LineComment, v.FootComment = old.HeadComment, old.LineComment, old.FootComment
			m.Content[i+1] = v
			return
		}
	}
	m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}, v)
}

// writeAtomic replaces path with data: a temporary file in the same
// directory, fsync'd, renamed over path, then the directory fsync'd so
// the rename itself is durable.
func writeAtomic(path string, data []byte, mode os.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("onexbusd: write %s: %w", path, err)
	}
	tmp := f.Name()
	fail := func(err error) error {
		_ = f.Close()      // already failing; the write error is the one to report
		_ = os.Remove(tmp) // best effort: a leftover temp file is harmless
		return fmt.Errorf("onexbusd: write %s: %w", path, err)
	}
	if err := f.Chmod(mode); err != nil {
		return fail(err)
	}
	if _, err := f.Write(data); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		_ = os.Remove(tmp) // best effort
		return fmt.Errorf("onexbusd: write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp) // best effort
		return fmt.Errorf("onexbusd: replace %s: %w", path, err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("onexbusd: sync dir %s: %w", dir, err)
	}
	if err := d.Sync(); err != nil {
		_ = d.Close() // the sync error is the one to report
		return fmt.Errorf("onexbusd: sync dir %s: %w", dir, err)
	}
	if err := d.Close(); err != nil {
		return fmt.Errorf("onexbusd: sync dir %s: %w", dir, err)
	}
	return nil
}
