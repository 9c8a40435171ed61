package api

import (
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pb33f/libopenapi-validator/schema_validation"
	v3 "github.com/pb33f/libopenapi/datamodel/high/v3"
	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// openapi.yaml is validated with a maintained OpenAPI 3.1 validator
// (pb33f/libopenapi and libopenapi-validator), and full examples of the wire
// types are validated against their schemas, so the file is both well formed
// and true to the JSON the daemon sends.

func openAPIModel(t *testing.T) *v3.Document {
	t.Helper()
	raw, err := os.ReadFile("openapi.yaml")
	require.NoError(t, err)
	doc, err := libopenapi.NewDocument(raw)
	require.NoError(t, err)
	model, err := doc.BuildV3Model()
	require.NoError(t, err, "libopenapi builds the model without errors")
	return &model.Model
}

// TestOpenAPIValid validates the file against the OpenAPI 3.1 specification.
func TestOpenAPIValid(t *testing.T) {
	raw, err := os.ReadFile("openapi.yaml")
	require.NoError(t, err)
	doc, err := libopenapi.NewDocument(raw)
	require.NoError(t, err)
	_, err = doc.BuildV3Model()
	require.NoError(t, err)
	v, errs := validator.NewValidator(doc)
	require.Empty(t, errs)
	ok, verrs := v.ValidateDocument()
	var msgs []string
	for _, e := range verrs {
		msgs = append(msgs, fmt.Sprintf("%s: %s (line %d)", e.Message, e.Reason, e.SpecLine))
		for _, f := range e.SchemaValidationErrors {
			msgs = append(msgs, fmt.Sprintf("  %s at %s (line %d)", f.Reason, f.FieldPath, f.Line))
		}
	}
	require.True(t, ok, strings.Join(msgs, "\n"))
	require.Empty(t, msgs)
}

// schemaKeywords are the keywords openapi.yaml's schemas may use. JSON Schema
// ignores unknown keywords, so the validator cannot see a stray key: an
// unquoted description with a comma inside a flow mapping ({ description: a,
// b }) silently becomes a key "b".
var schemaKeywords = []string{"type", "format", "description", "enum", "default", "required", "properties",
	"additionalProperties", "items", "allOf", "oneOf", "anyOf", "$ref", "minimum", "maximum", "minItems",
	"maxItems", "minLength", "maxLength", "pattern", "readOnly", "writeOnly", "example", "examples", "const",
	"nullable", "deprecated", "title"}

// TestOpenAPINoStrayKeys: no mapping in the file has a key without a value,
// and every schema uses known keywords only.
func TestOpenAPINoStrayKeys(t *testing.T) {
	raw, err := os.ReadFile("openapi.yaml")
	require.NoError(t, err)
	var root yaml.Node
	require.NoError(t, yaml.Unmarshal(raw, &root))
	var problems []string
	var walk func(n *yaml.Node, path string, schema bool)
	walk = func(n *yaml.Node, path string, schema bool) {
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(c, path, false)
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				walk(c, fmt.Sprintf("%s[%d]", path, i), schema)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				k, v := n.Content[i], n.Content[i+1]
				at := path + "/" + k.Value
				if v.Tag == "!!null" {
					problems = append(problems, fmt.Sprintf("line %d: %s has no value (a stray key?)", k.Line, at))
				}
				if schema && !slices.Contains(schemaKeywords, k.Value) {
					problems = append(problems, fmt.Sprintf("line %d: %s is not a schema keyword", k.Line, at))
				}
				switch {
				case schema && k.Value == "properties":
					for j := 0; j+1 < len(v.Content); j += 2 {
						walk(v.Content[j+1], at+"/"+v.Content[j].Value, true)
					}
				case schema && (k.Value == "items" || k.Value == "additionalProperties" ||
					k.Value == "allOf" || k.Value == "oneOf" || k.Value == "anyOf"):
					walk(v, at, v.Kind != yaml.ScalarNode)
				case k.Value == "schema":
					walk(v, at, true)
				case path == "/components" && k.Value == "schemas":
					for j := 0; j+1 < len(v.Content); j += 2 {
						walk(v.Content[j+1], at+"/"+v.Content[j].Value, true)
					}
				case schema:
					// enum, required, examples: values, not schemas.
				default:
					walk(v, at, false)
				}
			}
		}
	}
	walk(&root, "", false)
	require.Empty(t, problems, strings.Join(problems, "\n"))
}

// wireExamples are full examples of the wire types (every field set), by
// schema name: each must validate against its schema.
func wireExamples() map[string]any {
	at := time.Date(2025, 3, 1, 9, 5, 0, 0, time.UTC)
	change := Change{Action: "update", Kind: "user", Address: "ann@example.com", Origin: "corp", Anchor: "a1",
		Changes: []FieldChange{{Field: "title", Before: "Engineer", After: "Lead"}}, Reason: "changed in the source"}
	q := QuarantineEntry{Record: "uid=bob", Field: "mail", Reason: "not an address", Fix: "correct the value in the source"}
	op := Operation{Change: change, Outcome: OutcomeFailed, Error: "refused"}
	run := Run{RunID: "r1", Connector: "corp", Status: RunPending, Full: true, DryRun: true, Started: at, Finished: at,
		Counts: map[string]int{"create": 1}, Error: "x", RequestedBy: []string{"api"}, Triggers: 2,
		Progress: &RunProgress{Stage: StageApply, Read: 3, Applied: 1, Total: 2, Updated: at}}
	report := RunReport{RunID: "r1", Connector: "corp", Status: RunPartial, Full: true,
		Counts: RunCounts{Create: 1, Update: 1, Disable: 1, Enable: 1, Delete: 1, Unchanged: 1, Joined: 1, Quarantined: 1,
			Held: 1, Protected: 1},
		Operations: []Operation{op}, OperationsOmitted: 2, Outcomes: map[string]map[string]int{"failed": {"update": 3}},
		Held: []Operation{op}, Protected: []Operation{op}, HoldReason: "brakes",
		Quarantined: []QuarantineEntry{q}, Warnings: []QuarantineEntry{q}, Errors: []string{"x"},
		Retries: []Retry{{Anchor: "a1", Address: "ann@example.com", Attempts: 2, LastError: "refused", NextAttempt: at,
			GivenUp: true}},
		Started: at, Finished: at}
	explanation := Explanation{Connector: "corp", Key: "ann@example.com",
		Read:  ExplainRead{Query: "ldapsearch", Attributes: map[string][]string{"mail": {"ann@example.com"}}},
		Scope: ExplainScope{InScope: true, Checks: []ScopeCheck{{Rule: "base_dn", Admitted: true, Detail: "under it"}}},
		Normalise: ExplainNormalise{OK: true, Record: &ExplainRecord{Kind: "user", Ref: "uid=ann", Anchor: "a1",
			Address: "ann@example.com", Aliases: []string{"a@example.com"}, DisplayName: "Ann", GivenName: "Ann",
			Surname: "Lee", Phone: "1", Department: "R&D", Title: "Lead", Enabled: true, Members: []string{"m"},
			JoinAnchor: "j", Deleted: true}, Quarantined: []QuarantineEntry{q}, Warnings: []QuarantineEntry{q}},
		Join: ExplainJoin{By: JoinByAnchor, Detail: "anchor a1", User: &JoinedUser{Address: "ann@example.com", Kind: "user",
			Origin: "corp", Anchor: "a1", Enabled: true, Protected: "admin"},
			Cached:  &CachedEntry{Fingerprint: "f", Kind: "user", Address: "ann@example.com", Ref: "uid=ann", Missing: 1, Gone: true},
			Changed: true},
		Plan:  ExplainPlan{Summary: "update", Operations: []PlannedOp{{Change: change, Note: "held"}}, Refused: []QuarantineEntry{q}},
		Apply: &report}
	hold := Hold{ID: "h1", Connector: "corp", RunID: "r1", Reason: "brakes", Created: at, Action: "disable", Kind: "user",
		Address: "ann@example.com", Changes: []FieldChange{{Field: "enabled", Before: true, After: false}},
		Status: HoldApplied, Decided: at, By: "admin", Error: "x"}
	return map[string]any{
		"RunReport":   report,
		"Explanation": explanation,
		"Run":         run,
		"RunDetail":   RunDetail{Run: run, Report: &report},
		"Triggered": Triggered{Runs: []TriggeredRun{{Connector: "corp", RunID: "r1", Queued: true, Forwarded: true,
			Report: &report, Run: &run}}},
		"Hold":        hold,
		"HoldResults": HoldResults{Results: []HoldResult{{ID: "h1", Status: HoldExpired, Code: CodeApplyFailed, Error: "x"}}},
	}
}

// TestOpenAPIExamplesMatchSchemas validates a full example of each wire type
// against its schema: types, formats, enums and required fields agree.
func TestOpenAPIExamplesMatchSchemas(t *testing.T) {
	model := openAPIModel(t)
	sv := schema_validation.NewSchemaValidator()
	for name, v := range wireExamples() {
		t.Run(name, func(t *testing.T) {
			requireFull(t, reflect.ValueOf(v), name)
			proxy := model.Components.Schemas.GetOrZero(name)
			require.NotNil(t, proxy, "schema %s", name)
			schema := proxy.Schema()
			require.NotNil(t, schema, "schema %s: %v", name, proxy.GetBuildError())
			body, err := json.Marshal(v)
			require.NoError(t, err)
			ok, errs := sv.ValidateSchemaBytes(schema, body)
			var msgs []string
			for _, e := range errs {
				msgs = append(msgs, e.Message+": "+e.Reason)
				for _, f := range e.SchemaValidationErrors {
					msgs = append(msgs, "  "+f.Reason+" at "+f.FieldPath)
				}
			}
			require.True(t, ok, "%s\n%s", body, strings.Join(msgs, "\n"))
		})
	}
}

// requireFull fails on a zero field or an empty slice or map anywhere in v,
// so that an example grows with its type.
func requireFull(t *testing.T, v reflect.Value, path string) {
	t.Helper()
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		require.False(t, v.IsNil(), "%s is not set in the example", path)
		requireFull(t, v.Elem(), path)
	case reflect.Struct:
		if v.Type() == reflect.TypeOf(time.Time{}) {
			require.False(t, v.Interface().(time.Time).IsZero(), "%s is not set in the example", path)
			return
		}
		for i := range v.NumField() {
			requireFull(t, v.Field(i), path+"."+v.Type().Field(i).Name)
		}
	case reflect.Slice, reflect.Map:
		require.Positive(t, v.Len(), "%s is empty in the example", path)
		if v.Kind() == reflect.Slice {
			for i := range v.Len() {
				requireFull(t, v.Index(i), fmt.Sprintf("%s[%d]", path, i))
			}
		}
	case reflect.Bool:
		// false is a value like true: nothing to require.
	default:
		require.False(t, v.IsZero(), "%s is not set in the example", path)
	}
}
