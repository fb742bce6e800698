package daemon

import (
	"crypto/tls"
	"errors"
	"fmt"
	"strings"

	"github.com/hashicorp/go-hclog"

	"github.com/onexbus/onexbus/transport/auth"
)

// Reload applies next's reloadable settings to the running daemon:
// log.level, shutdown.timeout, shutdown.lame_duck,
// node.heartbeat_interval, the principals and rules (security.users,
// security.tokens, security.acls: the principal store is replaced in one
// step) and each listener's certificate, key and client CA bundle (read
// again, used from the next handshake). Every other setting that differs
// is logged as needing a restart. It returns both lists of setting
// names. Everything is checked before anything changes: an invalid next,
// or a certificate that does not load, changes nothing and is returned.
//
// A reload that reads the configuration file should use ReloadFrom: an
// ACL edit over the Kafka protocol persists to that file, and only
// ReloadFrom reads it with such edits held off.
func (d *Daemon) Reload(next Config) (applied, restart []string, err error) {
	return d.ReloadFrom(func() (Config, error) { return next, nil })
}

// ReloadFrom is Reload of the configuration load returns (as the SIGHUP
// handler reads it from the file and the environment). load runs with
// the principal store's rule edits held off until the new principals
// and rules are in place, so an ACL edit persisted to the file (CreateAcls,
// DeleteAcls) is either in what load reads or applied after the swap,
// never undone by it. An error from load changes nothing and is returned.
func (d *Daemon) ReloadFrom(load func() (Config, error)) (applied, restart []string, err error) {
	if load == nil {
		return nil, nil, fmt.Errorf("%w: reload: nil load", ErrInvalidConfig)
	}
	type certSwap struct {
		src  *certSource
		conf *tls.Config
	}
	var (
		next  Config
		snap  auth.Snapshot
		swaps []certSwap
	)
	d.mu.Lock()
	defer d.mu.Unlock()
	cur := d.cfg
	err = d.sec.store.ReplaceFrom(func() (auth.Snapshot, error) {
		cfg, err := load()
		if err != nil {
			return auth.Snapshot{}, err
		}
		if err := cfg.Validate(); err != nil {
			return auth.Snapshot{}, err
		}
		if snap, err = cfg.Security.Snapshot(); err != nil {
			return auth.Snapshot{}, err
		}
		next = cfg
		// Certificates before the swap: a file that does not load refuses
		// the reload.
		for _, l := range []struct {
			prefix    string
			src       *certSource
			was, want TLSConfig
		}{
			{"kafka.tls", d.sec.kafka, cur.Security.KafkaTLS, next.Security.KafkaTLS},
			{"http.tls", d.sec.http, cur.Security.HTTPTLS, next.Security.HTTPTLS},
			{"admin.tls", d.sec.admin, cur.Security.AdminTLS, next.Security.AdminTLS},
		} {
			if l.was.Enabled() != l.want.Enabled() {
				restart = append(restart, l.prefix+".cert_file")
				continue
			}
			if !l.want.Enabled() || l.src == nil {
				continue
			}
			// Read again even when the paths are the same: a renewed
			// certificate is usually written over the old file.
			conf, err := loadTLS(l.prefix, l.want)
			if err != nil {
				return auth.Snapshot{}, fmt.Errorf("onexbusd: reload refused, nothing changed: %w", err)
			}
			swaps = append(swaps, certSwap{l.src, conf})
		}
		return snap, nil
	})
	if errors.Is(err, auth.ErrInvalid) {
		return nil, nil, fmt.Errorf("%w: reload refused, nothing changed: %w", ErrInvalidConfig, err)
	}
	if err != nil {
		return nil, nil, err
	}
	for _, s := range swaps {
		s.src.cur.Store(s.conf)
	}
	if d.sec.limiter != nil {
		names := make([]string, 0, len(snap.Users)+len(snap.Tokens))
		for u := range snap.Users {
			names = append(names, u)
		}
		for _, t := range snap.Tokens {
			names = append(names, t.Principal)
		}
		d.sec.limiter.Track(names...)
	}
	changed := cur.Security.principalsChanged(&next.Security)
	applied = append(applied, changed...)
	if cur.Security.kafkaAuthenticated() != next.Security.kafkaAuthenticated() ||
		cur.Security.httpAuthenticated(cur.Security.HTTPTLS) != next.Security.httpAuthenticated(next.Security.HTTPTLS) ||
		cur.Security.httpAuthenticated(cur.Security.AdminTLS) != next.Security.httpAuthenticated(next.Security.AdminTLS) {
		d.log.Warn("authentication turns on or off on a listener only at a restart; until then the listeners keep authenticating as they started, against the reloaded principals")
	}
	d.cfg.Security.Users, d.cfg.Security.Tokens, d.cfg.Security.ACLs = next.Security.Users, next.Security.Tokens, next.Security.ACLs
	for _, s := range settings {
		var was, now string
		if s.upstream {
			was, now = upstreamText(cur.Upstream, s.env), upstreamText(next.Upstream, s.env)
		} else {
			was, _ = cur.text(s.name)
			now, _ = next.text(s.name)
		}
		if was == now {
			continue
		}
		if !s.reloadable {
			restart = append(restart, s.name)
			continue
		}
		switch {
		case s.name == "log.level":
			d.log.SetLevel(hclog.LevelFromString(next.LogLevel))
			d.cfg.LogLevel = next.LogLevel
		case s.name == "shutdown.timeout":
			d.cfg.ShutdownTimeout = next.ShutdownTimeout
		case s.name == "shutdown.lame_duck":
			d.cfg.LameDuck = next.LameDuck
		case s.name == "node.heartbeat_interval":
			if d.reporter != nil {
				if err := d.reporter.SetHeartbeatInterval(next.NodeHeartbeatInterval); err != nil {
					return applied, restart, fmt.Errorf("onexbusd: reload %s: %w", s.name, err)
				}
			}
			d.cfg.NodeHeartbeatInterval = next.NodeHeartbeatInterval
		case strings.Contains(s.name, ".tls."):
			if tlsOf(&cur, s.name).Enabled() != tlsOf(&next, s.name).Enabled() {
				continue // listed as needing a restart above
			}
			*tlsOf(&d.cfg, s.name) = *tlsOf(&next, s.name)
		}
		applied = append(applied, s.name)
	}
	for _, name := range applied {
		d.log.Info("reloaded", "setting", name)
	}
	for _, name := range restart {
		d.log.Warn("changed on reload, applies after a restart", "setting", name)
	}
	return applied, restart, nil
}

// tlsOf is the TLS section a kafka.tls.*, http.tls.* or admin.tls.*
// setting belongs to.
func tlsOf(c *Config, name string) *TLSConfig {
	switch {
	case strings.HasPrefix(name, "kafka."):
		return &c.Security.KafkaTLS
	case strings.HasPrefix(name, "http."):
		return &c.Security.HTTPTLS
	}
	return &c.Security.AdminTLS
}
