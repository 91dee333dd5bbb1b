package server

import (
	"net/http"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/apitype"
)

// handleAPIAuditLogList lists the account's audit entries, newest first. Filters: event_type
// (exact, or "prefix.*"), actor ("type:id" such as "service_token:4", or an actor name), since
// and until (RFC 3339; since inclusive, until exclusive); limit and offset page. The log is
// read-only: no route changes or deletes an entry.
func (s *Server) handleAPIAuditLogList(w http.ResponseWriter, r *http.Request, p *latchkey.Principal) error {
	lp, err := parseList(r, "-id")
	if err != nil {
		return err
	}
	delete(lp.filters, "state")
	q := r.URL.Query()
	f := latchkey.AuditFilter{Offset: lp.offset, Limit: lp.limit}
	if v := q.Get("event_type"); v != "" {
		f.EventType = &v
		lp.filters["event_type"] = v
	}
	if v := q.Get("actor"); v != "" {
		f.Actor = &v
		lp.filters["actor"] = v
	}
	for _, tf := range []struct {
		name string
		dst  **time.Time
	}{{"since", &f.Since}, {"until", &f.Until}} {
		v := q.Get(tf.name)
		if v == "" {
			continue
		}
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return latchkey.FieldError(tf.name, "%s must be an RFC 3339 time such as 2026-01-31T00:00:00Z", tf.name)
		}
		*tf.dst = &t
		lp.filters[tf.name] = v
	}
	entries, total, err := s.admin.AuditEntries(r.Context(), p, f)
	if err != nil {
		return err
	}
	out := make([]apitype.AuditEntry, len(entries))
	for i, e := range entries {
		out[i] = apitype.AuditEntryOf(e)
	}
	respondList(w, out, total, lp)
	return nil
}
