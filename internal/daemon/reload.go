package daemon

import (
	"fmt"

	"github.com/hashicorp/go-hclog"
)

// Reload applies next's reloadable settings (log.level, shutdown.timeout,
// shutdown.lame_duck, node.heartbeat_interval) to the running daemon, logs every other
// setting that differs as needing a restart, and returns both lists of
// setting names. An invalid next changes nothing and is returned.
func (d *Daemon) Reload(next Config) (applied, restart []string, err error) {
	if err := next.Validate(); err != nil {
		return nil, nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	cur := d.cfg
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
		switch s.name {
		case "log.level":
			d.log.SetLevel(hclog.LevelFromString(next.LogLevel))
			d.cfg.LogLevel = next.LogLevel
		case "shutdown.timeout":
			d.cfg.ShutdownTimeout = next.ShutdownTimeout
		case "shutdown.lame_duck":
			d.cfg.LameDuck = next.LameDuck
		case "node.heartbeat_interval":
			if d.reporter != nil {
				if err := d.reporter.SetHeartbeatInterval(next.NodeHeartbeatInterval); err != nil {
					return applied, restart, fmt.Errorf("onexbusd: reload %s: %w", s.name, err)
				}
			}
			d.cfg.NodeHeartbeatInterval = next.NodeHeartbeatInterval
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
