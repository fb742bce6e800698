package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	httpapi "github.com/onexbus/onexbus/transport/http"
)

// defaultURL is the daemon's HTTP API on its default address.
const defaultURL = "http://127.0.0.1:8080"

// errRemote is a problem the daemon answered.
var errRemote = errors.New("onexbusd")

// client talks to a daemon over its HTTP API.
type client struct {
	base   string
	token  string
	http   *http.Client
	out    io.Writer
	errOut io.Writer
	format string // table, json, jsonl or yaml
	tty    bool   // stdout is a terminal
	errTTY bool   // stderr is a terminal
}

// clientFlags adds the flags every client command takes.
func clientFlags(cmd *cobra.Command) {
	cmd.PersistentFlags().String("url", "", "the daemon's HTTP API (default: the current context's, else ONEXBUS_URL, else "+defaultURL+")")
	cmd.PersistentFlags().String("context", "", "a context saved with `onexbusd context add`")
	cmd.PersistentFlags().StringP("output", "o", "", "table, json, jsonl or yaml (default: table on a terminal, jsonl otherwise)")
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// newClient resolves the daemon to talk to: --url, else --context (or the
// current context), else ONEXBUS_URL, else the default address.
func newClient(cmd *cobra.Command, env *Env) (*client, error) {
	c := &client{http: &http.Client{}, out: env.Stdout, errOut: env.Stderr, tty: isTerminal(env.Stdout), errTTY: isTerminal(env.Stderr)}
	flag := func(name string) string {
		if f := cmd.Flag(name); f != nil {
			return f.Value.String()
		}
		return ""
	}
	c.base = flag("url")
	if c.base == "" {
		ctxs, err := loadContexts(env)
		if err != nil {
			return nil, err
		}
		name := flag("context")
		if name == "" {
			name = ctxs.Current
		}
		if name != "" {
			cc, ok := ctxs.Contexts[name]
			if !ok {
				return nil, fmt.Errorf("no context %q (onexbusd context list)", name)
			}
			c.base, c.token = cc.URL, cc.Token
		}
	}
	if c.base == "" {
		if v, ok := env.LookupEnv("ONEXBUS_URL"); ok {
			c.base = v
		}
	}
	if c.base == "" {
		c.base = defaultURL
	}
	if v, ok := env.LookupEnv("ONEXBUS_TOKEN"); ok && c.token == "" {
		c.token = v
	}
	if _, err := url.Parse(c.base); err != nil {
		return nil, fmt.Errorf("bad url %q: %w", c.base, err)
	}
	c.base = strings.TrimRight(c.base, "/")
	c.format = flag("output")
	switch c.format {
	case "":
		c.format = "jsonl"
		if c.tty {
			c.format = "table"
		}
	case "table", "json", "jsonl", "yaml":
	default:
		return nil, fmt.Errorf("-o %q is not table, json, jsonl or yaml", c.format)
	}
	return c, nil
}

// request sends a request and decodes a JSON answer into out (if not
// nil); a problem answer becomes an error with its code and detail.
func (c *client) request(ctx context.Context, method, path string, body, out any) error {
	resp, err := c.send(ctx, method, path, body, "application/json")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("decode the answer to %s %s: %w", method, path, err)
	}
	return nil
}

// send sends a request and returns a successful response (its body is
// the caller's to close).
func (c *client) send(ctx context.Context, method, path string, body any, contentType string) (*http.Response, error) {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, err
	}
	if rd != nil {
		req.Header.Set("Content-Type", contentType)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach onexbusd at %s: %w", c.base, err)
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		var p httpapi.Problem
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if json.Unmarshal(b, &p) == nil && p.Code != "" {
			return nil, fmt.Errorf("%w: %s (%s, %d)", errRemote, p.Detail, p.Code, p.Status)
		}
		return nil, fmt.Errorf("%w: %s %s answered %d: %s", errRemote, method, path, resp.StatusCode, bytes.TrimSpace(b))
	}
	return resp, nil
}

// emit prints v in the chosen format; rows renders the table form.
func (c *client) emit(v any, rows func(w *tableWriter)) error {
	switch c.format {
	case "json":
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(c.out, string(b))
		return err
	case "jsonl":
		return c.line(v)
	case "yaml":
		var generic any
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		if err := json.Unmarshal(b, &generic); err != nil {
			return err
		}
		return yaml.NewEncoder(c.out).Encode(generic)
	}
	tw := newTable(c.out)
	rows(tw)
	return tw.flush()
}

// line prints v as one JSON line.
func (c *client) line(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(c.out, string(b))
	return err
}

// contexts are saved daemons, in $XDG_CONFIG_HOME/onexbusd/contexts.yaml.
type contexts struct {
	Current  string                   `yaml:"current,omitempty"`
	Contexts map[string]contextTarget `yaml:"contexts"`
}

type contextTarget struct {
	URL   string `yaml:"url"`
	Token string `yaml:"token,omitempty"`
}

func contextsPath(env *Env) (string, error) {
	if v, ok := env.LookupEnv("ONEXBUS_CONTEXTS"); ok {
		return v, nil
	}
	dir, ok := env.LookupEnv("XDG_CONFIG_HOME")
	if !ok || dir == "" {
		home, hok := env.LookupEnv("HOME")
		if !hok || home == "" {
			return "", errors.New("neither XDG_CONFIG_HOME nor HOME is set: cannot find the contexts file (set ONEXBUS_CONTEXTS)")
		}
		dir = filepath.Join(home, ".config")
	}
	return filepath.Join(dir, "onexbusd", "contexts.yaml"), nil
}

func loadContexts(env *Env) (*contexts, error) {
	c := &contexts{Contexts: map[string]contextTarget{}}
	path, err := contextsPath(env)
	if err != nil {
		return c, nil // no place for contexts: none saved
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read contexts: %w", err)
	}
	if err := yaml.Unmarshal(b, c); err != nil {
		return nil, fmt.Errorf("contexts file %s: %w", path, err)
	}
	if c.Contexts == nil {
		c.Contexts = map[string]contextTarget{}
	}
	return c, nil
}

// save writes the contexts file atomically (temp file, fsync, rename),
// readable by its owner only: it may hold tokens.
func (c *contexts) save(env *Env) error {
	path, err := contextsPath(env)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	b, err := yaml.Marshal(c)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".contexts-*.yaml")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// readLines calls fn with each line of r (without its newline).
func readLines(r io.Reader, fn func(string) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 64<<20)
	for sc.Scan() {
		if err := fn(sc.Text()); err != nil {
			return err
		}
	}
	return sc.Err()
}

// timeOrZero parses an RFC 3339 time, "" being zero.
func timeOrZero(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return t, fmt.Errorf("%q is not an RFC 3339 time: %w", s, err)
	}
	return t, nil
}
