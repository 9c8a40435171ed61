package main

import (
	"cmp"
	"io"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/dirsync/dirsync/config"
	"github.com/dirsync/dirsync/connectors/registry"
	"github.com/dirsync/dirsync/internal/memlimit"
)

// loadConfig loads the config file and builds the one root logger from it;
// logLevel, when set, overrides log.level.
func loadConfig(path string, logOut io.Writer, logLevel string) (*config.Config, *zap.Logger, error) {
	if path == "" {
		return nil, nil, usageError("--config is required (try deploy/examples/quickstart.yaml)")
	}
	cfg, err := config.Load(path, registry.Builtin())
	if err != nil {
		return nil, nil, err
	}
	cfg.Log.Level = cmp.Or(logLevel, cfg.Log.Level)
	log, err := newLogger(cfg.Log, logOut)
	if err != nil {
		return nil, nil, err
	}
	// A run's heap grows with the directory: the collector keeps less
	// headroom over what is live (GOGC in the environment wins), and in a
	// container it works harder near the limit rather than the OOM killer
	// ending the process (GOMEMLIMIT in the environment wins).
	memlimit.SetGCPercent()
	if limit, err := memlimit.Set(); err != nil {
		log.Warn("container memory limit not read; the Go runtime has no memory limit (set GOMEMLIMIT)", zap.Error(err))
	} else if limit > 0 {
		log.Info("Go memory limit set from the container's", zap.Int64("bytes", limit), zap.Float64("fraction", memlimit.Fraction))
	}
	return cfg, log, nil
}

// newLogger builds the one root logger: JSON by default, console for a terminal.
func newLogger(c config.Log, out io.Writer) (*zap.Logger, error) {
	level, err := zapcore.ParseLevel(c.Level)
	if err != nil {
		return nil, usageError("log level %q: use debug, info, warn or error", c.Level)
	}
	enc := zap.NewProductionEncoderConfig()
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	var encoder zapcore.Encoder
	if c.Format == "console" {
		enc.EncodeLevel = zapcore.CapitalLevelEncoder
		encoder = zapcore.NewConsoleEncoder(enc)
	} else {
		encoder = zapcore.NewJSONEncoder(enc)
	}
	return zap.New(zapcore.NewCore(encoder, zapcore.AddSync(out), level)), nil
}
