package api

import (
	"reflect"
	"sort"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestOpenAPIConfigCheckSchemas: the check's schemas have the JSON fields of
// their types.
func TestOpenAPIConfigCheckSchemas(t *testing.T) {
	doc, _ := loadOpenAPI(t)
	for name, v := range map[string]any{"ConfigCheck": ConfigCheck{}, "CheckLine": CheckLine{}} {
		schema, ok := doc.Components.Schemas[name]
		require.True(t, ok, "schema %s", name)
		var props []string
		for p := range schema.Properties {
			props = append(props, p)
		}
		sort.Strings(props)
		fields := jsonFields(reflect.TypeOf(v))
		sort.Strings(fields)
		require.Equal(t, fields, props, "schema %s and type %s", name, reflect.TypeOf(v).Name())
	}
}
