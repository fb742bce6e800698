// Package cli is onexbusd's command line: serve, config print, config
// check, check (the doctor), version and shell completion, built with
// cobra (no viper) on the settings table of internal/daemon.
//
// # Exit codes
//
//   - 0: success.
//   - 1: the daemon failed at run time (a port in use, a locked data dir,
//     a corrupt file, a drain that did not finish); the message says what
//     to do.
//   - 2: usage or configuration errors, every problem listed.
//   - check: Nagios codes, 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN (the
//     configuration does not load).
//
// # Signals (serve)
//
// SIGTERM or SIGINT: /readyz turns 503 (for shutdown.lame_duck first,
// while the listeners still accept), listeners stop accepting,
// requests and deliveries drain within shutdown.timeout, the log is
// flushed and the process exits 0. A second SIGTERM or SIGINT exits at
// once with 1. SIGHUP reloads the configuration (file and environment as
// at start, flags unchanged): reloadable settings apply, the others are
// logged as needing a restart.
package cli
