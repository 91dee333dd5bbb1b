package server

import (
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"testing"
)

// compatRow is one request row of docs/compatibility.md.
type compatRow struct {
	line         int
	method, path string
	served       bool
	golden       []string
}

var (
	compatCellSplit = regexp.MustCompile(`[^\\]\|`)
	compatRequest   = regexp.MustCompile("^`(GET|POST|PUT|PATCH|DELETE) (/[^`?]*)[^`]*`")
	compatGolden    = regexp.MustCompile("`([a-z0-9_]+)`")
	anyParam        = regexp.MustCompile(`\{[^}]*\}`)
)

// compatRows reads the rows of the tables whose first column is "Request (method path)".
func compatRows(t *testing.T, doc string) []compatRow {
	t.Helper()
	var rows []compatRow
	inTable := false
	for i, line := range strings.Split(doc, "\n") {
		switch {
		case strings.HasPrefix(line, "| Request (method path) |"):
			inTable = true
			continue
		case !strings.HasPrefix(line, "|"):
			inTable = false
			continue
		case !inTable || strings.HasPrefix(line, "|---"):
			continue
		}
		// Split on the pipes that are not escaped, keeping the character before each.
		var cells []string
		rest := line[1:]
		for {
			loc := compatCellSplit.FindStringIndex(rest)
			if loc == nil {
				break
			}
			cells = append(cells, strings.TrimSpace(rest[:loc[0]+1]))
			rest = rest[loc[1]:]
		}
		if len(cells) != 6 {
			t.Errorf("compatibility.md:%d: %d cells, want 6 (request, fields, response, status, golden tests, notes)", i+1, len(cells))
			continue
		}
		m := compatRequest.FindStringSubmatch(cells[0])
		if m == nil {
			t.Errorf("compatibility.md:%d: the request cell %q does not start with `METHOD /path`", i+1, cells[0])
			continue
		}
		row := compatRow{line: i + 1, method: m[1], path: "/api" + m[2]}
		switch status := cells[3]; {
		case strings.Contains(status, "not supported"):
		case strings.Contains(status, "supported"), strings.Contains(status, "accepted-and-stored"):
			row.served = true
		default:
			t.Errorf("compatibility.md:%d: status %q is none of supported, partially supported, accepted-and-stored, not supported", i+1, status)
		}
		for _, g := range compatGolden.FindAllStringSubmatch(cells[4], -1) {
			row.golden = append(row.golden, g[1])
		}
		rows = append(rows, row)
	}
	return rows
}

// samePath compares a route's path with a documented one, whatever the parameters are called
// and with the trailing slash latchkey adds.
func samePath(a, b string) bool {
	norm := func(p string) string {
		p = anyParam.ReplaceAllString(strings.TrimSuffix(p, "{$}"), "{}")
		if !strings.HasSuffix(p, "/") {
			p += "/"
		}
		return p
	}
	return norm(a) == norm(b)
}

// TestCompatibilityDoc checks docs/compatibility.md against the server: every row latchkey serves
// (supported, partially supported, accepted-and-stored) names golden cases that send that method
// to that path, and every row it does not serve is answered 501 — not a 404, which dbt's clients
// read as "deleted".
func TestCompatibilityDoc(t *testing.T) {
	doc, err := os.ReadFile("../docs/compatibility.md")
	if err != nil {
		t.Fatal(err)
	}
	rows := compatRows(t, string(doc))
	if len(rows) < 40 {
		t.Fatalf("read %d request rows from compatibility.md; the tables changed shape?", len(rows))
	}
	cases := map[string]goldenCase{}
	for _, c := range goldenCases {
		cases[c.name] = c
	}
	s, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	for _, row := range rows {
		for _, name := range row.golden {
			c, ok := cases[name]
			if !ok {
				t.Errorf("compatibility.md:%d names golden case %q, which does not exist", row.line, name)
				continue
			}
			method, path, found := strings.Cut(c.route, " ")
			if !found { // a route for every method (the 501s)
				method, path = c.method, c.route
				if !strings.HasPrefix(row.path, strings.Split(path, "{")[0]) {
					t.Errorf("compatibility.md:%d: golden case %q is served by %s, not %s", row.line, name, c.route, row.path)
				}
				continue
			}
			if c.method != "" {
				method = c.method
			}
			if method != row.method || !samePath(path, row.path) {
				t.Errorf("compatibility.md:%d documents %s %s but golden case %q sends %s %s", row.line, row.method, row.path, name, method, path)
			}
		}
		if row.served {
			if len(row.golden) == 0 {
				t.Errorf("compatibility.md:%d: %s %s is served but names no golden test", row.line, row.method, row.path)
			}
			continue
		}
		// Not served: whatever the parameters, latchkey answers 501.
		target := anyParam.ReplaceAllString(row.path, "1")
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, httptest.NewRequest(row.method, target, nil))
		if rec.Code != http.StatusNotImplemented {
			t.Errorf("compatibility.md:%d: %s %s is documented as not supported; the server answers %d, want 501", row.line, row.method, target, rec.Code)
		}
	}
}
