package server

import (
	"encoding/json"
	"flag"
	"os"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite docs/api.md from the endpoint table")

// TestEveryRouteIsDocumented checks that each API route the server registers has a row in
// apiDocs (and so in the OpenAPI document and docs/api.md), and each row a route.
func TestEveryRouteIsDocumented(t *testing.T) {
	s, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, d := range apiDocs {
		documented[d.Method+" "+d.Path] = true
	}
	registered := map[string]bool{"GET /v1/forward-auth": true} // dispatched ahead of the mux
	for _, p := range s.patterns {
		p = strings.TrimSuffix(p, "{$}")
		registered[p] = true
		if !documented[p] {
			t.Errorf("route %q has no row in apiDocs", p)
		}
	}
	for d := range documented {
		if !registered[d] {
			t.Errorf("apiDocs documents %q, which no route serves", d)
		}
	}
}

func TestOpenAPIDocument(t *testing.T) {
	doc := openAPI("test")
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	var back map[string]any
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	paths := back["paths"].(map[string]any)
	if _, ok := paths["/api/v3/accounts/{account_id}/service-tokens/"].(map[string]any)["post"]; !ok {
		t.Error("the OpenAPI document lacks POST service-tokens")
	}
	// Every $ref resolves.
	schemas := back["components"].(map[string]any)["schemas"].(map[string]any)
	for _, ref := range strings.Split(string(b), `"$ref":"#/components/schemas/`)[1:] {
		name := ref[:strings.IndexByte(ref, '"')]
		if _, ok := schemas[name]; !ok {
			t.Errorf("$ref to missing schema %q", name)
		}
	}
}

// TestAPIMarkdownUpToDate keeps docs/api.md equal to the endpoint table (go test -update
// rewrites it).
func TestAPIMarkdownUpToDate(t *testing.T) {
	want := apiMarkdown()
	const path = "../docs/api.md"
	if *update {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Errorf("docs/api.md is out of date with apiDocs; run: go test ./server -run TestAPIMarkdownUpToDate -update")
	}
}
