// Package file is the file connector: it synchronises a directory from an LDIF export
// (slapcat, ldifde) or a CSV file in the import template's columns, so a directory can
// be fed from a file drop and the quickstart runs with no server.
package file

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"go.uber.org/zap"

	"github.com/dirsync/dirsync/connectors"
	"github.com/dirsync/dirsync/connectors/dirmap"
)

// Config configures a file connector.
//
//	type: file
//	config:
//	  path: sample-directory.ldif   # relative to the config file
//	  format: ldif                  # ldif or csv; default from the extension
//	  preset: openldap              # ldif only: openldap (default) or ad
//	  mapping:                      # ldif only: override any preset attribute
//	    aliases: [mailAlternateAddress]
type Config struct {
	Path    string         `yaml:"path"`
	Format  string         `yaml:"format"`
	Preset  string         `yaml:"preset"`
	Mapping dirmap.Mapping `yaml:"mapping"`

	effective dirmap.Mapping
}

// New returns an empty Config for the registry.
func New() connectors.Config { return &Config{} }

// Prepare implements connectors.Config.
func (c *Config) Prepare(dir string) []error {
	var errs []error
	if c.Path == "" {
		errs = append(errs, connectors.Problem("path", "missing: the LDIF or CSV file to read"))
	} else if !filepath.IsAbs(c.Path) {
		c.Path = filepath.Join(dir, c.Path)
	}
	if c.Format == "" {
		switch strings.ToLower(filepath.Ext(c.Path)) {
		case ".csv":
			c.Format = "csv"
		default:
			c.Format = "ldif"
		}
	}
	switch c.Format {
	case "ldif":
		if c.Preset == "" {
			c.Preset = "openldap"
		}
		base, err := dirmap.Preset(c.Preset)
		if err != nil {
			errs = append(errs, connectors.Problem("preset", err.Error()))
			break
		}
		c.effective = base.Override(c.Mapping)
		errs = append(errs, c.effective.Check("mapping")...)
	case "csv":
		if c.Preset != "" {
			errs = append(errs, connectors.Problem("preset", "only applies to ldif files: remove it"))
		}
	default:
		errs = append(errs, connectors.Problem("format", fmt.Sprintf("%q: use ldif or csv", c.Format)))
	}
	return errs
}

// Open implements connectors.Config. The file need not exist yet: a missing file is
// a failed read at run time, not a configuration error.
func (c *Config) Open(name string, log *zap.Logger) (connectors.Source, error) {
	return &source{cfg: *c, log: log.Named("file").With(zap.String("path", c.Path))}, nil
}

type source struct {
	cfg Config
	log *zap.Logger
}

var (
	_ connectors.Source     = (*source)(nil)
	_ connectors.FieldOwner = (*source)(nil)
)

// Read implements connectors.Source.
func (s *source) Read(ctx context.Context, emit connectors.Emit) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	f, err := os.Open(s.cfg.Path)
	if err != nil {
		return fmt.Errorf("open source file: %w", err)
	}
	defer func() { _ = f.Close() }() // opened read-only: closing loses nothing
	if s.cfg.Format == "csv" {
		return readCSV(ctx, f, s.cfg.Path, s.log, emit)
	}
	return readLDIF(ctx, f, s.cfg.Path, s.cfg.effective, s.log, emit)
}

// Fields implements connectors.FieldOwner: an LDIF owns the mapped fields, a CSV
// the columns its header has.
func (s *source) Fields() []string {
	if s.cfg.Format == "csv" {
		return csvFields(s.cfg.Path)
	}
	return s.cfg.effective.Fields()
}

// Close implements connectors.Source.
func (s *source) Close() error { return nil }
