package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"

	"github.com/spf13/cobra"

	httpapi "github.com/onexbus/onexbus/transport/http"
)

// letterFlags are the filter flags of dlq list, replay and purge.
type letterFlags struct {
	topic, group, errorContains, since, until string
}

func (f *letterFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.topic, "topic", "", "only letters of this original topic")
	cmd.Flags().StringVar(&f.group, "group", "", "only letters of this group")
	cmd.Flags().StringVar(&f.errorContains, "error-contains", "", "only letters whose error contains this")
	cmd.Flags().StringVar(&f.since, "since", "", "dead-lettered at or after (RFC 3339)")
	cmd.Flags().StringVar(&f.until, "until", "", "dead-lettered before (RFC 3339)")
}

func (f *letterFlags) filter() (map[string]any, error) {
	m := map[string]any{}
	for k, v := range map[string]string{"topic": f.topic, "group": f.group, "error_contains": f.errorContains} {
		if v != "" {
			m[k] = v
		}
	}
	for k, v := range map[string]string{"since": f.since, "until": f.until} {
		t, err := timeOrZero(v)
		if err != nil {
			return nil, err
		}
		if !t.IsZero() {
			m[k] = t
		}
	}
	return m, nil
}

func dlqCmd(env *Env) *cobra.Command {
	cmd := &cobra.Command{Use: "dlq", Short: "The dead-letter queue: list, show, replay, purge"}
	var lf letterFlags
	list := &cobra.Command{Use: "list", Short: "List dead letters, oldest first", Args: cobra.NoArgs,
		RunE: runClient(env, func(ctx context.Context, c *client, _ *cobra.Command, _ []string) error {
			q := url.Values{}
			for k, v := range map[string]string{"topic": lf.topic, "group": lf.group, "error_contains": lf.errorContains, "since": lf.since, "until": lf.until} {
				if v != "" {
					q.Set(k, v)
				}
			}
			var all []httpapi.LetterOut
			for tok := ""; ; {
				q.Set("page_size", "1000")
				q.Set("page_token", tok)
				var page httpapi.LetterList
				if err := c.request(ctx, "GET", "/v1/dlq/letters?"+q.Encode(), nil, &page); err != nil {
					return err
				}
				all = append(all, page.Letters...)
				if tok = page.NextPageToken; tok == "" {
					break
				}
			}
			if c.format == "jsonl" {
				for _, l := range all {
					if err := c.line(l); err != nil {
						return err
					}
				}
				return nil
			}
			return c.emit(all, func(w *tableWriter) {
				w.row("ID", "TOPIC", "PARTITION", "OFFSET", "GROUP", "ATTEMPTS", "AGE", "ERROR")
				for _, l := range all {
					w.row(l.ID, l.Topic, l.Partition, l.Offset, l.Group, l.Attempts, age(l.DeadLetteredAt), l.Error)
				}
			})
		})}
	lf.add(list)
	show := &cobra.Command{Use: "show ID", Short: "A dead letter with its payload and provenance", Args: cobra.ExactArgs(1),
		RunE: runClient(env, func(ctx context.Context, c *client, _ *cobra.Command, args []string) error {
			if _, err := strconv.ParseUint(args[0], 10, 64); err != nil {
				return fmt.Errorf("letter id %q is not a number", args[0])
			}
			var l httpapi.LetterOut
			if err := c.request(ctx, "GET", "/v1/dlq/letters/"+args[0], nil, &l); err != nil {
				return err
			}
			if c.format == "table" {
				c.format = "yaml" // one letter reads best as a document
			}
			return c.emit(l, nil)
		})}
	cmd.AddCommand(list, show, dlqAction(env, "replay"), dlqAction(env, "purge"))
	return cmd
}

// dlqAction is dlq replay or dlq purge: a dry run (count and sample)
// unless --execute, then an operation followed to its end with a progress
// bar on a terminal.
func dlqAction(env *Env, verb string) *cobra.Command {
	var lf letterFlags
	var limit, toGroup string
	var rate float64
	var execute bool
	var ids []uint
	cmd := &cobra.Command{Use: verb, Short: map[string]string{
		"replay": "Re-publish dead letters to their topic or one group (a dry run unless --execute)",
		"purge":  "Delete dead letters (a dry run unless --execute)",
	}[verb], Args: cobra.NoArgs,
		RunE: runClient(env, func(ctx context.Context, c *client, _ *cobra.Command, _ []string) error {
			f, err := lf.filter()
			if err != nil {
				return err
			}
			if len(ids) > 0 {
				f["ids"] = ids
			}
			var lim any = limit
			if limit != "all" {
				n, err := strconv.Atoi(limit)
				if err != nil || n < 0 {
					return fmt.Errorf(`--limit %q is not a number or "all"`, limit)
				}
				lim = n
			}
			rawLimit, _ := json.Marshal(lim)
			body := map[string]any{"filter": f, "limit": json.RawMessage(rawLimit), "dry_run": !execute}
			if verb == "replay" {
				body["to_group"], body["rate"] = toGroup, rate
			}
			var res httpapi.DLQActionResult
			if err := c.request(ctx, "POST", "/v1/dlq:"+verb, body, &res); err != nil {
				return err
			}
			if res.DryRun != nil {
				return c.emit(res.DryRun, func(w *tableWriter) {
					w.row(fmt.Sprintf("# dry run: %d letters would be %sed (%d skipped by the loop guard); --execute to do it",
						res.DryRun.Count, map[string]string{"replay": "replay", "purge": "purg"}[verb], res.DryRun.Guard))
					w.row("ID", "TOPIC", "OFFSET", "GROUP", "ERROR")
					for _, l := range res.DryRun.Sample {
						w.row(l.ID, l.Topic, l.Offset, l.Group, l.Error)
					}
				})
			}
			op, err := c.followOperation(ctx, res.Operation.ID)
			if err != nil {
				return err
			}
			if err := c.emit(op, func(w *tableWriter) {
				w.row(fmt.Sprintf("%s %s: %d of %d done (%d skipped)", verb, op.Status, op.Done, op.Total, op.Skipped))
			}); err != nil {
				return err
			}
			if op.Status != "succeeded" {
				msg := op.Status
				if op.Error != nil {
					msg = op.Error.Detail
				}
				return fmt.Errorf("%s did not finish: %s", verb, msg)
			}
			return nil
		})}
	lf.add(cmd)
	cmd.Flags().StringVar(&limit, "limit", "", `the most letters: a number, or "all" (required)`)
	_ = cmd.MarkFlagRequired("limit")
	cmd.Flags().UintSliceVar(&ids, "id", nil, "only these letter ids")
	cmd.Flags().BoolVar(&execute, "execute", false, "do it (default: a dry run)")
	if verb == "replay" {
		cmd.Flags().StringVar(&toGroup, "to-group", "", "replay to this group only")
		cmd.Flags().Float64Var(&rate, "rate", 0, "letters per second (0: unlimited)")
	}
	return cmd
}
