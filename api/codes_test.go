package api

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

// TestErrorCatalogue: every error code the API can send comes from the
// catalogue (the Code constants of types.go, which TestOpenAPIErrorCodes
// holds equal to the OpenAPI file's ErrorCode). The handlers and the
// adapters that fill HoldResult.Code (daemon/apiwire) are scanned: a code is
// set only from a Code constant, or passed on from a result inside a switch
// case that lists Code constants only.
func TestErrorCatalogue(t *testing.T) {
	catalogue := catalogueCodes(t)
	var files []string
	for _, pattern := range []string{"*.go", "../daemon/apiwire/*.go"} {
		m, err := filepath.Glob(pattern)
		require.NoError(t, err)
		for _, f := range m {
			if !strings.HasSuffix(f, "_test.go") {
				files = append(files, f)
			}
		}
	}
	require.Contains(t, files, "../daemon/apiwire/holds.go")
	fset := token.NewFileSet()
	var problems []string
	checked := 0
	for _, name := range files {
		f, err := parser.ParseFile(fset, name, nil, 0)
		require.NoError(t, err)
		local := f.Name.Name == "api"
		var stack []ast.Node
		check := func(e ast.Expr) {
			checked++
			if code, ok := codeConst(e, local); ok {
				if !slices.Contains(catalogue, code) {
					problems = append(problems, fset.Position(e.Pos()).String()+": "+code+" is not a catalogued Code constant")
				}
				return
			}
			if sel, ok := e.(*ast.SelectorExpr); ok && sel.Sel.Name == "Code" && inCodeCase(stack, local) {
				return
			}
			if id, ok := e.(*ast.Ident); ok && (assignedCodes(stack, id.Name, local) || statusParam(stack, id.Name)) {
				return
			}
			if sel, ok := e.(*ast.SelectorExpr); ok && sel.Sel.Name == "Code" && inFunc(stack) == "Classify" {
				// The answer classify chose: every apiError is built from a
				// checked code.
				return
			}
			problems = append(problems, fset.Position(e.Pos()).String()+": an error code that is not a Code constant")
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if n == nil {
				stack = stack[:len(stack)-1]
				return true
			}
			stack = append(stack, n)
			switch x := n.(type) {
			case *ast.KeyValueExpr:
				if k, ok := x.Key.(*ast.Ident); ok && k.Name == "Code" {
					check(x.Value)
				}
			case *ast.AssignStmt:
				for i, l := range x.Lhs {
					if sel, ok := l.(*ast.SelectorExpr); ok && sel.Sel.Name == "Code" && i < len(x.Rhs) {
						check(x.Rhs[i])
					}
				}
			case *ast.CallExpr:
				if id, ok := x.Fun.(*ast.Ident); ok && id.Name == "status" && local && len(x.Args) == 3 {
					check(x.Args[1])
				}
			}
			return true
		})
	}
	require.Greater(t, checked, 40, "the scan found the handlers' codes")
	require.Empty(t, problems, strings.Join(problems, "\n"))
}

// codeConst names the Code constant e refers to (CodeX here, api.CodeX
// elsewhere) and returns its value from the catalogue's source.
func codeConst(e ast.Expr, local bool) (string, bool) {
	var name string
	switch x := e.(type) {
	case *ast.Ident:
		if local {
			name = x.Name
		}
	case *ast.SelectorExpr:
		if pkg, ok := x.X.(*ast.Ident); ok && pkg.Name == "api" && !local {
			name = x.Sel.Name
		}
	}
	if !strings.HasPrefix(name, "Code") {
		return "", false
	}
	return name, true
}

// inCodeCase says the innermost case clause around the node being checked
// lists only Code constants (a result's code passed on once matched).
func inCodeCase(stack []ast.Node, local bool) bool {
	for i := len(stack) - 1; i >= 0; i-- {
		cc, ok := stack[i].(*ast.CaseClause)
		if !ok {
			continue
		}
		if len(cc.List) == 0 {
			return false
		}
		for _, e := range cc.List {
			if _, ok := codeConst(e, local); !ok {
				return false
			}
		}
		return true
	}
	return false
}

// inFunc names the function declaration around the node being checked.
func inFunc(stack []ast.Node) string {
	for i := len(stack) - 1; i >= 0; i-- {
		if fd, ok := stack[i].(*ast.FuncDecl); ok {
			return fd.Name.Name
		}
	}
	return ""
}

// assignedCodes says the variable name is assigned in the enclosing function,
// and only ever a Code constant.
func assignedCodes(stack []ast.Node, name string, local bool) bool {
	var fn *ast.FuncDecl
	for i := len(stack) - 1; i >= 0 && fn == nil; i-- {
		fn, _ = stack[i].(*ast.FuncDecl)
	}
	if fn == nil {
		return false
	}
	n, all := 0, true
	ast.Inspect(fn, func(x ast.Node) bool {
		as, ok := x.(*ast.AssignStmt)
		if !ok {
			return true
		}
		for i, l := range as.Lhs {
			if id, ok := l.(*ast.Ident); ok && id.Name == name && i < len(as.Rhs) {
				n++
				_, isCode := codeConst(as.Rhs[i], local)
				all = all && isCode
			}
		}
		return true
	})
	return n > 0 && all
}

// statusParam says name is a parameter of the function literal assigned to
// status, classify's helper, whose calls are checked instead.
func statusParam(stack []ast.Node, name string) bool {
	for i := len(stack) - 1; i > 0; i-- {
		lit, ok := stack[i].(*ast.FuncLit)
		if !ok {
			continue
		}
		as, ok := stack[i-1].(*ast.AssignStmt)
		if !ok || len(as.Lhs) != 1 {
			return false
		}
		if id, ok := as.Lhs[0].(*ast.Ident); !ok || id.Name != "status" {
			return false
		}
		for _, f := range lit.Type.Params.List {
			for _, n := range f.Names {
				if n.Name == name {
					return true
				}
			}
		}
		return false
	}
	return false
}

// catalogueCodes lists the names of the Code constants in types.go.
func catalogueCodes(t *testing.T) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), "types.go", nil, 0)
	require.NoError(t, err)
	var names []string
	ast.Inspect(f, func(n ast.Node) bool {
		if vs, ok := n.(*ast.ValueSpec); ok && strings.HasPrefix(vs.Names[0].Name, "Code") {
			names = append(names, vs.Names[0].Name)
		}
		return true
	})
	require.NotEmpty(t, names)
	return names
}

// TestOpenAPIHoldResultCodes: the codes a hold decision's result may carry
// are catalogued codes, and include apply_failed.
func TestOpenAPIHoldResultCodes(t *testing.T) {
	_, raw := loadOpenAPI(t)
	var doc struct {
		Components struct {
			Schemas map[string]struct {
				Properties map[string]struct {
					Enum []string `yaml:"enum"`
				} `yaml:"properties"`
			} `yaml:"schemas"`
		} `yaml:"components"`
	}
	require.NoError(t, yaml.Unmarshal([]byte(raw), &doc))
	codes := doc.Components.Schemas["HoldResult"].Properties["code"].Enum
	require.ElementsMatch(t, []string{CodeHoldNotFound, CodeHoldDecided, CodeHoldExpired, CodeApplyFailed}, codes)
}
