package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	httpapi "github.com/onexbus/onexbus/transport/http"
)

// clientCmds are the commands that talk to a running daemon over its
// HTTP API.
func clientCmds(env *Env) []*cobra.Command {
	cmds := []*cobra.Command{produceCmd(env), consumeCmd(env), tailCmd(env), topicCmd(env), groupCmd(env),
		dlqCmd(env), breakerCmd(env)}
	for _, c := range cmds {
		clientFlags(c)
	}
	return append(cmds, contextCmd(env))
}

// runClient wraps a client command: it resolves the client and maps
// errors to exit codes.
func runClient(env *Env, fn func(ctx context.Context, c *client, cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		c, err := newClient(cmd, env)
		if err != nil {
			return fail(ExitConfig, err)
		}
		ctx := cmd.Context()
		if ctx == nil {
			ctx = context.Background()
		}
		if err := fn(ctx, c, cmd, args); err != nil {
			return fail(ExitError, err)
		}
		return nil
	}
}

func parseHeaders(kvs []string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("header %q is not name=value", kv)
		}
		out[k] = v
	}
	return out, nil
}

func produceCmd(env *Env) *cobra.Command {
	var key, keyDelim string
	var headers []string
	var batch int
	var partition int32
	cmd := &cobra.Command{
		Use:   "produce TOPIC [FILE...]",
		Short: "Publish each line of stdin (or of the files) as a message",
		Long: "Each line is a message's value (text). --key sets every message's key; --key-delim splits each line into key and value at " +
			"the first delimiter, as kcat -K does. Messages go in batches of --batch, one result per message printed.",
		Args: cobra.MinimumNArgs(1),
		RunE: runClient(env, func(ctx context.Context, c *client, cmd *cobra.Command, args []string) error {
			hs, err := parseHeaders(headers)
			if err != nil {
				return err
			}
			if batch < 1 || batch > 10000 {
				return fmt.Errorf("--batch %d not in [1, 10000]", batch)
			}
			topic := args[0]
			var pending []httpapi.MessageIn
			var published, failed int
			flush := func() error {
				if len(pending) == 0 {
					return nil
				}
				var res httpapi.BatchResults
				if err := c.request(ctx, "POST", "/v1/topics/"+url.PathEscape(topic)+"/messages",
					map[string]any{"messages": pending}, &res); err != nil {
					return err
				}
				for _, r := range res.Results {
					if r.Error != nil {
						failed++
						fmt.Fprintf(c.errOut, "message not published: %s (%s)\n", r.Error.Detail, r.Error.Code)
					} else {
						published++
					}
					if !c.tty || c.format != "table" {
						if err := c.line(r); err != nil {
							return err
						}
					}
				}
				pending = pending[:0]
				return nil
			}
			add := func(line string) error {
				m := httpapi.MessageIn{Headers: hs}
				value := line
				switch {
				case keyDelim != "":
					k, v, ok := strings.Cut(line, keyDelim)
					if ok {
						m.Key, value = &k, v
					}
				case key != "":
					k := key
					m.Key = &k
				}
				m.ValueText = &value
				if cmd.Flags().Changed("partition") {
					p := partition
					m.Partition = &p
				}
				pending = append(pending, m)
				if len(pending) == batch {
					return flush()
				}
				return nil
			}
			inputs := []io.Reader{cmd.InOrStdin()}
			if len(args) > 1 {
				inputs = nil
				for _, name := range args[1:] {
					f, err := os.Open(name)
					if err != nil {
						return err
					}
					defer f.Close()
					inputs = append(inputs, f)
				}
			}
			for _, in := range inputs {
				if err := readLines(in, add); err != nil {
					return err
				}
			}
			if err := flush(); err != nil {
				return err
			}
			if c.tty && c.format == "table" {
				fmt.Fprintf(c.out, "published %d messages to %s\n", published, topic)
			}
			if failed > 0 {
				return fmt.Errorf("%d of %d messages not published", failed, failed+published)
			}
			return nil
		}),
	}
	cmd.Flags().StringVarP(&key, "key", "k", "", "the key of every message")
	cmd.Flags().StringVarP(&keyDelim, "key-delim", "K", "", "split each line into key and value at the first delimiter")
	cmd.Flags().StringArrayVarP(&headers, "header", "H", nil, "a header name=value (repeatable)")
	cmd.Flags().IntVar(&batch, "batch", 100, "messages per request")
	cmd.Flags().Int32VarP(&partition, "partition", "p", 0, "an explicit partition")
	return cmd
}

// formatMessage renders m by a kcat-style format: %t topic, %p
// partition, %o offset, %k key, %s value, %T timestamp (ms), %h headers,
// \n and \t.
func formatMessage(f string, m *httpapi.MessageOut) string {
	var b strings.Builder
	for i := 0; i < len(f); i++ {
		ch := f[i]
		if (ch == '%' || ch == '\\') && i+1 < len(f) {
			i++
			switch f[i-1 : i+1] {
			case "%t":
				b.WriteString(m.Topic)
			case "%p":
				b.WriteString(strconv.Itoa(int(m.Partition)))
			case "%o":
				b.WriteString(strconv.FormatInt(m.Offset, 10))
			case "%k":
				if m.Key != nil {
					b.WriteString(*m.Key)
				} else if m.KeyB64 != nil {
					b.Write(m.KeyB64)
				}
			case "%s":
				b.WriteString(valueText(m))
			case "%T":
				b.WriteString(strconv.FormatInt(m.Timestamp.UnixMilli(), 10))
			case "%h":
				keys := make([]string, 0, len(m.Headers))
				for k := range m.Headers {
					keys = append(keys, k)
				}
				sort.Strings(keys)
				for j, k := range keys {
					if j > 0 {
						b.WriteByte(',')
					}
					b.WriteString(k + "=" + m.Headers[k])
				}
			case `\n`:
				b.WriteByte('\n')
			case `\t`:
				b.WriteByte('\t')
			case "%%":
				b.WriteByte('%')
			default:
				b.WriteString(f[i-1 : i+1])
			}
			continue
		}
		b.WriteByte(ch)
	}
	return b.String()
}

func valueText(m *httpapi.MessageOut) string {
	switch {
	case m.Value != nil:
		return string(m.Value)
	case m.ValueText != nil:
		return *m.ValueText
	case m.ValueB64 != nil:
		return string(m.ValueB64)
	}
	return ""
}

// printMessage prints m by format, or as a JSON line when no format is
// given and stdout is not a terminal.
func (c *client) printMessage(format string, m *httpapi.MessageOut) error {
	if format == "" {
		if c.format != "table" {
			return c.line(m)
		}
		format = `%t/%p@%o %k %s\n`
	}
	_, err := io.WriteString(c.out, formatMessage(format, m))
	return err
}

func consumeCmd(env *Env) *cobra.Command {
	var from, format string
	var count int
	var exitAtEnd bool
	var partition int32
	cmd := &cobra.Command{
		Use:   "consume TOPIC",
		Short: "Read a topic from the beginning, the end, an offset or a time (a stateless reader: it commits nothing)",
		Long: "--from is beginning, end, an offset, or @TIME (RFC 3339). -c stops after that many messages, -e at the end of the topic " +
			"as it was when consume started. -f prints each message by a kcat-style format: %t %p %o %k %s %T %h \\n.",
		Args: cobra.ExactArgs(1),
		RunE: runClient(env, func(ctx context.Context, c *client, cmd *cobra.Command, args []string) error {
			topic := args[0]
			var d httpapi.TopicDetail
			if err := c.request(ctx, "GET", "/v1/topics/"+url.PathEscape(topic), nil, &d); err != nil {
				return err
			}
			parts := d.PartitionSet
			if cmd.Flags().Changed("partition") {
				if partition < 0 || int(partition) >= len(parts) {
					return fmt.Errorf("topic %s has no partition %d", topic, partition)
				}
				parts = parts[partition : partition+1]
			}
			next := map[int32]int64{}
			stopAt := map[int32]int64{}
			for _, p := range parts {
				stopAt[p.Partition] = p.EndOffset
				switch {
				case from == "beginning" || from == "":
					next[p.Partition] = p.StartOffset
				case from == "end":
					next[p.Partition] = p.EndOffset
				case strings.HasPrefix(from, "@"):
					t, err := time.Parse(time.RFC3339Nano, from[1:])
					if err != nil {
						return fmt.Errorf("--from %q: %w", from, err)
					}
					var o httpapi.OffsetForTime
					q := fmt.Sprintf("/v1/topics/%s/partitions/%d/offsets?time=%s", url.PathEscape(topic), p.Partition, url.QueryEscape(t.Format(time.RFC3339Nano)))
					if err := c.request(ctx, "GET", q, nil, &o); err != nil {
						return err
					}
					next[p.Partition] = o.Offset
				default:
					off, err := strconv.ParseInt(from, 10, 64)
					if err != nil || off < 0 {
						return fmt.Errorf("--from %q is not beginning, end, an offset or @TIME", from)
					}
					next[p.Partition] = off
				}
			}
			seen := 0
			for {
				progressed := false
				atEnd := true
				for _, p := range parts {
					if exitAtEnd && next[p.Partition] >= stopAt[p.Partition] {
						continue
					}
					atEnd = false
					wait := "0s"
					if len(parts) == 1 && !exitAtEnd {
						wait = "5s"
					}
					var res httpapi.FetchResult
					q := fmt.Sprintf("/v1/topics/%s/partitions/%d/messages?offset=%d&max=500&wait=%s", url.PathEscape(topic), p.Partition, next[p.Partition], wait)
					if err := c.request(ctx, "GET", q, nil, &res); err != nil {
						return err
					}
					for i := range res.Messages {
						m := &res.Messages[i]
						if exitAtEnd && m.Offset >= stopAt[p.Partition] {
							break
						}
						if err := c.printMessage(format, m); err != nil {
							return err
						}
						seen++
						if count > 0 && seen >= count {
							return nil
						}
					}
					if res.NextOffset > next[p.Partition] {
						next[p.Partition] = res.NextOffset
						progressed = true
					}
				}
				if exitAtEnd && atEnd {
					return nil
				}
				if !progressed && len(parts) > 1 {
					select {
					case <-ctx.Done():
						return ctx.Err()
					case <-time.After(200 * time.Millisecond): // several partitions: poll them in turn
					}
				}
			}
		}),
	}
	cmd.Flags().StringVar(&from, "from", "beginning", "beginning, end, an offset, or @RFC3339-time")
	cmd.Flags().StringVarP(&format, "format", "f", "", "kcat-style format (%t %p %o %k %s %T %h)")
	cmd.Flags().IntVarP(&count, "count", "c", 0, "stop after this many messages")
	cmd.Flags().BoolVarP(&exitAtEnd, "exit", "e", false, "stop at the end of the topic")
	cmd.Flags().Int32VarP(&partition, "partition", "p", 0, "only this partition")
	return cmd
}

func tailCmd(env *Env) *cobra.Command {
	var from, format string
	var count int
	cmd := &cobra.Command{
		Use:   "tail TOPIC",
		Short: "Follow a topic live (server-sent events), from the end by default",
		Args:  cobra.ExactArgs(1),
		RunE: runClient(env, func(ctx context.Context, c *client, cmd *cobra.Command, args []string) error {
			q := "/v1/topics/" + url.PathEscape(args[0]) + "/stream?from=" + url.QueryEscape(from)
			resp, err := c.send(ctx, "GET", q, nil, "")
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			seen := 0
			return readSSE(resp.Body, func(typ, data string) error {
				if typ != "message" {
					return nil
				}
				var m httpapi.MessageOut
				if err := json.Unmarshal([]byte(data), &m); err != nil {
					return err
				}
				if err := c.printMessage(format, &m); err != nil {
					return err
				}
				seen++
				if count > 0 && seen >= count {
					return io.EOF
				}
				return nil
			})
		}),
	}
	cmd.Flags().StringVar(&from, "from", "latest", "latest, earliest, an RFC 3339 time, or positions p:o,...")
	cmd.Flags().StringVarP(&format, "format", "f", "", "kcat-style format (%t %p %o %k %s %T %h)")
	cmd.Flags().IntVarP(&count, "count", "c", 0, "stop after this many messages")
	return cmd
}

// readSSE calls fn with each event of an event stream until it ends or
// fn returns an error (io.EOF stops quietly).
func readSSE(r io.Reader, fn func(typ, data string) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 64<<20)
	var typ, data string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if typ != "" {
				if err := fn(typ, data); err != nil {
					if err == io.EOF {
						return nil
					}
					return err
				}
			}
			typ, data = "", ""
		case strings.HasPrefix(line, "event: "):
			typ = line[len("event: "):]
		case strings.HasPrefix(line, "data: "):
			data = line[len("data: "):]
		}
	}
	return sc.Err()
}
