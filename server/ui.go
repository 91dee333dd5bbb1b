package server

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/admin"
	"github.com/latchkey/latchkey/catalog"
)

// The web UI is server-rendered: html/template pages parsed once from embedded files, plain
// forms with a CSRF token, and JavaScript only for copy buttons. Files whose names start with "_"
// hold shared partials (the settings sidebar, the grant editor, the reveal panel) and are parsed
// into every page.

//go:embed ui/*.html ui/static/*
var uiFS embed.FS

// uiTemplates holds one parsed template set per page, each with the shared layout and partials.
type uiTemplates struct {
	pages map[string]*template.Template
}

func parseTemplates() (*uiTemplates, error) {
	layout, err := fs.ReadFile(uiFS, "ui/layout.html")
	if err != nil {
		return nil, err
	}
	files, err := fs.Glob(uiFS, "ui/*.html")
	if err != nil {
		return nil, err
	}
	var partials [][]byte
	var pages []string
	for _, f := range files {
		base := strings.TrimPrefix(f, "ui/")
		switch {
		case base == "layout.html":
		case strings.HasPrefix(base, "_"):
			b, err := fs.ReadFile(uiFS, f)
			if err != nil {
				return nil, err
			}
			partials = append(partials, b)
		default:
			pages = append(pages, f)
		}
	}
	t := &uiTemplates{pages: map[string]*template.Template{}}
	for _, p := range pages {
		name := strings.TrimSuffix(strings.TrimPrefix(p, "ui/"), ".html")
		body, err := fs.ReadFile(uiFS, p)
		if err != nil {
			return nil, err
		}
		tmpl, err := template.New(name).Funcs(uiFuncs).Parse(string(layout))
		if err != nil {
			return nil, err
		}
		for _, part := range partials {
			if _, err := tmpl.Parse(string(part)); err != nil {
				return nil, err
			}
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
	// Section marks the current Account settings sidebar entry ("" outside Account settings).
	Section string
	// Can says which actions the principal may take, so pages show only usable buttons.
	Can admin.Caps
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

// setPageHeaders sets the security headers of every UI response. no-store keeps revealed tokens
// (and every other page) out of the browser's and proxies' caches.
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
	"ptr":  func(t time.Time) *time.Time { return &t },
	"datetime": func(t *time.Time) string {
		if t == nil {
			return "Never"
		}
		return t.UTC().Format("2006-01-02 15:04 UTC")
	},
	"timestamp": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
	"duration":  humanDuration,
	"setTitle":  catalog.Title,
	"plus":      func(a, b int) int { return a + b },
	"license":   licenseName,
}

// licenseName names a license as the pages do.
func licenseName(l latchkey.License) string {
	switch l {
	case latchkey.LicenseDeveloper:
		return "Developer"
	case latchkey.LicenseReadOnly:
		return "Read-only"
	case latchkey.LicenseIT:
		return "IT"
	case latchkey.LicenseAnalyst:
		return "Analyst"
	}
	return string(l)
}

// humanDuration writes a duration in the largest whole unit that fits: "90 days", "1 hour",
// "90 seconds"; anything else as Go writes it.
func humanDuration(d time.Duration) string {
	for _, u := range []struct {
		unit time.Duration
		name string
	}{{24 * time.Hour, "day"}, {time.Hour, "hour"}, {time.Minute, "minute"}, {time.Second, "second"}} {
		if d > 0 && d%u.unit == 0 {
			n := int64(d / u.unit)
			if n == 1 {
				return "1 " + u.name
			}
			return strconv.FormatInt(n, 10) + " " + u.name + "s"
		}
	}
	return d.String()
}

// licenses lists the licenses in the order forms offer them.
var licenses = []latchkey.License{latchkey.LicenseDeveloper, latchkey.LicenseReadOnly, latchkey.LicenseIT, latchkey.LicenseAnalyst}

func randomString(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// csrfCookie carries the login form's CSRF token before a session exists (double submit).
const csrfCookie = "latchkey_csrf"

// flashCookie carries a one-line confirmation ("Token ci deleted.") across a redirect. A cookie
// rather than a query parameter, so nobody can put words in latchkey's mouth with a link.
const flashCookie = "latchkey_flash"

// cookie makes a cookie for the UI: HttpOnly, SameSite=Lax, and Secure when --secure-cookies is
// set or the request came over HTTPS (directly, or through a trusted proxy that says so).
func (s *Server) cookie(r *http.Request, name, value string, maxAge time.Duration) *http.Cookie {
	secure := s.cfg.SecureCookies || r.TLS != nil ||
		s.trusted(peerAddr(r)) && strings.EqualFold(r.Header.Get("X-Forwarded-Proto"), "https")
	return &http.Cookie{Name: name, Value: value, Path: "/", HttpOnly: true, Secure: secure,
		SameSite: http.SameSiteLaxMode, MaxAge: int(maxAge / time.Second)}
}

// redirectFlash redirects after a successful form post (post/redirect/get) with a confirmation.
func (s *Server) redirectFlash(w http.ResponseWriter, r *http.Request, to, msg string) {
	if msg != "" {
		http.SetCookie(w, s.cookie(r, flashCookie, url.QueryEscape(msg), time.Minute))
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// safeNext returns where to go after signing in: next when it is a path on this site, "/"
// otherwise. Browsers parse a Location leniently (WHATWG URL: tabs and newlines are dropped
// anywhere, a backslash is a slash), so "/\t/evil.example" would lead off-site: any control
// character or backslash refuses next, as do a scheme, a host, user info and a leading "//".
func safeNext(next string) string {
	if next == "" || len(next) > 2048 || next[0] != '/' || strings.HasPrefix(next, "//") {
		return "/"
	}
	for i := 0; i < len(next); i++ {
		if c := next[i]; c < 0x20 || c == 0x7f || c == '\\' {
			return "/"
		}
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" || !strings.HasPrefix(u.Path, "/") ||
		strings.HasPrefix(u.Path, "//") {
		return "/"
	}
	return next
}

func (s *Server) handleUILoginForm(w http.ResponseWriter, r *http.Request) {
	token := randomString(24)
	http.SetCookie(w, s.cookie(r, csrfCookie, token, time.Hour))
	ssoPanel, ssoErr := s.ssoLoginData(r)
	s.render(w, r, http.StatusOK, "login", &page{Title: "Sign in", CSRF: token, Next: safeNext(r.URL.Query().Get("next")), Data: ssoPanel, Error: ssoErr})
}

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
		http.SetCookie(w, s.cookie(r, csrfCookie, token, time.Hour))
		s.render(w, r, status, "login", &page{Title: "Sign in", CSRF: token, Email: email, Next: next, Error: msg})
	}
	if err := s.limitSignIn(r); err != nil {
		fail(http.StatusTooManyRequests, uiMessage(err))
		return
	}
	u, err := s.admin.Authenticate(r.Context(), email, pw)
	if latchkey.ErrorCodeOf(err) == latchkey.EUnauthorized {
		var userID int64
		if u != nil {
			userID = u.ID
		}
		s.signInFailed(r, email, userID)
		fail(http.StatusUnauthorized, uiMessage(err))
		return
	}
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if err := s.startSession(w, r, u); err != nil {
		if latchkey.ErrorCodeOf(err) == latchkey.EForbidden {
			fail(http.StatusForbidden, uiMessage(err))
			return
		}
		s.writeError(w, r, err)
		return
	}
	if u.MustChangePassword {
		next = passwordRequiredPath
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// startSession signs u in to their first account and sets the session cookie.
func (s *Server) startSession(w http.ResponseWriter, r *http.Request, u *latchkey.User) error {
	ctx := latchkey.WithActor(r.Context(), latchkey.Actor{IP: addrString(state(r.Context()).ip)})
	sess, err := s.admin.StartSession(ctx, u, 0, s.cfg.SessionMax)
	if err != nil {
		return err
	}
	http.SetCookie(w, s.cookie(r, sessionCookie, sess.Cookie, s.cfg.SessionMax))
	http.SetCookie(w, s.cookie(r, csrfCookie, "", -1))
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
	// section is the Account settings sidebar entry of the request, so errors render in place.
	section string
}

// uiFunc is a UI handler for a signed-in user.
type uiFunc func(w http.ResponseWriter, r *http.Request, us *uiSession) error

// ui wraps a page handler: it requires a session (redirecting to sign-in), checks the CSRF token
// of every state-changing request and renders errors as pages.
func (s *Server) ui(fn uiFunc) http.Handler {
	return s.uiSection("", fn)
}

// uiSection is ui for a page of the Account settings section.
func (s *Server) uiSection(section string, fn uiFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st := state(r.Context())
		c, err := r.Cookie(sessionCookie)
		if err != nil || c.Value == "" {
			s.redirectToLogin(w, r)
			return
		}
		h := sha256.Sum256([]byte(c.Value))
		sess, err := s.store.FindSession(r.Context(), h[:])
		if latchkey.SystemError(err) {
			// Storage cannot answer: say so, rather than send a signed-in user to sign in.
			s.renderError(w, r, nil, err)
			return
		}
		if err != nil {
			s.redirectToLogin(w, r)
			return
		}
		p, err := s.sessionPrincipal(r.Context(), c.Value, 0, st)
		if err != nil {
			if latchkey.ErrorCodeOf(err) == latchkey.EUnauthorized || latchkey.ErrorCodeOf(err) == latchkey.ENotFound {
				http.SetCookie(w, s.cookie(r, sessionCookie, "", -1))
				s.redirectToLogin(w, r)
				return
			}
			s.renderError(w, r, nil, err)
			return
		}
		st.principal = p
		// (A session single sign-on started never typed a password, temporary or not.)
		if p.MustChangePassword && sess.SSOAccountID == 0 && r.URL.Path != passwordRequiredPath && r.URL.Path != "/logout" {
			// Signed in with a temporary password: nothing else until they choose their own.
			http.Redirect(w, r, passwordRequiredPath, http.StatusSeeOther)
			return
		}
		us := &uiSession{p: p, sess: sess, hash: h[:], section: section}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			if err := r.ParseForm(); err != nil || !equalStrings(sess.CSRFSecret, r.PostForm.Get("csrf_token")) {
				s.renderError(w, r, us, errCSRF)
				return
			}
		}
		ctx := latchkey.WithActor(r.Context(), latchkey.ActorOf(p, addrString(st.ip), "ui"))
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

// renderError shows an error page with the status of the error, inside the settings layout when
// the request belongs to it.
func (s *Server) renderError(w http.ResponseWriter, r *http.Request, us *uiSession, err error) {
	st := state(r.Context())
	status, le := errorStatus(err, st.id)
	if status >= http.StatusInternalServerError {
		st.err = err // for the request's log line
	}
	if ra, ok := le.Data["retry_after_seconds"]; ok {
		w.Header().Set("Retry-After", fmt.Sprint(ra))
	}
	pg := &page{Title: "Error", Error: uiSentence(le.Message)}
	if us != nil {
		s.fillPage(w, r, us, pg)
		pg.Section = us.section
	}
	switch status {
	case http.StatusForbidden:
		pg.Title = "Not allowed"
	case http.StatusConflict, http.StatusBadRequest:
		pg.Title = "Refused"
	case http.StatusServiceUnavailable:
		pg.Title = "Temporarily unavailable"
	}
	s.render(w, r, status, "error", pg)
}

// fillPage sets the common fields of a signed-in page and consumes the flash message.
func (s *Server) fillPage(w http.ResponseWriter, r *http.Request, us *uiSession, pg *page) {
	pg.Principal, pg.AccountID, pg.CSRF = us.p, us.p.AccountID, us.sess.CSRFSecret
	pg.Can = admin.Capabilities(us.p)
	if pg.Section == "" {
		pg.Section = us.section
	}
	accounts, _, err := s.admin.Accounts(r.Context(), us.p, latchkey.AccountFilter{Limit: latchkey.MaxLimit})
	if err == nil {
		pg.Accounts = accounts
		for _, a := range accounts {
			if a.ID == us.p.AccountID {
				pg.AccountName = a.Name
			}
		}
	}
	if c, err := r.Cookie(flashCookie); err == nil && c.Value != "" {
		if f, err := url.QueryUnescape(c.Value); err == nil && len(f) < 300 {
			pg.Flash = f
		}
		http.SetCookie(w, s.cookie(r, flashCookie, "", -1))
	}
}

// show renders a signed-in page with status 200.
func (s *Server) show(w http.ResponseWriter, r *http.Request, us *uiSession, name, title string, data any) {
	s.showStatus(w, r, us, http.StatusOK, name, title, data, "")
}

// showStatus renders a signed-in page with a status and an optional error at the top.
func (s *Server) showStatus(w http.ResponseWriter, r *http.Request, us *uiSession, status int, name, title string, data any, errMsg string) {
	pg := &page{Title: title, Data: data, Error: errMsg}
	s.fillPage(w, r, us, pg)
	s.render(w, r, status, name, pg)
}

// formStatus is the status of a form page re-rendered after err.
func formStatus(err error) int {
	status, _ := errorStatus(err, "")
	if status == http.StatusInternalServerError {
		return http.StatusOK
	}
	return status
}

func (s *Server) handleUILogout(w http.ResponseWriter, r *http.Request, us *uiSession) error {
	if err := s.admin.EndSession(r.Context(), us.hash); err != nil {
		return err
	}
	http.SetCookie(w, s.cookie(r, sessionCookie, "", -1))
	http.Redirect(w, r, "/login", http.StatusSeeOther)
	return nil
}

func (s *Server) handleUIHome(w http.ResponseWriter, r *http.Request, us *uiSession) error {
	s.show(w, r, us, "home", "Home", nil)
	return nil
}

// handleUISwitchAccount moves the session to another account the user is a member of.
func (s *Server) handleUISwitchAccount(w http.ResponseWriter, r *http.Request, us *uiSession) error {
	id, err := strconv.ParseInt(r.PostForm.Get("account_id"), 10, 64)
	if err != nil || id <= 0 {
		return latchkey.FieldError("account_id", "choose an account")
	}
	a, err := s.admin.SwitchAccount(r.Context(), us.p, us.hash, id)
	if err != nil {
		return err
	}
	s.redirectFlash(w, r, "/", "Switched to "+a.Name+".")
	return nil
}

// formOnce remembers which one-time forms (new token, rotate) were submitted successfully, so a
// browser's "resubmit the form?" after Back does not mint a second token.
type formOnce struct {
	mu   sync.Mutex
	seen map[string]time.Time
}

func newFormOnce() *formOnce { return &formOnce{seen: map[string]time.Time{}} }

// claim marks id used; false when it already was. An empty id (a hand-made form) is not guarded.
func (f *formOnce) claim(id string) bool {
	if id == "" {
		return true
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	now := time.Now()
	if len(f.seen) > 10000 {
		for k, t := range f.seen {
			if now.Sub(t) > time.Hour {
				delete(f.seen, k)
			}
		}
	}
	if _, ok := f.seen[id]; ok {
		return false
	}
	f.seen[id] = now
	return true
}

// release forgets id after a failed submission, so the corrected form can be sent again.
func (f *formOnce) release(id string) {
	f.mu.Lock()
	delete(f.seen, id)
	f.mu.Unlock()
}

var errFormUsed = latchkey.Errorf(latchkey.EConflict, "this form was already submitted, and its token was shown then; it is not shown again")

// projectNamer maps project ids to names for permission summaries.
func (s *Server) projectNamer(ctx context.Context, p *latchkey.Principal) (func(int64) string, error) {
	ps, err := s.admin.AllProjects(ctx, p, false)
	if err != nil {
		return nil, err
	}
	names := make(map[int64]string, len(ps))
	for _, p := range ps {
		names[p.ID] = p.Name
	}
	return func(id int64) string { return names[id] }, nil
}

// pageParam reads ?page= (1-based) for paged lists.
func pageParam(r *http.Request) int {
	n, err := strconv.Atoi(r.URL.Query().Get("page"))
	if err != nil || n < 1 || n > 100000 {
		return 1
	}
	return n
}

// pager links the pages of a list. Base is the list's URL up to the page number, e.g.
// "/settings/audit-log?event_type=x&".
type pager struct {
	Page, Total, PerPage int
	Base                 string
}

func newPager(r *http.Request, base string, total int) pager {
	return pager{Page: pageParam(r), Total: total, PerPage: latchkey.MaxLimit, Base: base}
}

// Offset is the first row of the page.
func (p pager) Offset() int { return (p.Page - 1) * p.PerPage }

// Prev links the previous page, or "".
func (p pager) Prev() string {
	if p.Page <= 1 {
		return ""
	}
	return p.Base + "page=" + strconv.Itoa(p.Page-1)
}

// Next links the next page, or "".
func (p pager) Next() string {
	if p.Page*p.PerPage >= p.Total {
		return ""
	}
	return p.Base + "page=" + strconv.Itoa(p.Page+1)
}

func (s *Server) uiRoutes(mux *http.ServeMux) {
	static, _ := fs.Sub(uiFS, "ui/static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", staticHandler(static)))
	mux.HandleFunc("GET /login", s.handleUILoginForm)
	mux.HandleFunc("POST /login", s.handleUILogin)
	mux.Handle("POST /logout", s.ui(s.handleUILogout))
	mux.HandleFunc("GET /login/sso/{slug}", s.handleUISSOStart)
	mux.HandleFunc("GET /sso/callback", s.handleUISSOCallback)
	mux.Handle("GET /{$}", s.ui(s.handleUIHome))
	mux.Handle("POST /switch-account", s.ui(s.handleUISwitchAccount))

	// Account settings.
	mux.Handle("GET /settings", http.RedirectHandler("/settings/account", http.StatusSeeOther))
	mux.Handle("GET /settings/{$}", http.RedirectHandler("/settings/account", http.StatusSeeOther))
	settings := func(pattern, section string, fn uiFunc) { mux.Handle(pattern, s.uiSection(section, fn)) }
	settings("GET /settings/account", "account", s.handleUIAccount)
	settings("POST /settings/account", "account", s.handleUIAccountUpdate)
	settings("GET /settings/projects", "projects", s.handleUIProjectList)
	settings("POST /settings/projects", "projects", s.handleUIProjectCreate)
	settings("GET /settings/projects/{project_id}/delete", "projects", s.handleUIProjectDeleteConfirm)
	settings("POST /settings/projects/{project_id}/delete", "projects", s.handleUIProjectDelete)
	settings("GET /settings/users", "users", s.handleUIUserList)
	settings("POST /settings/users", "users", s.handleUIUserAdd)
	settings("POST /settings/users/{membership_id}/license", "users", s.handleUIUserLicense)
	settings("GET /settings/users/{membership_id}/temporary-password", "users", s.handleUITemporaryPasswordConfirm)
	settings("POST /settings/users/{membership_id}/temporary-password", "users", s.handleUITemporaryPassword)
	settings("GET /settings/users/{membership_id}/remove", "users", s.handleUIUserRemoveConfirm)
	settings("POST /settings/users/{membership_id}/remove", "users", s.handleUIUserRemove)
	settings("GET /settings/groups", "groups", s.handleUIGroupList)
	settings("POST /settings/groups", "groups", s.handleUIGroupCreate)
	settings("GET /settings/groups/{group_id}", "groups", s.handleUIGroupEdit)
	settings("POST /settings/groups/{group_id}", "groups", s.handleUIGroupSave)
	settings("POST /settings/groups/{group_id}/members", "groups", s.handleUIGroupMembers)
	settings("GET /settings/groups/{group_id}/delete", "groups", s.handleUIGroupDeleteConfirm)
	settings("POST /settings/groups/{group_id}/delete", "groups", s.handleUIGroupDelete)
	settings("GET /settings/service-tokens", "service-tokens", s.handleUIServiceTokenList)
	settings("GET /settings/service-tokens/new", "service-tokens", s.handleUIServiceTokenNew)
	settings("POST /settings/service-tokens/new", "service-tokens", s.handleUIServiceTokenCreate)
	settings("GET /settings/service-tokens/{token_id}", "service-tokens", s.handleUIServiceTokenDetail)
	settings("GET /settings/service-tokens/{token_id}/edit", "service-tokens", s.handleUIServiceTokenEditForm)
	settings("POST /settings/service-tokens/{token_id}/edit", "service-tokens", s.handleUIServiceTokenEdit)
	settings("POST /settings/service-tokens/{token_id}/credits", "service-tokens", s.handleUIServiceTokenCredits)
	settings("GET /settings/service-tokens/{token_id}/rotate", "service-tokens", s.handleUIServiceTokenRotateForm)
	settings("POST /settings/service-tokens/{token_id}/rotate", "service-tokens", s.handleUIServiceTokenRotate)
	settings("GET /settings/service-tokens/{token_id}/delete", "service-tokens", s.handleUIServiceTokenDeleteConfirm)
	settings("POST /settings/service-tokens/{token_id}/delete", "service-tokens", s.handleUIServiceTokenDelete)
	settings("GET /settings/trust-policies", "trust-policies", s.handleUITrustPolicies)
	settings("POST /settings/trust-policies", "trust-policies", s.handleUITrustPolicyAdd)
	settings("POST /settings/trust-policies/{policy_id}/delete", "trust-policies", s.handleUITrustPolicyDelete)
	settings("GET /settings/ip-restrictions", "ip-restrictions", s.handleUIIPRestrictions)
	settings("POST /settings/ip-restrictions", "ip-restrictions", s.handleUIIPRuleAdd)
	settings("POST /settings/ip-restrictions/enforcement", "ip-restrictions", s.handleUIIPEnforcement)
	settings("GET /settings/ip-restrictions/{rule_id}/delete", "ip-restrictions", s.handleUIIPRuleDeleteConfirm)
	settings("POST /settings/ip-restrictions/{rule_id}/delete", "ip-restrictions", s.handleUIIPRuleDelete)
	settings("GET /settings/audit-log", "audit-log", s.handleUIAuditLog)
	settings("GET /settings/sso", "sso", s.handleUISSOSettings)
	settings("POST /settings/sso", "sso", s.handleUISSOSave)
	settings("GET /settings/sso/delete", "sso", s.handleUISSODeleteConfirm)
	settings("POST /settings/sso/delete", "sso", s.handleUISSODelete)
	settings("POST /settings/sso/license-maps", "sso", s.handleUILicenseMapAdd)
	settings("GET /settings/sso/license-maps/{map_id}/delete", "sso", s.handleUILicenseMapDeleteConfirm)
	settings("POST /settings/sso/license-maps/{map_id}/delete", "sso", s.handleUILicenseMapDelete)
	settings("GET /settings/webhooks", "webhooks", s.handleUIWebhookList)
	settings("GET /settings/webhooks/new", "webhooks", s.handleUIWebhookNew)
	settings("POST /settings/webhooks/new", "webhooks", s.handleUIWebhookCreate)
	settings("GET /settings/webhooks/{webhook_id}", "webhooks", s.handleUIWebhookDetail)
	settings("GET /settings/webhooks/{webhook_id}/edit", "webhooks", s.handleUIWebhookEditForm)
	settings("POST /settings/webhooks/{webhook_id}/edit", "webhooks", s.handleUIWebhookEdit)
	settings("POST /settings/webhooks/{webhook_id}/test", "webhooks", s.handleUIWebhookTest)
	settings("POST /settings/webhooks/{webhook_id}/active", "webhooks", s.handleUIWebhookActive)
	settings("GET /settings/webhooks/{webhook_id}/rotate", "webhooks", s.handleUIWebhookRotateConfirm)
	settings("POST /settings/webhooks/{webhook_id}/rotate", "webhooks", s.handleUIWebhookRotate)
	settings("GET /settings/webhooks/{webhook_id}/delete", "webhooks", s.handleUIWebhookDeleteConfirm)
	settings("POST /settings/webhooks/{webhook_id}/delete", "webhooks", s.handleUIWebhookDelete)
	settings("GET /settings/webhooks/{webhook_id}/deliveries/{delivery_id}", "webhooks", s.handleUIWebhookDelivery)
	settings("POST /settings/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver", "webhooks", s.handleUIWebhookRedeliver)

	// Profile and personal access tokens.
	mux.Handle("GET /profile", s.ui(s.handleUIProfile))
	mux.Handle("POST /profile/tokens", s.ui(s.handleUIPATCreate))
	mux.Handle("POST /profile/email", s.ui(s.handleUIEmailNotices))
	mux.Handle("GET "+passwordRequiredPath, s.ui(s.handleUIPasswordRequired))
	mux.Handle("POST "+passwordRequiredPath, s.ui(s.handleUIPasswordChange))
	mux.Handle("GET /profile/tokens/{token_id}", s.ui(s.handleUIPATDetail))
	mux.Handle("GET /profile/tokens/{token_id}/edit", s.ui(s.handleUIPATEditForm))
	mux.Handle("POST /profile/tokens/{token_id}/edit", s.ui(s.handleUIPATEdit))
	mux.Handle("GET /profile/tokens/{token_id}/rotate", s.ui(s.handleUIPATRotateForm))
	mux.Handle("POST /profile/tokens/{token_id}/rotate", s.ui(s.handleUIPATRotate))
	mux.Handle("GET /profile/tokens/{token_id}/delete", s.ui(s.handleUIPATDeleteConfirm))
	mux.Handle("POST /profile/tokens/{token_id}/delete", s.ui(s.handleUIPATDelete))
}

// staticHandler serves the embedded assets. Anything it cannot serve — a missing file, a
// directory, a path that is not valid UTF-8 or not a valid file name — is a plain 404.
func staticHandler(fsys fs.FS) http.Handler {
	fileServer := http.FileServerFS(fsys)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := r.URL.Path
		if !fs.ValidPath(name) || name == "." {
			http.NotFound(w, r)
			return
		}
		if st, err := fs.Stat(fsys, name); err != nil || st.IsDir() {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=3600")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		fileServer.ServeHTTP(w, r)
	})
}
