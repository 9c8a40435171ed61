package config

import (
	"fmt"
	"reflect"
	"strings"

	"gopkg.in/yaml.v3"
)

// SecretRef is one secret reference of a loaded configuration, at its YAML path.
type SecretRef struct {
	Path   string // e.g. "connectors[0].ldap.bind_password"
	Secret Secret
}

var (
	secretType = reflect.TypeFor[Secret]()
	// nodeType: a connector's raw section, walked once decoded (Connector.Source).
	nodeType = reflect.TypeFor[yaml.Node]()
)

// Secrets lists every secret reference the configuration sets, the connectors'
// own sections included, in file order. `dirsync config check` resolves each one.
func (c *Config) Secrets() []SecretRef {
	var refs []SecretRef
	walkSecrets(reflect.ValueOf(*c), "", &refs)
	for i, cc := range c.Connectors {
		if cc.Source == nil {
			continue
		}
		walkSecrets(reflect.ValueOf(cc.Source), fmt.Sprintf("connectors[%d].%s", i, cc.Type), &refs)
	}
	return refs
}

// walkSecrets follows exported struct fields by their yaml names (skipping
// `yaml:"-"` ones), slices and pointers, collecting the Secrets that are set.
func walkSecrets(v reflect.Value, path string, refs *[]SecretRef) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			walkSecrets(v.Elem(), path, refs)
		}
	case reflect.Struct:
		if v.Type() == secretType {
			if s := v.Interface().(Secret); s.IsSet() {
				*refs = append(*refs, SecretRef{Path: path, Secret: s})
			}
			return
		}
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			name, opts, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if !f.IsExported() || name == "-" || f.Type == nodeType {
				continue
			}
			switch {
			case opts == "inline":
				walkSecrets(v.Field(i), path, refs)
			case name == "":
				walkSecrets(v.Field(i), joinPath(path, strings.ToLower(f.Name)), refs)
			default:
				walkSecrets(v.Field(i), joinPath(path, name), refs)
			}
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			walkSecrets(v.Index(i), fmt.Sprintf("%s[%d]", path, i), refs)
		}
	}
}
