package main

import (
	"context"
	"io"

	"github.com/dirsync/dirsync/daemon"
)

// cmdServe hands over to the daemon: SIGTERM (or an interrupt) stops it (see
// interruptible), SIGHUP reloads the configuration.
func cmdServe(ctx context.Context, args []string, _, stderr io.Writer) error {
	fs := newFlagSet("serve", stderr)
	cfgPath := fs.String("config", "", "configuration file")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	cfg, log, err := loadConfig(*cfgPath, stderr, "")
	if err != nil {
		return err
	}
	d, err := daemon.Open(ctx, cfg, log, daemon.Options{ConfigPath: *cfgPath, Version: version()})
	if err != nil {
		return err
	}
	return d.Run(ctx)
}
