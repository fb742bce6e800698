package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/onexbus/onexbus/internal/daemon"
)

// Exit codes.
const (
	ExitOK     = 0
	ExitError  = 1
	ExitConfig = 2
)

// Env is what the command line runs against: arguments, streams,
// environment and the process's exit, so tests run it in process.
type Env struct {
	// Args are the arguments after the program name.
	Args []string
	// Stdin is read by --password-stdin and the password prompt; nil is
	// os.Stdin.
	Stdin io.Reader
	// Stdout and Stderr receive output and logs.
	Stdout, Stderr io.Writer
	// LookupEnv reads the environment (os.LookupEnv).
	LookupEnv func(string) (string, bool)
	// Exit ends the process at once (os.Exit); used only by a second
	// shutdown signal.
	Exit func(int)
	// Signals delivers SIGINT, SIGTERM and SIGHUP to serve; nil means the
	// process's own (signal.Notify).
	Signals <-chan os.Signal
	// Options are passed to daemon.New (tests add setup steps).
	Options []daemon.Option
}

// exitError carries an exit code through cobra.
type exitError struct {
	code int
	err  error
}

// Error is the wrapped error's message.
func (e *exitError) Error() string { return e.err.Error() }

// Unwrap returns the wrapped error.
func (e *exitError) Unwrap() error { return e.err }

func fail(code int, err error) error { return &exitError{code: code, err: err} }

// Main runs the command line and returns the exit code.
func Main(env Env) int {
	root := newRoot(&env)
	root.SetArgs(env.Args)
	root.SetOut(env.Stdout)
	root.SetErr(env.Stderr)
	err := root.Execute()
	if err == nil {
		return ExitOK
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil && ee.err.Error() != "" {
			fmt.Fprintln(env.Stderr, indent(ee.err))
		}
		return ee.code
	}
	fmt.Fprintln(env.Stderr, "onexbusd:", err)
	return ExitConfig // cobra's own errors are usage errors
}

// indent puts each joined error on a line of its own.
func indent(err error) string {
	return strings.ReplaceAll(err.Error(), "\n", "\n  ")
}

func newRoot(env *Env) *cobra.Command {
	root := &cobra.Command{
		Use:           "onexbusd",
		Short:         "onexbus broker daemon: the onexbus log on bbolt behind the Kafka wire protocol",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().String("config", "", "YAML configuration file (env ONEXBUS_CONFIG)")
	root.AddCommand(serveCmd(env), configCmd(env), checkCmd(env), versionCmd(env))
	root.AddCommand(clientCmds(env)...)
	root.AddCommand(securityCmds(env)...)
	return root
}

// configFile is --config, else ONEXBUS_CONFIG.
func configFile(cmd *cobra.Command, env *Env) string {
	if f := cmd.Flags().Lookup("config"); f != nil && f.Changed {
		return f.Value.String()
	}
	if v, ok := env.LookupEnv("ONEXBUS_CONFIG"); ok {
		return v
	}
	return ""
}

func layers(cmd *cobra.Command, env *Env) daemon.Layers {
	return daemon.Layers{Flags: cmd.Flags(), LookupEnv: env.LookupEnv, File: configFile(cmd, env)}
}

func settingFlags(cmd *cobra.Command) {
	fs := pflag.NewFlagSet("settings", pflag.ContinueOnError)
	daemon.AddFlags(fs)
	cmd.Flags().AddFlagSet(fs)
}

func serveCmd(env *Env) *cobra.Command {
	var check bool
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the daemon (standalone on bbolt in ./onexbus-data by default)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			l := layers(cmd, env)
			loaded, err := daemon.Load(l)
			if err != nil {
				return fail(ExitConfig, err)
			}
			if check {
				fmt.Fprintln(env.Stdout, "configuration OK")
				return nil
			}
			return serve(cmd.Context(), env, l, loaded.Config)
		},
	}
	cmd.Flags().BoolVar(&check, "check", false, "validate the configuration, print every problem and exit")
	settingFlags(cmd)
	return cmd
}

// serve runs the daemon until the first SIGTERM or SIGINT.
func serve(parent context.Context, env *Env, l daemon.Layers, cfg daemon.Config) error {
	d, err := daemon.New(cfg, append([]daemon.Option{daemon.WithLogOutput(env.Stderr), daemon.WithConfigFile(l.File)}, env.Options...)...)
	if err != nil {
		return fail(ExitConfig, err)
	}
	sigs := env.Signals
	if sigs == nil {
		ch := make(chan os.Signal, 4)
		signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
		defer signal.Stop(ch)
		sigs = ch
	}
	if parent == nil {
		parent = context.Background()
	}
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	log := d.Logger()
	stopping := false
	for {
		select {
		case err := <-done:
			if err != nil {
				return fail(ExitError, err)
			}
			return nil
		case s := <-sigs:
			switch {
			case s == syscall.SIGHUP:
				// The file is read inside ReloadFrom, with ACL edits (which
				// persist to it) held off until the swap.
				_, _, err := d.ReloadFrom(func() (daemon.Config, error) {
					loaded, err := daemon.Load(l)
					if err != nil {
						return daemon.Config{}, fmt.Errorf("the configuration is invalid: %w", err)
					}
					return loaded.Config, nil
				})
				if err != nil {
					log.Error("reload refused; nothing changed", "error", err.Error())
				}
			case !stopping:
				stopping = true
				log.Info("signal received: draining (a second signal exits at once)", "signal", s.String())
				cancel()
			default:
				log.Error("second signal: exiting now without draining", "signal", s.String())
				env.Exit(ExitError)
				return fail(ExitError, errors.New("second signal: exited without draining"))
			}
		}
	}
}

func configCmd(env *Env) *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Show or validate the configuration"}
	var sources bool
	var output string
	print := &cobra.Command{
		Use:   "print",
		Short: "Print every setting and its value (secrets redacted); --sources says where each came from",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			loaded, err := daemon.Load(layers(cmd, env))
			if loaded == nil || loaded.Values == nil {
				return fail(ExitConfig, err)
			}
			if perr := printValues(env.Stdout, loaded, sources, output); perr != nil {
				return fail(ExitConfig, perr)
			}
			if err != nil {
				return fail(ExitConfig, err)
			}
			return nil
		},
	}
	print.Flags().BoolVar(&sources, "sources", false, "show where each value came from: flag, env, file:line or default")
	print.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	settingFlags(print)
	check := &cobra.Command{
		Use:   "check FILE",
		Short: "Validate a YAML configuration file on its own (no environment, no flags); every problem at once",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := daemon.Load(daemon.Layers{File: args[0]}); err != nil {
				return fail(ExitConfig, err)
			}
			fmt.Fprintf(env.Stdout, "%s: configuration OK\n", args[0])
			return nil
		},
	}
	cmd.AddCommand(print, check)
	return cmd
}

// jsonValue is one setting in `config print -o json`.
type jsonValue struct {
	Name       string `json:"name"`
	Env        string `json:"env"`
	Value      string `json:"value"`
	Source     string `json:"source"`
	Secret     bool   `json:"secret,omitempty"`
	Reloadable bool   `json:"reloadable,omitempty"`
}

func printValues(w io.Writer, l *daemon.Loaded, sources bool, output string) error {
	switch output {
	case "json":
		out := make([]jsonValue, len(l.Values))
		for i, v := range l.Values {
			out[i] = jsonValue{v.Name, v.Env, v.Shown(), v.Source.String(), v.Secret, v.Reloadable}
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	case "text":
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		for _, v := range l.Values {
			if sources {
				fmt.Fprintf(tw, "%s = %s\t# %s\n", v.Name, quote(v.Shown()), v.Source)
			} else {
				fmt.Fprintf(tw, "%s = %s\n", v.Name, quote(v.Shown()))
			}
		}
		return tw.Flush()
	}
	return fmt.Errorf("output %q is not text or json", output)
}

func quote(s string) string {
	if s == "" || strings.ContainsAny(s, " #\t") {
		return fmt.Sprintf("%q", s)
	}
	return s
}

func checkCmd(env *Env) *cobra.Command {
	var asJSON bool
	var fsyncWarn, fsyncCrit time.Duration
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Doctor: data dir, free space, measured fsync, bbolt integrity, ports, TLS files, upstream Kafka (Nagios exit codes)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			loaded, err := daemon.Load(layers(cmd, env))
			var rep daemon.Report
			if err != nil {
				rep = daemon.Report{Status: daemon.StatusUnknown, Checks: []daemon.CheckResult{{
					Name: "config", Status: daemon.StatusUnknown, Message: err.Error()}}}
			} else {
				rep = daemon.Doctor(cmd.Context(), loaded.Config, daemon.DoctorOptions{
					Kafka: daemon.DefaultKafka != nil, FsyncWarn: fsyncWarn, FsyncCrit: fsyncCrit})
				rep.Checks = append([]daemon.CheckResult{{Name: "config", Status: daemon.StatusOK, Message: "valid"}}, rep.Checks...)
			}
			if asJSON {
				enc := json.NewEncoder(env.Stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(rep); err != nil {
					return fail(int(daemon.StatusUnknown), err)
				}
			} else {
				fmt.Fprintf(env.Stdout, "onexbusd check: %s\n", rep.Status)
				tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
				for _, c := range rep.Checks {
					fmt.Fprintf(tw, "%s\t%s\t%s\n", c.Status, c.Name, strings.ReplaceAll(c.Message, "\n", "; "))
				}
				_ = tw.Flush() // stdout; nothing better to do with the error
			}
			if rep.Status != daemon.StatusOK {
				return fail(int(rep.Status), errors.New(""))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	cmd.Flags().DurationVar(&fsyncWarn, "fsync-warn", daemon.DefaultFsyncWarn, "p99 fsync latency above which check warns")
	cmd.Flags().DurationVar(&fsyncCrit, "fsync-crit", daemon.DefaultFsyncCrit, "p99 fsync latency above which check fails")
	settingFlags(cmd)
	return cmd
}

func versionCmd(env *Env) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			b := daemon.Build()
			if asJSON {
				return json.NewEncoder(env.Stdout).Encode(b)
			}
			rev := b.Revision
			if rev == "" {
				rev = "unknown revision"
			}
			fmt.Fprintf(env.Stdout, "onexbusd %s (%s, %s, %s)\n", b.Version, rev, b.GoVersion, b.Platform)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	return cmd
}
