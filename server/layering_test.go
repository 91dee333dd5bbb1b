package server

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/latchkey/latchkey"
)

// storeWrites are the latchkey.Store methods that change something: every change goes through
// the admin layer, which checks and commits it.
func storeWrites() []string {
	var out []string
	st := reflect.TypeFor[latchkey.Store]()
	for i := range st.NumMethod() {
		name := st.Method(i).Name
		if strings.HasPrefix(name, "Find") || slices.Contains([]string{"Ping", "Close", "Subscribe", "AuditChain"}, name) {
			continue
		}
		out = append(out, name)
	}
	return out
}

// TestHandlersDecideNothing fails when server code (not tests) writes to the store directly or
// applies a rule that belongs to the admin layer (escalation checks), so that a rule cannot be
// written here a second time.
func TestHandlersDecideNothing(t *testing.T) {
	writes := storeWrites()
	if !slices.Contains(writes, "CreateToken") || !slices.Contains(writes, "InTx") || slices.Contains(writes, "FindTokenByHash") {
		t.Fatalf("storeWrites() = %v: the list of write methods is wrong", writes)
	}
	rules := []string{"CheckEscalation", "Gap", "ValidateGrant", "ValidateTokenGrant", "Compile"}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	checked := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		checked++
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			sel, ok := call.Fun.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			// s.store.X(…) and store.X(…) for X a write method.
			if inner, ok := sel.X.(*ast.SelectorExpr); ok && inner.Sel.Name == "store" && slices.Contains(writes, sel.Sel.Name) {
				t.Errorf("%s: calls store.%s directly; changes go through the admin layer", fset.Position(call.Pos()), sel.Sel.Name)
			}
			if pkg, ok := sel.X.(*ast.Ident); ok && pkg.Name == "catalog" && slices.Contains(rules, sel.Sel.Name) {
				t.Errorf("%s: calls catalog.%s; permission rules belong to the admin layer", fset.Position(call.Pos()), sel.Sel.Name)
			}
			return true
		})
	}
	if checked < 10 {
		t.Fatalf("checked %d files; run from the server package directory", checked)
	}
}
