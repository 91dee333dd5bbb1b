package verify

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/latchkey/latchkey"
)

type principalKey struct{}

// WithPrincipal returns a context carrying p.
func WithPrincipal(ctx context.Context, p *latchkey.Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the principal Middleware stored in the context, or nil.
func PrincipalFrom(ctx context.Context) *latchkey.Principal {
	p, _ := ctx.Value(principalKey{}).(*latchkey.Principal)
	return p
}

// Middleware authenticates every request's "Authorization: Token <t>" (or Bearer) with the
// verifier, in process, and passes the principal on in the request context (PrincipalFrom).
// Requests without a valid token are answered 401 (403 when the token may not be used from the
// client's address) and never reach next. The client address is the connection's peer; put the
// middleware behind your own trusted-proxy handling if you need X-Forwarded-For.
func Middleware(v *Verifier, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := TokenFromHeader(r.Header.Get("Authorization"))
		if !ok {
			writeDenial(w, ErrMissing)
			return
		}
		p, err := v.Verify(r.Context(), token, peerAddr(r))
		if err != nil {
			writeDenial(w, err)
			return
		}
		next.ServeHTTP(w, r.WithContext(WithPrincipal(r.Context(), p)))
	})
}

// Require answers 403 unless the request's principal (set by Middleware) holds access on res.
// project extracts the project a request is about (nil or 0 for account-level resources).
func Require(res latchkey.Resource, access latchkey.Access, project func(*http.Request) int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var id int64
		if project != nil {
			id = project(r)
		}
		d := PrincipalFrom(r.Context()).Can(res, access, id, "")
		if !d.Allowed {
			writeDenial(w, d.Err())
			return
		}
		next.ServeHTTP(w, r)
	})
}

// TokenFromHeader extracts the token of an Authorization header value ("Token <t>" or
// "Bearer <t>", scheme case-insensitive).
func TokenFromHeader(h string) (string, bool) {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !(strings.EqualFold(scheme, "token") || strings.EqualFold(scheme, "bearer")) {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

func peerAddr(r *http.Request) netip.Addr {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, _ := netip.ParseAddr(host)
	return a.Unmap()
}

// writeDenial answers with the error's status and message, never the token.
func writeDenial(w http.ResponseWriter, err error) {
	status := http.StatusInternalServerError
	msg := "internal error"
	var le *latchkey.Error
	if errors.As(err, &le) {
		msg = le.Message
		switch le.Code {
		case latchkey.EUnauthorized:
			status = http.StatusUnauthorized
			w.Header().Set("WWW-Authenticate", `Token realm="latchkey"`)
		case latchkey.EForbidden:
			status = http.StatusForbidden
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg, "reason": Reason(err)})
}
