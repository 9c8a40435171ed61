package api

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// The OpenAPI file is checked against the code so the two cannot drift: the
// same routes, the same public routes, the same error codes, the same fields.

type oaOperation struct {
	Security   *[]map[string][]string `yaml:"security"`
	Parameters []map[string]any       `yaml:"parameters"`
	Responses  map[string]any         `yaml:"responses"`
}

type oaDoc struct {
	OpenAPI    string                          `yaml:"openapi"`
	Paths      map[string]map[string]yaml.Node `yaml:"paths"`
	Components struct {
		Schemas map[string]struct {
			Properties map[string]any `yaml:"properties"`
			Enum       []string       `yaml:"enum"`
		} `yaml:"schemas"`
	} `yaml:"components"`
}

var httpMethods = []string{"get", "put", "post", "delete", "patch", "head", "options"}

func loadOpenAPI(t *testing.T) (oaDoc, string) {
	t.Helper()
	raw, err := os.ReadFile("openapi.yaml")
	require.NoError(t, err)
	var doc oaDoc
	require.NoError(t, yaml.Unmarshal(raw, &doc))
	require.True(t, strings.HasPrefix(doc.OpenAPI, "3.1"), doc.OpenAPI)
	return doc, string(raw)
}

func TestOpenAPIHasEveryRoute(t *testing.T) {
	doc, _ := loadOpenAPI(t)
	var documented []string
	ops := map[string]oaOperation{}
	for path, item := range doc.Paths {
		for method, node := range item {
			if !slices.Contains(httpMethods, method) {
				continue
			}
			key := strings.ToUpper(method) + " " + path
			documented = append(documented, key)
			var op oaOperation
			require.NoError(t, node.Decode(&op), key)
			ops[key] = op
		}
	}
	var served []string
	for _, rt := range (&server{}).routes() {
		key := rt.method + " " + rt.path
		served = append(served, key)
		op, ok := ops[key]
		if !ok {
			continue
		}
		public := op.Security != nil && len(*op.Security) == 0
		require.Equal(t, rt.access.public, public, "%s: security: [] marks exactly the public routes", key)
		has2xx := false
		for code := range op.Responses {
			has2xx = has2xx || strings.HasPrefix(code, "2")
		}
		require.True(t, has2xx, "%s documents its success", key)
		if !rt.access.public {
			require.Contains(t, op.Responses, "401", key)
			require.Contains(t, op.Responses, "403", key)
		}
	}
	sort.Strings(documented)
	sort.Strings(served)
	require.Equal(t, served, documented, "routes served and routes in openapi.yaml")
}

func TestOpenAPIRefsResolve(t *testing.T) {
	_, raw := loadOpenAPI(t)
	var doc map[string]any
	require.NoError(t, yaml.Unmarshal([]byte(raw), &doc))
	comps := doc["components"].(map[string]any)
	for _, m := range regexp.MustCompile(`\$ref: "#/components/(\w+)/(\w+)"`).FindAllStringSubmatch(raw, -1) {
		section, ok := comps[m[1]].(map[string]any)
		require.True(t, ok, m[0])
		require.Contains(t, section, m[2], m[0])
	}
}

// TestOpenAPIErrorCodes compares the ErrorCode enum with the Code constants
// of types.go.
func TestOpenAPIErrorCodes(t *testing.T) {
	_, raw := loadOpenAPI(t)
	var doc struct {
		Components struct {
			Schemas struct {
				ErrorCode struct {
					Enum []string `yaml:"enum"`
				} `yaml:"ErrorCode"`
			} `yaml:"schemas"`
		} `yaml:"components"`
	}
	require.NoError(t, yaml.Unmarshal([]byte(raw), &doc))

	f, err := parser.ParseFile(token.NewFileSet(), "types.go", nil, 0)
	require.NoError(t, err)
	var codes []string
	ast.Inspect(f, func(n ast.Node) bool {
		vs, ok := n.(*ast.ValueSpec)
		if !ok || !strings.HasPrefix(vs.Names[0].Name, "Code") || len(vs.Values) != 1 {
			return true
		}
		lit, ok := vs.Values[0].(*ast.BasicLit)
		require.True(t, ok, vs.Names[0].Name)
		s, err := strconv.Unquote(lit.Value)
		require.NoError(t, err)
		codes = append(codes, s)
		return true
	})
	require.NotEmpty(t, codes)
	got := slices.Sorted(slices.Values(doc.Components.Schemas.ErrorCode.Enum))
	require.Equal(t, slices.Sorted(slices.Values(codes)), got)
}

// TestOpenAPISchemasMatchTypes compares each schema's properties with the JSON
// fields of the Go type it describes.
func TestOpenAPISchemasMatchTypes(t *testing.T) {
	doc, _ := loadOpenAPI(t)
	types := map[string]any{
		"Domain": Domain{}, "DomainList": DomainList{}, "User": User{}, "UserList": UserList{},
		"CreateUser": CreateUser{}, "UpdateUser": UpdateUser{}, "Register": Register{}, "Invite": Invite{},
		"Invitation": Invitation{}, "Redeem": Redeem{}, "Login": Login{}, "LoginResult": LoginResult{},
		"ChangePassword": ChangePassword{}, "Status": Status{}, "SyncTouch": SyncTouch{}, "SetRoles": SetRoles{},
		"Role": Role{}, "RoleList": RoleList{}, "ImportResult": ImportResult{}, "ImportProblem": ImportProblem{},
		"FieldProblem": FieldProblem{}, "TriggerSync": TriggerSync{}, "Triggered": Triggered{}, "Run": Run{}, "RunProgress": RunProgress{},
		"RunList": RunList{}, "Error": ErrorBody{}, "ExplainRequest": ExplainRequest{}, "Explanation": Explanation{},
		"TriggeredRun": TriggeredRun{}, "RunReport": RunReport{}, "RunCounts": RunCounts{}, "Operation": Operation{},
		"FieldChange": FieldChange{}, "QuarantineEntry": QuarantineEntry{}, "Retry": Retry{}, "Hold": Hold{},
		"HoldResult": HoldResult{}, "ExplainRead": ExplainRead{}, "ExplainScope": ExplainScope{}, "ScopeCheck": ScopeCheck{},
		"ExplainNormalise": ExplainNormalise{}, "ExplainRecord": ExplainRecord{}, "ExplainJoin": ExplainJoin{},
		"JoinedUser": JoinedUser{}, "CachedEntry": CachedEntry{}, "ExplainPlan": ExplainPlan{}, "PlannedOp": PlannedOp{},
	}
	for name, v := range types {
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

// TestOpenAPIRunStates compares GET /v1/runs's state values, and the
// RunStatus schema status= takes, with the run statuses the handler accepts.
func TestOpenAPIRunStates(t *testing.T) {
	doc, _ := loadOpenAPI(t)
	node := doc.Paths["/v1/runs"]["get"]
	var op struct {
		Parameters []struct {
			Name   string `yaml:"name"`
			In     string `yaml:"in"`
			Schema struct {
				Enum []string `yaml:"enum"`
			} `yaml:"schema"`
		} `yaml:"parameters"`
	}
	require.NoError(t, node.Decode(&op))
	var names []string
	for _, p := range op.Parameters {
		names = append(names, p.Name)
		if p.Name == "state" {
			require.Equal(t, "query", p.In)
			require.Equal(t, []string{string(RunRunning), string(RunPending)}, p.Schema.Enum)
		}
	}
	require.ElementsMatch(t, []string{"connector", "limit", "state", "status", "cursor"}, names)
	var statuses []string
	for _, st := range RunStatuses {
		statuses = append(statuses, string(st))
	}
	require.ElementsMatch(t, statuses, doc.Components.Schemas["RunStatus"].Enum)
}

// jsonFields lists the JSON names of struct type t, embedded structs' fields
// included (encoding/json flattens them).
func jsonFields(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		switch {
		case f.Anonymous && name == "":
			out = append(out, jsonFields(f.Type)...)
		case name != "" && name != "-":
			out = append(out, name)
		}
	}
	return out
}
