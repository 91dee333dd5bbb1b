package server

import (
	"fmt"
	"strings"
)

// apiMarkdown renders docs/api.md from apiDocs.
func apiMarkdown() string {
	var b strings.Builder
	b.WriteString(`# latchkey HTTP API

Generated from the server's endpoint table (server/openapi.go); the same table produces the
OpenAPI document served at ` + "`/api/openapi.json`" + `. Regenerate with
` + "`go test ./server -run TestAPIMarkdownUpToDate -update`" + `.

## Conventions

- **Authentication**: ` + "`Authorization: Token <token>`" + ` or ` + "`Bearer <token>`" + ` (scheme case-insensitive), with a
  service token or a personal access token; the web UI's session cookie also works (JSON writes
  must then send ` + "`Content-Type: application/json`" + `). Missing or bad credentials are a 401.
- **Envelope**: every admin-API response is
  ` + "`{\"status\": {\"code\", \"is_success\", \"user_message\", \"developer_message\"}, \"data\": …, \"extra\": …}`" + `.
  Errors carry a specific ` + "`user_message`" + `; 400s name the field in ` + "`data.field`" + `; 403s name the missing
  permission ("requires service_tokens:write"); IP-restricted requests get 403 with
  ` + "`data.account_access_denied: true`" + `; 500s show a request id (also in the ` + "`X-Request-Id`" + ` header).
- **Lists** take ` + "`limit`" + ` (1–100, default 100), ` + "`offset`" + ` and ` + "`state`" + ` (1 active — the default —, 2 deleted, or
  ` + "`all`" + `) and report ` + "`extra.pagination.count`" + ` and ` + "`total_count`" + `. A deleted object still reads by id with
  ` + "`state: 2`" + `.
- **Compatibility**: paths follow dbt Cloud's admin API; the trailing slash is optional; updates
  accept POST as well as PUT on ` + "`…/{id}/`" + `; unknown body fields and query parameters are ignored,
  but every field latchkey uses is validated (an ` + "`account_id`" + ` in a body that differs from the path
  is a 400). Bodies are capped at 1 MiB (413).
- **Extensions** are latchkey's own additions, marked below.

`)
	tag := ""
	for _, d := range apiDocs {
		if d.Tag != tag {
			tag = d.Tag
			fmt.Fprintf(&b, "\n## %s\n\n| Method | Path | What it does | Needs |\n|---|---|---|---|\n", tag)
		}
		what := d.Summary
		if d.Extension {
			what += " *(extension)*"
		}
		fmt.Fprintf(&b, "| %s | `%s` | %s | %s |\n", d.Method, d.Path, strings.ReplaceAll(what, "|", "\\|"), d.Needs)
	}
	return b.String()
}
