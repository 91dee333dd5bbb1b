package server

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/password"
)

//go:embed ui/*.html ui/static/*
var uiFS embed.FS

// uiTemplates holds one parsed template set per page, each with the shared layout.
type uiTemplates struct {
	pages map[string]*template.Template
}

func parseTemplates() (*uiTemplates, error) {
	layout, err := fs.ReadFile(uiFS, "ui/layout.html")
	if err != nil {
		return nil, err
	}
	pages, err := fs.Glob(uiFS, "ui/*.html")
	if err != nil {
		return nil, err
	}
	t := &uiTemplates{pages: map[string]*template.Template{}}
	for _, p := range pages {
		name := strings.TrimSuffix(strings.TrimPrefix(p, "ui/"), ".html")
		if name == "layout" {
			continue
		}
		body, err := fs.ReadFile(uiFS, p)
		if err != nil {
			return nil, err
		}
		tmpl, err := template.New(name).Funcs(uiFuncs).Parse(string(layout))
		if err != nil {
			return nil, err
		}
		if _, err := tmpl.Parse(string(body)); err != nil {
			return nil, err
		}
		t.pages[name] = tmpl
	}
	return t, nil
}

// page is the data every page template receives.
type page struct {
	Title       string
	Version     string
	Principal   *latchkey.Principal
	AccountID   int64
	AccountName string
	Accounts    []*latchkey.Account
	CSRF        string
	Flash       string
	Error       string
	// Section marks the current Account settings sidebar entry.
	Section string
	// Page-specific data.
	Data  any
	Email string
	Next  string
}

// render writes a page. Rendering into a buffer first means a template error never leaves a
// half-written page.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, pg *page) {
	pg.Version = s.cfg.Version
	tmpl, ok := s.pages.pages[name]
	if !ok {
		s.writeError(w, r, latchkey.Errorf(latchkey.EInternal, "no page %s", name))
		return
	}
	var buf bytes.Buffer
	if err := tmpl.ExecuteTemplate(&buf, "layout", pg); err != nil {
		s.log.Error("render page", "page", name, "request_id", state(r.Context()).id, "error", err.Error())
		http.Error(w, "internal error (request id "+state(r.Context()).id+")", http.StatusInternalServerError)
		return
	}
	setPageHeaders(w)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}

// setPageHeaders sets the security headers of every UI response.
func setPageHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; base-uri 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cache-Control", "no-store")
}

var uiFuncs = template.FuncMap{
	"date": func(t time.Time) string { return t.UTC().Format("2006-01-02") },
	"datetime": func(t *time.Time) string {
		if t == nil {
			return "Never"
		}
		return t.UTC().Format("2006-01-02 15:04 UTC")
	},
}

func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// csrfCookie carries the login form's CSRF token before a session exists (double submit).
const csrfCookie = "latchkey_csrf"

func (s *Server) cookie(name, value string, maxAge time.Duration) *http.Cookie {
	return &http.Cookie{Name: name, Value: value, Path: "/", HttpOnly: true, Secure: s.cfg.SecureCookies,
		SameSite: http.SameSiteLaxMode, MaxAge: int(maxAge / time.Second)}
}

func safeNext(next string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return "/"
	}
	return next
}

func (s *Server) handleUILoginForm(w http.ResponseWriter, r *http.Request) {
	token := randomString(24)
	http.SetCookie(w, s.cookie(csrfCookie, token, time.Hour))
	s.render(w, r, http.StatusOK, "login", &page{Title: "Sign in", CSRF: token, Next: safeNext(r.URL.Query().Get("next"))})
}

var errBadLogin = &latchkey.Error{Code: latchkey.EUnauthorized, Message: "Wrong email or password."}

// handleUILogin checks email and password and starts a session. The error never says whether
// the email exists.
func (s *Server) handleUILogin(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		s.writeError(w, r, latchkey.Errorf(latchkey.EInvalid, "could not read the form"))
		return
	}
	c, err := r.Cookie(csrfCookie)
	if err != nil || !equalStrings(c.Value, r.PostForm.Get("csrf_token")) {
		s.writeError(w, r, errCSRF)
		return
	}
	email, pw := strings.TrimSpace(r.PostForm.Get("email")), r.PostForm.Get("password")
	next := safeNext(r.PostForm.Get("next"))
	fail := func(status int, msg string) {
		token := randomString(24)
		http.SetCookie(w, s.cookie(csrfCookie, token, time.Hour))
		s.render(w, r, status, "login", &page{Title: "Sign in", CSRF: token, Email: email, Next: next, Error: msg})
	}
	if err := s.limitSignIn(r); err != nil {
		fail(http.StatusTooManyRequests, latchkey.ErrorMessage(err))
		return
	}
	u, err := s.store.FindUserByEmail(r.Context(), email)
	if err != nil || len(pw) > password.MaxLength {
		_ = password.CheckDummy(pw)
		s.signInFailed(r, email, 0)
		fail(http.StatusUnauthorized, errBadLogin.Message)
		return
	}
	if !u.IsActive || password.Check(u.PasswordHash, pw) != nil {
		s.signInFailed(r, email, u.ID)
		fail(http.StatusUnauthorized, errBadLogin.Message)
		return
	}
	accounts, _, err := s.store.FindAccounts(r.Context(), latchkey.AccountFilter{MemberUserID: &u.ID, Limit: 1})
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if len(accounts) == 0 {
		fail(http.StatusForbidden, "Your user is not a member of any account.")
		return
	}
	if err := s.startSession(w, r, u, accounts[0].ID); err != nil {
		s.writeError(w, r, err)
		return
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// startSession creates a session and sets its cookie.
func (s *Server) startSession(w http.ResponseWriter, r *http.Request, u *latchkey.User, accountID int64) error {
	value := randomString(32)
	h := sha256.Sum256([]byte(value))
	sess := &latchkey.Session{Hash: h[:], UserID: u.ID, AccountID: accountID, CSRFSecret: randomString(24),
		ExpiresAt: time.Now().Add(s.cfg.SessionMax)}
	if err := s.store.CreateSession(r.Context(), sess); err != nil {
		return err
	}
	ctx := latchkey.WithActor(r.Context(), latchkey.Actor{Type: "user", ID: u.ID, Name: u.FullName(),
		IP: addrString(state(r.Context()).ip), Source: "ui"})
	if err := s.store.AppendAudit(ctx, &latchkey.AuditEntry{AccountID: accountID, EventType: "user.signed_in",
		Context: map[string]any{"user_id": u.ID}}); err != nil {
		return err
	}
	http.SetCookie(w, s.cookie(sessionCookie, value, s.cfg.SessionMax))
	http.SetCookie(w, s.cookie(csrfCookie, "", -1))
	return nil
}

var errCSRF = &latchkey.Error{Code: latchkey.EForbidden, Message: "the form's security token is missing or stale; reload the page and try again"}

func equalStrings(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// uiSession is a signed-in browser request.
type uiSession struct {
	p    *latchkey.Principal
	sess *latchkey.Session
	hash []byte
}

// uiFunc is a UI handler for a signed-in user.
type uiFunc func(w http.ResponseWriter, r *http.Request, us *uiSession) error

// ui wraps a page handler: it requires a session (redirecting to sign-in), checks the CSRF token
// of every state-changing request and renders errors as pages.
func (s *Server) ui(fn uiFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := state(r.Context())
		c, err := r.Cookie(sessionCookie)
		if err != nil || c.Value == "" {
			s.redirectToLogin(w, r)
			return
		}
		h := sha256.Sum256([]byte(c.Value))
		sess, err := s.store.FindSession(r.Context(), h[:])
		if err != nil {
			s.redirectToLogin(w, r)
			return
		}
		p, err := s.sessionPrincipal(r.Context(), c.Value, 0, st)
		if err != nil {
			if latchkey.ErrorCodeOf(err) == latchkey.EUnauthorized || latchkey.ErrorCodeOf(err) == latchkey.ENotFound {
				http.SetCookie(w, s.cookie(sessionCookie, "", -1))
				s.redirectToLogin(w, r)
				return
			}
			s.renderError(w, r, nil, err)
			return
		}
		st.principal = p
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			if err := r.ParseForm(); err != nil || !equalStrings(sess.CSRFSecret, r.PostForm.Get("csrf_token")) {
				s.renderError(w, r, &uiSession{p: p, sess: sess, hash: h[:]}, errCSRF)
				return
			}
		}
		ctx := latchkey.WithActor(r.Context(), latchkey.ActorOf(p, addrString(st.ip), "ui"))
		us := &uiSession{p: p, sess: sess, hash: h[:]}
		if err := fn(w, r.WithContext(ctx), us); err != nil {
			s.renderError(w, r, us, err)
		}
	})
}

func (s *Server) redirectToLogin(w http.ResponseWriter, r *http.Request) {
	next := ""
	if r.Method == http.MethodGet {
		next = "?next=" + url.QueryEscape(r.URL.RequestURI())
	}
	http.Redirect(w, r, "/login"+next, http.StatusSeeOther)
}

// renderError shows an error page with the status of the error.
func (s *Server) renderError(w http.ResponseWriter, r *http.Request, us *uiSession, err error) {
	status, le := errorStatus(err, state(r.Context()).id)
	if status == http.StatusInternalServerError {
		s.log.Error("internal error", "request_id", state(r.Context()).id, "route", r.Pattern, "error", err.Error())
	}
	pg := &page{Title: "Error", Error: le.Message}
	if us != nil {
		s.fillPage(r, us, pg)
	}
	s.render(w, r, status, "error", pg)
}

// fillPage sets the common fields of a signed-in page.
func (s *Server) fillPage(r *http.Request, us *uiSession, pg *page) {
	pg.Principal, pg.AccountID, pg.CSRF = us.p, us.p.AccountID, us.sess.CSRFSecret
	accounts, _, err := s.store.FindAccounts(r.Context(), latchkey.AccountFilter{MemberUserID: &us.p.UserID, Limit: latchkey.MaxLimit})
	if err == nil {
		pg.Accounts = accounts
		for _, a := range accounts {
			if a.ID == us.p.AccountID {
				pg.AccountName = a.Name
			}
		}
	}
	if f := r.URL.Query().Get("flash"); f != "" && len(f) < 200 {
		pg.Flash = f
	}
}

func (s *Server) handleUILogout(w http.ResponseWriter, r *http.Request, us *uiSession) error {
	if err := s.store.DeleteSession(r.Context(), us.hash); err != nil {
		return err
	}
	http.SetCookie(w, s.cookie(sessionCookie, "", -1))
	http.Redirect(w, r, "/login", http.StatusSeeOther)
	return nil
}

func (s *Server) handleUIHome(w http.ResponseWriter, r *http.Request, us *uiSession) error {
	pg := &page{Title: "Home"}
	s.fillPage(r, us, pg)
	s.render(w, r, http.StatusOK, "home", pg)
	return nil
}

func (s *Server) uiRoutes(mux *http.ServeMux) {
	static, _ := fs.Sub(uiFS, "ui/static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", staticHandler(static)))
	mux.HandleFunc("GET /login", s.handleUILoginForm)
	mux.HandleFunc("POST /login", s.handleUILogin)
	mux.Handle("POST /logout", s.ui(s.handleUILogout))
	mux.Handle("GET /{$}", s.ui(s.handleUIHome))
}

func staticHandler(fsys fs.FS) http.Handler {
	fileServer := http.FileServerFS(fsys)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		fileServer.ServeHTTP(w, r)
	})
}
