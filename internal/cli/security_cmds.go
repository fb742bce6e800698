package cli

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/onexbus/onexbus/internal/daemon"
	"github.com/onexbus/onexbus/transport/auth"
)

// securityCmds are `user` and `token`: they edit the principals of the
// configuration file (--config or ONEXBUS_CONFIG) in place; a running
// daemon applies the change on SIGHUP.
func securityCmds(env *Env) []*cobra.Command {
	return []*cobra.Command{userCmd(env), tokenCmd(env)}
}

const reloadHint = "reload a running daemon to apply it: kill -HUP <pid>"

func userCmd(env *Env) *cobra.Command {
	cmd := &cobra.Command{Use: "user", Short: "Add, change or remove users (salted SCRAM credentials in the configuration file)"}
	var mechs []string
	var iterations int
	var fromStdin bool
	passwordFlags := func(c *cobra.Command) {
		c.Flags().StringSliceVar(&mechs, "mechanism", []string{string(auth.SCRAMSHA256), string(auth.SCRAMSHA512)}, "SCRAM mechanisms to store credentials for")
		c.Flags().IntVar(&iterations, "iterations", auth.DefaultIterations, "PBKDF2 iterations of the credentials (4096..1048576)")
		c.Flags().BoolVar(&fromStdin, "password-stdin", false, "read the password from the first line of standard input instead of a prompt")
	}
	setPassword := func(cmd *cobra.Command, name string, add bool) error {
		pw, err := readPassword(env, fromStdin)
		if err != nil {
			return fail(ExitError, err)
		}
		creds := make([]daemon.CredentialConfig, 0, len(mechs))
		for _, m := range mechs {
			c, err := auth.NewCredential(auth.Mechanism(strings.ToUpper(m)), pw, iterations)
			if err != nil {
				return fail(ExitConfig, fmt.Errorf("user %s: %w", name, err))
			}
			creds = append(creds, daemon.StoredCredential(c))
		}
		err = daemon.EditPrincipals(configFile(cmd, env), func(p *daemon.Principals) error {
			i := slices.IndexFunc(p.Users, func(u daemon.UserConfig) bool { return u.Name == name })
			switch {
			case add && i >= 0:
				return fmt.Errorf("user %s exists: change its password with `onexbusd user passwd %s`", name, name)
			case !add && i < 0:
				return fmt.Errorf("no user %s: add it with `onexbusd user add %s`", name, name)
			case add:
				p.Users = append(p.Users, daemon.UserConfig{Name: name, Credentials: creds})
			default:
				p.Users[i].Credentials = creds
			}
			return nil
		})
		if err != nil {
			return fail(ExitError, err)
		}
		verb := "added"
		if !add {
			verb = "password changed for"
		}
		fmt.Fprintf(env.Stderr, "user %s %s (%s); %s\n", verb, name, strings.Join(mechs, ", "), reloadHint)
		return nil
	}
	add := &cobra.Command{Use: "add NAME", Short: "Add a user; the password is asked for (or read with --password-stdin), never given as a flag",
		Args: cobra.ExactArgs(1), RunE: func(cmd *cobra.Command, args []string) error { return setPassword(cmd, args[0], true) }}
	passwordFlags(add)
	passwd := &cobra.Command{Use: "passwd NAME", Short: "Change a user's password",
		Args: cobra.ExactArgs(1), RunE: func(cmd *cobra.Command, args []string) error { return setPassword(cmd, args[0], false) }}
	passwordFlags(passwd)
	rm := &cobra.Command{Use: "rm NAME", Short: "Remove a user (its tokens stay: revoke them by id)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			err := daemon.EditPrincipals(configFile(cmd, env), func(p *daemon.Principals) error {
				i := slices.IndexFunc(p.Users, func(u daemon.UserConfig) bool { return u.Name == name })
				if i < 0 {
					return fmt.Errorf("no user %s", name)
				}
				p.Users = slices.Delete(p.Users, i, i+1)
				return nil
			})
			if err != nil {
				return fail(ExitError, err)
			}
			fmt.Fprintf(env.Stderr, "user %s removed; %s\n", name, reloadHint)
			return nil
		}}
	list := &cobra.Command{Use: "list", Short: "List users and their mechanisms", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var users []daemon.UserConfig
			if err := readPrincipals(cmd, env, func(p *daemon.Principals) { users = p.Users }); err != nil {
				return err
			}
			tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "USER\tMECHANISMS")
			for _, u := range users {
				ms := make([]string, len(u.Credentials))
				for i, c := range u.Credentials {
					ms[i] = c.Mechanism
				}
				fmt.Fprintf(tw, "%s\t%s\n", u.Name, strings.Join(ms, ","))
			}
			return tw.Flush()
		}}
	cmd.AddCommand(add, passwd, rm, list)
	return cmd
}

// readPrincipals runs read on the file's principals without changing it.
func readPrincipals(cmd *cobra.Command, env *Env, read func(*daemon.Principals)) error {
	errUnchanged := errors.New("unchanged")
	err := daemon.EditPrincipals(configFile(cmd, env), func(p *daemon.Principals) error {
		read(p)
		return errUnchanged
	})
	if err != nil && !errors.Is(err, errUnchanged) {
		return fail(ExitError, err)
	}
	return nil
}

func tokenCmd(env *Env) *cobra.Command {
	cmd := &cobra.Command{Use: "token", Short: "Create, revoke and list HTTP bearer tokens (kept as SHA-256 hashes in the configuration file)"}
	var ttl time.Duration
	create := &cobra.Command{Use: "create PRINCIPAL", Short: "Create a token for PRINCIPAL and print it, this once", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			// A scratch store makes the token and its record; only the
			// record (the hash) is written.
			token, rec, err := auth.NewStore().CreateToken(args[0], ttl)
			if err != nil {
				return fail(ExitConfig, err)
			}
			err = daemon.EditPrincipals(configFile(cmd, env), func(p *daemon.Principals) error {
				p.Tokens = append(p.Tokens, daemon.StoredToken(rec))
				return nil
			})
			if err != nil {
				return fail(ExitError, err)
			}
			expiry := "never expires"
			if !rec.Expires.IsZero() {
				expiry = "expires " + rec.Expires.UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(env.Stderr, "token %s for %s, %s; it is shown once and cannot be recovered; %s\n", rec.ID, rec.Principal, expiry, reloadHint)
			fmt.Fprintln(env.Stdout, token)
			return nil
		}}
	create.Flags().DurationVar(&ttl, "ttl", 0, "lifetime of the token (e.g. 720h); 0 never expires")
	revoke := &cobra.Command{Use: "revoke ID", Short: "Revoke a token by id (the part after oxb_)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id := args[0]
			err := daemon.EditPrincipals(configFile(cmd, env), func(p *daemon.Principals) error {
				i := slices.IndexFunc(p.Tokens, func(t daemon.TokenConfig) bool { return t.ID == id })
				if i < 0 {
					return fmt.Errorf("no token %s", id)
				}
				p.Tokens[i].Revoked = true
				return nil
			})
			if err != nil {
				return fail(ExitError, err)
			}
			fmt.Fprintf(env.Stderr, "token %s revoked; %s\n", id, reloadHint)
			return nil
		}}
	list := &cobra.Command{Use: "list", Short: "List tokens: id, principal, created, expiry, revoked (never the token)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var toks []daemon.TokenConfig
			if err := readPrincipals(cmd, env, func(p *daemon.Principals) { toks = p.Tokens }); err != nil {
				return err
			}
			tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tPRINCIPAL\tCREATED\tEXPIRES\tSTATE")
			now := time.Now()
			for _, t := range toks {
				exp, state := "never", "active"
				if !t.Expires.IsZero() {
					exp = t.Expires.UTC().Format(time.RFC3339)
					if !now.Before(t.Expires) {
						state = "expired"
					}
				}
				if t.Revoked {
					state = "revoked"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", t.ID, t.Principal, t.Created.UTC().Format(time.RFC3339), exp, state)
			}
			return tw.Flush()
		}}
	cmd.AddCommand(create, revoke, list)
	return cmd
}

// readPassword reads a password from the first line of stdin
// (--password-stdin) or from a prompt on the terminal, without echo and
// twice; it is never a flag, so it is not in ps or the shell history.
func readPassword(env *Env, fromStdin bool) (string, error) {
	in := env.Stdin
	if in == nil {
		in = os.Stdin
	}
	if fromStdin {
		line, err := bufio.NewReader(in).ReadString('\n')
		if err != nil && !errors.Is(err, io.EOF) {
			return "", fmt.Errorf("read password from stdin: %w", err)
		}
		pw := strings.TrimRight(line, "\r\n")
		if pw == "" {
			return "", errors.New("empty password on stdin")
		}
		return pw, nil
	}
	f, ok := in.(*os.File)
	if !ok || !isTTY(f) {
		return "", errors.New("standard input is not a terminal: give the password with --password-stdin")
	}
	first, err := promptNoEcho(f, env.Stderr, "Password: ")
	if err != nil {
		return "", err
	}
	second, err := promptNoEcho(f, env.Stderr, "Again: ")
	if err != nil {
		return "", err
	}
	if first != second {
		return "", errors.New("the passwords differ")
	}
	if first == "" {
		return "", errors.New("empty password")
	}
	return first, nil
}
