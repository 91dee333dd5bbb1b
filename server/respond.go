package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/latchkey/latchkey"
)

// httpStatus maps error codes to HTTP statuses: the one table.
var httpStatus = map[latchkey.ErrorCode]int{
	latchkey.EInvalid:        http.StatusBadRequest,
	latchkey.EUnauthorized:   http.StatusUnauthorized,
	latchkey.EForbidden:      http.StatusForbidden,
	latchkey.ENotFound:       http.StatusNotFound,
	latchkey.EConflict:       http.StatusConflict,
	latchkey.ETooLarge:       http.StatusRequestEntityTooLarge,
	latchkey.ERateLimited:    http.StatusTooManyRequests,
	latchkey.EUnavailable:    http.StatusServiceUnavailable,
	latchkey.ENotImplemented: http.StatusNotImplemented,
	latchkey.EInternal:       http.StatusInternalServerError,
}

// envelope is dbt Cloud's response shape.
type envelope struct {
	Status envStatus `json:"status"`
	Data   any       `json:"data"`
	Extra  any       `json:"extra,omitempty"`
}

type envStatus struct {
	Code             int    `json:"code"`
	IsSuccess        bool   `json:"is_success"`
	UserMessage      string `json:"user_message"`
	DeveloperMessage string `json:"developer_message"`
}

// listExtra is the extra member of list responses.
type listExtra struct {
	Filters    map[string]any `json:"filters"`
	OrderBy    string         `json:"order_by"`
	Pagination pagination     `json:"pagination"`
}

type pagination struct {
	Count      int `json:"count"`
	TotalCount int `json:"total_count"`
}

func writeJSONBody(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(true)
	_ = enc.Encode(v)
}

// respond writes a successful envelope.
func respond(w http.ResponseWriter, status int, data any, extra any) {
	writeJSONBody(w, status, envelope{Status: envStatus{Code: status, IsSuccess: true, UserMessage: "Success!"}, Data: data, Extra: extra})
}

// respondList writes a page of a list.
func respondList[T any](w http.ResponseWriter, items []T, total int, lp listParams) {
	if items == nil {
		items = []T{}
	}
	respond(w, http.StatusOK, items, listExtra{Filters: lp.filters, OrderBy: lp.orderBy,
		Pagination: pagination{Count: len(items), TotalCount: total}})
}

// errorStatus returns the HTTP status and user message for err; internal errors get a generic
// message carrying the request id.
func errorStatus(err error, requestID string) (int, *latchkey.Error) {
	var le *latchkey.Error
	if errors.As(err, &le) {
		return httpStatus[le.Code], le
	}
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return http.StatusRequestEntityTooLarge, &latchkey.Error{Code: latchkey.ETooLarge,
			Message: fmt.Sprintf("request body is larger than %d bytes", mbe.Limit)}
	}
	return http.StatusInternalServerError, &latchkey.Error{Code: latchkey.EInternal,
		Message: "internal error (request id " + requestID + ")"}
}

// writeError renders err as an envelope. Internal errors are logged with the request id; their
// text never reaches the apitype.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	st := state(r.Context())
	status, le := errorStatus(err, st.id)
	if status >= http.StatusInternalServerError {
		// The request's log line (one per request, at ERROR) carries the cause.
		st.err = err
	}
	if ra, ok := le.Data["retry_after_seconds"]; ok {
		w.Header().Set("Retry-After", fmt.Sprint(ra))
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Token realm="latchkey"`)
	}
	var data any
	if le.Data != nil || le.Field != "" {
		d := map[string]any{}
		for k, v := range le.Data {
			if k != "retry_after_seconds" {
				d[k] = v
			}
		}
		if le.Field != "" {
			d["field"] = le.Field
		}
		data = d
	}
	writeJSONBody(w, status, envelope{Status: envStatus{Code: status, UserMessage: le.Message,
		DeveloperMessage: string(le.Code)}, Data: data})
}

// apiFunc is a handler that returns an error instead of writing one.
type apiFunc func(w http.ResponseWriter, r *http.Request) error

func (s *Server) adapt(fn apiFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := fn(w, r); err != nil {
			s.writeError(w, r, err)
		}
	})
}

// decode reads one JSON value from the (size-capped) body into dst. Unknown fields are ignored,
// as the compatibility surface requires; wrong types name their field. Any Content-Type is
// accepted from token-authenticated callers (curl -d sends a form type); session-authenticated
// writes must say application/json (see authed).
func decode(r *http.Request, dst any) error {
	dec := json.NewDecoder(r.Body)
	dec.UseNumber()
	if err := dec.Decode(dst); err != nil {
		return decodeError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return decodeError(err)
		}
		return latchkey.Errorf(latchkey.EInvalid, "request body must hold a single JSON value")
	}
	return nil
}

func decodeError(err error) error {
	var mbe *http.MaxBytesError
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &mbe):
		return &latchkey.Error{Code: latchkey.ETooLarge, Message: fmt.Sprintf("request body is larger than %d bytes", mbe.Limit)}
	case errors.Is(err, io.EOF):
		return latchkey.Errorf(latchkey.EInvalid, "request body is empty; send a JSON object")
	case errors.As(err, &syn), errors.Is(err, io.ErrUnexpectedEOF):
		return latchkey.Errorf(latchkey.EInvalid, "request body is not valid JSON")
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			return latchkey.Errorf(latchkey.EInvalid, "request body must be a JSON %s", jsonKind(typ.Type.Kind().String()))
		}
		return latchkey.FieldError(field, "%s must be %s, not %s", field, jsonKind(typ.Type.Kind().String()), typ.Value)
	}
	return latchkey.Errorf(latchkey.EInvalid, "request body could not be read: %v", err)
}

func jsonKind(k string) string {
	switch {
	case strings.HasPrefix(k, "int"), strings.HasPrefix(k, "uint"), strings.HasPrefix(k, "float"):
		return "a number"
	case k == "string":
		return "a string"
	case k == "bool":
		return "true or false"
	case k == "slice", k == "array":
		return "an array"
	case k == "struct", k == "map", k == "ptr":
		return "an object"
	}
	return "a valid value"
}

// listParams are the common list query parameters.
type listParams struct {
	offset, limit int
	state         *latchkey.State
	filters       map[string]any
	// order is order_by parsed; orderBy its text, answered in extra.order_by.
	order   latchkey.Order
	orderBy string
}

// orderable are the order_by values of lists whose store sorts on latchkey.OrderFields.
var orderable = func() []string {
	var out []string
	for _, f := range latchkey.OrderFields {
		out = append(out, f, "-"+f)
	}
	return out
}()

// parseList reads limit, offset, state and order_by. State defaults to active; state=all lists
// both, and dbt's words active and deleted are read as 1 and 2. orders are the order_by values
// this list accepts; the first is its default.
func parseList(r *http.Request, orders ...string) (listParams, error) {
	q := r.URL.Query()
	lp := listParams{limit: latchkey.DefaultLimit, filters: map[string]any{}}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > latchkey.MaxLimit {
			return lp, latchkey.FieldError("limit", "limit must be an integer from 1 to %d", latchkey.MaxLimit)
		}
		lp.limit = n
	}
	if v := q.Get("offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return lp, latchkey.FieldError("offset", "offset must be a non-negative integer")
		}
		lp.offset = n
	}
	lp.filters["limit"], lp.filters["offset"] = lp.limit, lp.offset
	switch v := q.Get("state"); v {
	case "", "1", "active":
		st := latchkey.StateActive
		lp.state = &st
		lp.filters["state"] = 1
	case "2", "deleted":
		st := latchkey.StateDeleted
		lp.state = &st
		lp.filters["state"] = 2
	case "all":
		lp.filters["state"] = "all"
	default:
		return lp, latchkey.FieldError("state", "state must be 1 or active, 2 or deleted, or all")
	}
	lp.orderBy = orders[0]
	if q.Has("order_by") {
		lp.orderBy = q.Get("order_by")
		if !slices.Contains(orders, lp.orderBy) {
			return lp, latchkey.FieldError("order_by", "order_by must be one of %s", strings.Join(orders, ", "))
		}
	}
	lp.order = latchkey.Order{Field: strings.TrimPrefix(lp.orderBy, "-"), Desc: strings.HasPrefix(lp.orderBy, "-")}
	return lp, nil
}

// nameFilters reads dbt's name filters of a list: name (exact) and name__icontains (a part of
// the name, ignoring case).
func nameFilters(r *http.Request, lp listParams) (name, contains *string, err error) {
	q := r.URL.Query()
	for _, f := range []struct {
		key string
		dst **string
	}{{"name", &name}, {"name__icontains", &contains}} {
		if !q.Has(f.key) {
			continue
		}
		v := q.Get(f.key)
		if len(v) > 1024 {
			return nil, nil, latchkey.FieldError(f.key, "%s is longer than 1024 bytes", f.key)
		}
		*f.dst = &v
		lp.filters[f.key] = v
	}
	return name, contains, nil
}

// pathID parses a numeric path parameter; a malformed id is a 404, as no such object exists.
func pathID(r *http.Request, name string) (int64, error) {
	id, err := strconv.ParseInt(r.PathValue(name), 10, 64)
	if err != nil || id <= 0 {
		return 0, latchkey.Errorf(latchkey.ENotFound, "%s %q not found", strings.TrimSuffix(name, "_id"), r.PathValue(name))
	}
	return id, nil
}

// idempotencyKey reads a creation's Idempotency-Key header ("" when not sent); sent twice, it is
// refused rather than guessed.
func idempotencyKey(r *http.Request) (string, error) {
	vs := r.Header.Values("Idempotency-Key")
	if len(vs) > 1 {
		return "", latchkey.FieldError("Idempotency-Key", "send the Idempotency-Key header once")
	}
	if len(vs) == 0 {
		return "", nil
	}
	return vs[0], nil
}
