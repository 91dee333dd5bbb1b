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
  ` + "`data.account_access_denied: true`" + `; 500s show a request id (also in the ` + "`X-Request-Id`" + ` header) and
  mean a bug. When storage cannot answer now (unreachable, read-only, disk full, a lock or a
  timeout) the answer is 503 with ` + "`Retry-After`" + ` and a message that says which; retry it.
- **Lists** take ` + "`limit`" + ` (1–100, default 100), ` + "`offset`" + ` and ` + "`state`" + ` (1 or ` + "`active`" + ` — the default —, 2 or
  ` + "`deleted`" + `, or ` + "`all`" + `) and report ` + "`extra.pagination.count`" + ` and ` + "`total_count`" + `. Projects, groups, service tokens
  and personal access tokens also take ` + "`order_by`" + ` (` + "`id`" + `, ` + "`name`" + `, ` + "`created_at`" + ` or ` + "`updated_at`" + `; ` + "`-`" + ` in front for
  descending; names sort by their bytes) and, projects and groups, ` + "`name`" + ` (exact) and ` + "`name__icontains`" + `.
  The order is answered in ` + "`extra.order_by`" + `. A deleted object still reads by id with ` + "`state: 2`" + `; an
  update with ` + "`\"state\": 2`" + ` deletes (projects, groups, service tokens, IP rules).
- **Compatibility**: paths follow dbt Cloud's admin API; the trailing slash is optional; updates
  accept POST as well as PUT on ` + "`…/{id}/`" + `; unknown body fields and query parameters are ignored,
  but every field latchkey uses is validated (an ` + "`account_id`" + ` in a body that differs from the path
  is a 400). Bodies are capped at 1 MiB (413).
- **Grants name their scope**: every grant carries ` + "`\"all_projects\": true`" + `, or the ` + "`project_id`" + ` of a live
  project of the account. A grant with neither — a missing or misspelt key, ` + "`project_id: 0`" + ` — is a 400
  naming ` + "`project_id`" + `; it is never widened to all projects.
- **No escalation, no acting above one's access**: a caller grants only what it holds itself; it
  changes a user's license, groups or tokens, or a service token, only when it holds everything
  that user or token holds (a security admin cannot touch an account admin); a license or a group
  joined hands out access, so the caller must hold that too. Refusals are 403s that name what is
  missing.
- **Every account keeps an owner**: an active user with a developer license who holds
  ` + "`account_admin`" + ` on all projects through an active group. A change that would remove the last one
  (license, removal, group membership, group grants, group deletion) is a 409 that says so.
- **Names** (accounts, projects, groups, tokens, IP rules) are trimmed and must be 1–255 characters
  (Unicode characters, not bytes) without control characters (NUL, line breaks, tabs) or
  characters that change text direction (U+202A–U+202E, U+2066–U+2069, U+200E/F, U+061C); project
  names are unique among an account's active projects (409).
- **Changes are atomic**: each request's change and its audit entries commit in one transaction.
  A request has ` + "`--request-timeout`" + ` (30 s) to finish; a change not committed by then is rolled back
  and answered 503, so nothing commits that its client was not told about.
- **Retrying a token creation** is safe with an ` + "`Idempotency-Key`" + ` header (1–255 visible ASCII
  characters, e.g. a UUID) on ` + "`POST …/service-tokens/`" + ` or ` + "`POST …/account-apikeys/`" + `: the same caller
  sending the same key within 24 hours creates nothing and gets 409 with ` + "`data.token_id`" + ` (the token
  string was in the first answer only; if that was lost, rotate the token).
- **Client address**: the socket peer, or — when the peer is in ` + "`--trusted-proxies`" + ` — the right-most
  address in ` + "`X-Forwarded-For`" + ` / ` + "`Forwarded`" + ` that is not a trusted proxy. An entry that is not an
  address, or the two headers naming different clients, is a 400, never the proxy's own address.
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
	b.WriteString("\n## Not supported\n\nThese parts of dbt Cloud's API answer 501 with the envelope (`status.code: 501`), every method and\n" +
		"everything below the path, so that dbt's clients report an error instead of reading a 404 as\n" +
		"\"deleted\". See [compatibility.md](compatibility.md).\n\n| Path | What |\n|---|---|\n")
	for _, u := range unsupportedAPI {
		fmt.Fprintf(&b, "| `%s…` | %s |\n", u.path, u.what)
	}
	return b.String()
}
