package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	httpapi "github.com/onexbus/onexbus/transport/http"
)

func topicCmd(env *Env) *cobra.Command {
	cmd := &cobra.Command{Use: "topic", Short: "List, create, describe and delete topics"}
	var pattern string
	list := &cobra.Command{Use: "list", Short: "List topics", Args: cobra.NoArgs,
		RunE: runClient(env, func(ctx context.Context, c *client, _ *cobra.Command, _ []string) error {
			var all []httpapi.TopicSummary
			for tok := ""; ; {
				var page httpapi.TopicList
				q := "/v1/topics?page_size=1000&pattern=" + url.QueryEscape(pattern) + "&page_token=" + url.QueryEscape(tok)
				if err := c.request(ctx, "GET", q, nil, &page); err != nil {
					return err
				}
				all = append(all, page.Topics...)
				if tok = page.NextPageToken; tok == "" {
					break
				}
			}
			if c.format == "jsonl" {
				for _, t := range all {
					if err := c.line(t); err != nil {
						return err
					}
				}
				return nil
			}
			return c.emit(all, func(w *tableWriter) {
				w.row("TOPIC", "PARTITIONS", "MESSAGES", "CATEGORY")
				for _, t := range all {
					w.row(t.Name, t.Partitions, t.Messages, t.Category)
				}
			})
		})}
	list.Flags().StringVar(&pattern, "pattern", "", "only topics matching (* one segment, ** any)")
	var partitions int32
	var retention string
	create := &cobra.Command{Use: "create TOPIC", Short: "Create a topic", Args: cobra.ExactArgs(1),
		RunE: runClient(env, func(ctx context.Context, c *client, _ *cobra.Command, args []string) error {
			body := map[string]any{"name": args[0], "partitions": partitions}
			if retention != "" {
				body["retention"] = map[string]any{"max_age": retention}
			}
			var d httpapi.TopicDetail
			if err := c.request(ctx, "POST", "/v1/topics", body, &d); err != nil {
				return err
			}
			return c.emit(d, func(w *tableWriter) { w.row("created", d.Name, d.Partitions, "partitions") })
		})}
	create.Flags().Int32VarP(&partitions, "partitions", "p", 0, "partitions (default: the daemon's)")
	create.Flags().StringVar(&retention, "retention", "", "keep messages this long (Go duration, e.g. 168h)")
	describe := &cobra.Command{Use: "describe TOPIC", Short: "A topic with its partitions", Args: cobra.ExactArgs(1),
		RunE: runClient(env, func(ctx context.Context, c *client, _ *cobra.Command, args []string) error {
			var d httpapi.TopicDetail
			if err := c.request(ctx, "GET", "/v1/topics/"+url.PathEscape(args[0]), nil, &d); err != nil {
				return err
			}
			return c.emit(d, func(w *tableWriter) {
				w.row("PARTITION", "START", "END", "MESSAGES", "BYTES")
				for _, p := range d.PartitionSet {
					w.row(p.Partition, p.StartOffset, p.EndOffset, p.Messages, p.Bytes)
				}
			})
		})}
	del := &cobra.Command{Use: "delete TOPIC", Short: "Delete a topic and its messages", Args: cobra.ExactArgs(1),
		RunE: runClient(env, func(ctx context.Context, c *client, _ *cobra.Command, args []string) error {
			return c.request(ctx, "DELETE", "/v1/topics/"+url.PathEscape(args[0]), nil, nil)
		})}
	cmd.AddCommand(list, create, describe, del)
	return cmd
}

func groupCmd(env *Env) *cobra.Command {
	cmd := &cobra.Command{Use: "group", Short: "Consumer groups: list, describe with lag, seek"}
	list := &cobra.Command{Use: "list", Short: "List consumer groups", Args: cobra.NoArgs,
		RunE: runClient(env, func(ctx context.Context, c *client, _ *cobra.Command, _ []string) error {
			var gl httpapi.GroupList
			if err := c.request(ctx, "GET", "/v1/groups", nil, &gl); err != nil {
				return err
			}
			if c.format == "jsonl" {
				for _, g := range gl.Groups {
					if err := c.line(g); err != nil {
						return err
					}
				}
				return nil
			}
			return c.emit(gl.Groups, func(w *tableWriter) {
				w.row("GROUP", "STATE", "MEMBERS", "KIND")
				for _, g := range gl.Groups {
					w.row(g.Name, g.State, g.Members, g.Kind)
				}
			})
		})}
	describe := &cobra.Command{Use: "describe GROUP", Short: "A group's members and lag (messages and seconds)", Args: cobra.ExactArgs(1),
		RunE: runClient(env, func(ctx context.Context, c *client, _ *cobra.Command, args []string) error {
			var d httpapi.GroupDetail
			if err := c.request(ctx, "GET", "/v1/groups/"+url.PathEscape(args[0]), nil, &d); err != nil {
				return err
			}
			return c.emit(d, func(w *tableWriter) {
				w.row("TOPIC", "PARTITION", "COMMITTED", "END", "LAG", "LAG SECONDS")
				for _, p := range d.Lag.Partitions {
					w.row(p.Topic, p.Partition, p.Committed, p.EndOffset, p.Lag, fmt.Sprintf("%.1f", p.LagSeconds))
				}
			})
		})}
	var to, at string
	var offsets []string
	var execute bool
	seek := &cobra.Command{Use: "seek GROUP TOPIC", Short: "Move a stopped group forward (a dry run unless --execute)", Args: cobra.ExactArgs(2),
		RunE: runClient(env, func(ctx context.Context, c *client, _ *cobra.Command, args []string) error {
			body := map[string]any{"topic": args[1], "to": to, "dry_run": !execute}
			switch to {
			case "timestamp":
				t, err := timeOrZero(at)
				if err != nil || t.IsZero() {
					return fmt.Errorf("--to timestamp needs --at RFC3339-time")
				}
				body["timestamp"] = t
			case "offsets":
				m := map[string]int64{}
				for _, po := range offsets {
					p, o, ok := strings.Cut(po, "=")
					n, err := strconv.ParseInt(o, 10, 64)
					if !ok || err != nil {
						return fmt.Errorf("--offset %q is not partition=offset", po)
					}
					m[p] = n
				}
				body["offsets"] = m
			}
			var res httpapi.SeekResult
			if err := c.request(ctx, "POST", "/v1/groups/"+url.PathEscape(args[0])+"/offsets:seek", body, &res); err != nil {
				return err
			}
			return c.emit(res, func(w *tableWriter) {
				if res.DryRun {
					w.row("# dry run: nothing moved; --execute to move")
				}
				w.row("PARTITION", "FROM", "TO", "SKIPPED")
				for _, p := range res.Partitions {
					w.row(p.Partition, p.From, p.To, p.Skipped)
				}
			})
		})}
	seek.Flags().StringVar(&to, "to", "latest", "latest, timestamp or offsets")
	seek.Flags().StringVar(&at, "at", "", "with --to timestamp: RFC 3339 time")
	seek.Flags().StringArrayVar(&offsets, "offset", nil, "with --to offsets: partition=offset (repeatable)")
	seek.Flags().BoolVar(&execute, "execute", false, "move the group (default: a dry run)")
	cmd.AddCommand(list, describe, seek)
	return cmd
}

func breakerCmd(env *Env) *cobra.Command {
	cmd := &cobra.Command{Use: "breaker", Short: "Circuit breakers: list, reset"}
	list := &cobra.Command{Use: "list", Short: "Every subscriber's breaker in its real state", Args: cobra.NoArgs,
		RunE: runClient(env, func(ctx context.Context, c *client, _ *cobra.Command, _ []string) error {
			var bl httpapi.BreakerList
			if err := c.request(ctx, "GET", "/v1/breakers", nil, &bl); err != nil {
				return err
			}
			if c.format == "jsonl" {
				for _, b := range bl.Breakers {
					if err := c.line(b); err != nil {
						return err
					}
				}
				return nil
			}
			return c.emit(bl.Breakers, func(w *tableWriter) {
				w.row("TOPIC", "GROUP", "STATE", "FAILURES", "OPENS")
				for _, b := range bl.Breakers {
					w.row(b.Topic, b.Group, b.State, b.Failures, b.Opens)
				}
			})
		})}
	reset := &cobra.Command{Use: "reset GROUP TOPIC", Short: "Close a breaker by hand", Args: cobra.ExactArgs(2),
		RunE: runClient(env, func(ctx context.Context, c *client, _ *cobra.Command, args []string) error {
			var r httpapi.ResetResult
			if err := c.request(ctx, "POST", "/v1/groups/"+url.PathEscape(args[0])+"/topics/"+url.PathEscape(args[1])+"/breaker:reset", nil, &r); err != nil {
				return err
			}
			return c.emit(r, func(w *tableWriter) {
				if r.Reset {
					w.row("reset: the breaker was open and is closed")
				} else {
					w.row("nothing to reset: the breaker was closed")
				}
			})
		})}
	cmd.AddCommand(list, reset)
	return cmd
}

func contextCmd(env *Env) *cobra.Command {
	cmd := &cobra.Command{Use: "context", Short: "Saved daemons the client commands talk to"}
	var u, token string
	add := &cobra.Command{Use: "add NAME", Short: "Save a daemon (and make it current if none is)", Args: cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			if _, err := url.ParseRequestURI(u); err != nil || u == "" {
				return fail(ExitConfig, fmt.Errorf("--url %q is not a URL", u))
			}
			c, err := loadContexts(env)
			if err != nil {
				return fail(ExitError, err)
			}
			c.Contexts[args[0]] = contextTarget{URL: u, Token: token}
			if c.Current == "" {
				c.Current = args[0]
			}
			if err := c.save(env); err != nil {
				return fail(ExitError, err)
			}
			fmt.Fprintf(env.Stdout, "context %s saved\n", args[0])
			return nil
		}}
	add.Flags().StringVar(&u, "url", "", "the daemon's HTTP API, e.g. http://127.0.0.1:8080")
	add.Flags().StringVar(&token, "token", "", "a bearer token (stored in a file only you can read)")
	use := &cobra.Command{Use: "use NAME", Short: "Make a context current", Args: cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			c, err := loadContexts(env)
			if err != nil {
				return fail(ExitError, err)
			}
			if _, ok := c.Contexts[args[0]]; !ok {
				return fail(ExitConfig, fmt.Errorf("no context %q", args[0]))
			}
			c.Current = args[0]
			if err := c.save(env); err != nil {
				return fail(ExitError, err)
			}
			return nil
		}}
	list := &cobra.Command{Use: "list", Short: "List contexts (tokens hidden)", Args: cobra.NoArgs,
		RunE: func(_ *cobra.Command, _ []string) error {
			c, err := loadContexts(env)
			if err != nil {
				return fail(ExitError, err)
			}
			names := make([]string, 0, len(c.Contexts))
			for n := range c.Contexts {
				names = append(names, n)
			}
			sort.Strings(names)
			tw := newTable(env.Stdout)
			tw.row("CURRENT", "NAME", "URL")
			for _, n := range names {
				mark := ""
				if n == c.Current {
					mark = "*"
				}
				tw.row(mark, n, c.Contexts[n].URL)
			}
			return tw.flush()
		}}
	cmd.AddCommand(add, use, list)
	return cmd
}

// followOperation draws an operation's progress on stderr when it is a
// terminal, from the operation's event stream, until it ends.
func (c *client) followOperation(ctx context.Context, id string) (httpapi.Operation, error) {
	var last httpapi.Operation
	resp, err := c.send(ctx, "GET", "/v1/operations/"+url.PathEscape(id)+"/events", nil, "")
	if err != nil {
		return last, err
	}
	defer resp.Body.Close()
	err = readSSE(resp.Body, func(typ, data string) error {
		if typ != "progress" {
			return nil
		}
		if err := json.Unmarshal([]byte(data), &last); err != nil {
			return err
		}
		if c.errTTY {
			width := 30
			filled := width
			if last.Total > 0 {
				filled = width * last.Done / last.Total
			}
			fmt.Fprintf(c.errOut, "\r[%s%s] %d/%d %s", strings.Repeat("#", filled), strings.Repeat(".", width-filled),
				last.Done, last.Total, last.Status)
			if last.Status != "running" {
				fmt.Fprintln(c.errOut)
			}
		}
		if last.Status != "running" {
			return io.EOF
		}
		return nil
	})
	return last, err
}

// age renders how long ago t was.
func age(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return time.Since(t).Round(time.Second).String()
}
