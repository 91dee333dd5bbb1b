package server

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/latchkey/latchkey"
	"github.com/latchkey/latchkey/admin"
	"github.com/latchkey/latchkey/sso"
)

// Single sign-on in the browser. A person reaches an account's identity provider through the
// account's sign-in URL, /login/sso/{slug} (dbt's login_url): an admin shares it, the sign-in
// page offers it once the person names the account's SSO slug (and remembers the last one),
// and an SSO-only account's refusal of a password names it. A link, not a form: the pages'
// CSP (form-action 'self') would stop a form submission from being redirected to the IdP.
//
// The attempt (state, nonce, PKCE verifier, slug, where to go next) travels in a short-lived
// HttpOnly, SameSite=Lax cookie sealed with AES-GCM, so it works on every node of a deployment
// sharing --secret-key; the cookie is cleared at the callback and the state is claimed once per
// node, so an attempt cannot be completed twice.

const (
	// ssoAttemptCookie carries one SSO attempt from the redirect to the IdP to the callback.
	ssoAttemptCookie = "latchkey_sso"
	// ssoAccountCookie remembers the slug of the browser's last SSO sign-in for the sign-in page.
	ssoAccountCookie = "latchkey_sso_account"
	// ssoAttemptMax is how long a person has at the IdP.
	ssoAttemptMax = 10 * time.Minute
)

// Messages of SSO failures decided here (the sso package and admin give the others).
const (
	msgSSOAttemptMissing = "This sign-in attempt has expired or was started in another browser, so it cannot be finished. Start again with Sign in with SSO."
	msgSSOStateMismatch  = "The identity provider's answer did not match the sign-in you started (wrong state), so you were not signed in. Start again with Sign in with SSO."
	msgSSOAttemptReused  = "This sign-in was already finished once and cannot be used again. Start again with Sign in with SSO."
)

type ssoAttempt struct {
	sso.Attempt
	Slug    string `json:"a"`
	Next    string `json:"r"`
	Expires int64  `json:"e"`
}

// newSSOSealer makes the AEAD that seals attempt cookies: from the deployment's secret key, or a
// key of this process when there is none (single node).
func newSSOSealer(secret []byte) (cipher.AEAD, error) {
	key := make([]byte, 32)
	if len(secret) > 0 {
		k := sha256.Sum256(append([]byte("latchkey sso attempt\x00"), secret...))
		key = k[:]
	} else if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

func (s *Server) sealSSOAttempt(a ssoAttempt) string {
	plain, _ := json.Marshal(a)
	nonce := make([]byte, s.ssoSealer.NonceSize())
	_, _ = rand.Read(nonce)
	return base64.RawURLEncoding.EncodeToString(s.ssoSealer.Seal(nonce, nonce, plain, []byte(ssoAttemptCookie)))
}

// openSSOAttempt reads the attempt cookie; false when it is missing, forged or expired.
func (s *Server) openSSOAttempt(r *http.Request) (ssoAttempt, bool) {
	var a ssoAttempt
	c, err := r.Cookie(ssoAttemptCookie)
	if err != nil {
		return a, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(c.Value)
	n := s.ssoSealer.NonceSize()
	if err != nil || len(raw) < n {
		return a, false
	}
	plain, err := s.ssoSealer.Open(nil, raw[:n], raw[n:], []byte(ssoAttemptCookie))
	if err != nil || json.Unmarshal(plain, &a) != nil || time.Now().Unix() > a.Expires || a.State == "" {
		return a, false
	}
	return a, true
}

// ssoLogin is the sign-in page's single sign-on panel.
type ssoLogin struct {
	// Slug is the account whose "Sign in with SSO" button the page shows ("" for none).
	Slug string
	// Typed is what the person entered as the account's SSO name.
	Typed string
}

// ssoLoginData decides the SSO panel of the sign-in page: the account named by ?sso=, or the
// one remembered from the browser's last SSO sign-in. A name with no provider is an error.
func (s *Server) ssoLoginData(r *http.Request) (*ssoLogin, string) {
	d := &ssoLogin{}
	if typed := strings.ToLower(strings.TrimSpace(r.URL.Query().Get("sso"))); typed != "" {
		d.Typed = typed
		if _, err := s.admin.SSOProviderBySlug(r.Context(), typed); err != nil {
			return d, latchkey.ErrorMessage(err)
		}
		d.Slug = typed
		return d, ""
	}
	if c, err := r.Cookie(ssoAccountCookie); err == nil && c.Value != "" {
		if _, err := s.admin.SSOProviderBySlug(r.Context(), c.Value); err == nil {
			d.Slug = c.Value
		}
	}
	return d, ""
}

// renderSSOLogin shows the sign-in page with an SSO failure, offering the account's SSO button
// again.
func (s *Server) renderSSOLogin(w http.ResponseWriter, r *http.Request, status int, slug, next, msg string) {
	token := randomString(24)
	http.SetCookie(w, s.cookie(r, csrfCookie, token, time.Hour))
	s.render(w, r, status, "login", &page{Title: "Sign in", CSRF: token, Next: next, Error: msg, Data: &ssoLogin{Slug: slug}})
}

// ssoProvider is what the relying party needs for sp.
func (s *Server) ssoProvider(r *http.Request, sp *latchkey.SSOProvider) (sso.Provider, error) {
	secret, err := s.admin.SSOClientSecret(sp)
	if err != nil {
		return sso.Provider{}, err
	}
	return sso.Provider{Issuer: sp.Issuer, ClientID: sp.ClientID, ClientSecret: secret, RedirectURL: s.baseURL(r) + "/sso/callback",
		GroupsClaim: sp.GroupsClaim}, nil
}

// ssoFailed records a failed SSO sign-in like a failed password: counted in metrics, draining
// the address's sign-in bucket, and audited as user.sso_sign_in_failed in the account (when the
// attempt named one), then shows it on the sign-in page.
func (s *Server) ssoFailed(w http.ResponseWriter, r *http.Request, sp *latchkey.SSOProvider, next string, status int, reason, msg, email string) {
	gv := s.gov()
	gv.metrics.authFailures.WithLabelValues("sso_sign_in", reason).Inc()
	if reason != "idp_unavailable" {
		// An IdP that is down is nobody's attempt at guessing: it does not count against the
		// address (a whole office behind one address would be locked out for it).
		gv.signInLimits.fail(state(r.Context()).ip, time.Now())
	}
	slug := ""
	if sp != nil {
		slug = sp.Slug
		ctx := latchkey.WithActor(r.Context(), latchkey.Actor{IP: addrString(state(r.Context()).ip)})
		if err := s.admin.SSOSignInFailed(ctx, sp, reason, email); err != nil {
			s.log.Error("audit failed sso sign-in", "request_id", state(r.Context()).id, "error", err.Error())
		}
	}
	s.renderSSOLogin(w, r, status, slug, next, msg)
}

// handleUISSOStart sends the browser to the account's identity provider.
func (s *Server) handleUISSOStart(w http.ResponseWriter, r *http.Request) {
	next := safeNext(r.URL.Query().Get("next"))
	if err := s.limitSignIn(r); err != nil {
		s.renderSSOLogin(w, r, http.StatusTooManyRequests, "", next, latchkey.ErrorMessage(err))
		return
	}
	sp, err := s.admin.SSOProviderBySlug(r.Context(), r.PathValue("slug"))
	if err != nil {
		if latchkey.SystemError(err) {
			s.renderError(w, r, nil, err)
			return
		}
		s.renderSSOLogin(w, r, http.StatusNotFound, "", next, latchkey.ErrorMessage(err))
		return
	}
	p, err := s.ssoProvider(r, sp)
	if err != nil {
		s.renderError(w, r, nil, err)
		return
	}
	a := sso.NewAttempt()
	to, err := s.ssoClient.AuthURL(r.Context(), p, a)
	if err != nil {
		s.ssoFailure(w, r, sp, next, err)
		return
	}
	sealed := s.sealSSOAttempt(ssoAttempt{Attempt: a, Slug: sp.Slug, Next: next, Expires: time.Now().Add(ssoAttemptMax).Unix()})
	http.SetCookie(w, s.cookie(r, ssoAttemptCookie, sealed, ssoAttemptMax))
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// ssoFailure shows an error from the sso package (or any other) as a failed sign-in.
func (s *Server) ssoFailure(w http.ResponseWriter, r *http.Request, sp *latchkey.SSOProvider, next string, err error) {
	var f *sso.Failure
	if !errors.As(err, &f) {
		s.renderError(w, r, nil, err)
		return
	}
	status := http.StatusUnauthorized
	if f.Unavailable {
		status = http.StatusServiceUnavailable
		s.log.Warn("identity provider unavailable", "request_id", state(r.Context()).id, "issuer", sp.Issuer, "error", err.Error())
	}
	s.ssoFailed(w, r, sp, next, status, f.Reason, f.Message, "")
}

// handleUISSOCallback finishes an SSO sign-in: the state must be the attempt's, once; the code
// is exchanged with the attempt's PKCE verifier and the ID token verified (nonce included);
// then admin signs the person in and the session starts as a password sign-in's does.
func (s *Server) handleUISSOCallback(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	a, ok := s.openSSOAttempt(r)
	// Single use: whatever happens next, this browser's attempt is over.
	http.SetCookie(w, s.cookie(r, ssoAttemptCookie, "", -1))
	if err := s.limitSignIn(r); err != nil {
		s.renderSSOLogin(w, r, http.StatusTooManyRequests, a.Slug, "/", latchkey.ErrorMessage(err))
		return
	}
	if !ok {
		s.ssoFailed(w, r, nil, "/", http.StatusBadRequest, "attempt_missing", msgSSOAttemptMissing, "")
		return
	}
	sp, err := s.admin.SSOProviderBySlug(r.Context(), a.Slug)
	if err != nil {
		if latchkey.SystemError(err) {
			s.renderError(w, r, nil, err)
			return
		}
		s.ssoFailed(w, r, nil, a.Next, http.StatusNotFound, "provider_gone", latchkey.ErrorMessage(err), "")
		return
	}
	if !equalStrings(q.Get("state"), a.State) {
		s.ssoFailed(w, r, sp, a.Next, http.StatusBadRequest, "state_mismatch", msgSSOStateMismatch, "")
		return
	}
	if !s.forms.claim("sso:" + a.State) {
		s.ssoFailed(w, r, sp, a.Next, http.StatusBadRequest, "attempt_reused", msgSSOAttemptReused, "")
		return
	}
	if e := q.Get("error"); e != "" {
		s.ssoFailed(w, r, sp, a.Next, http.StatusUnauthorized, "idp_error",
			"The identity provider did not sign you in ("+idpErrorText(e)+"). Start again, or ask an account admin.", "")
		return
	}
	p, err := s.ssoProvider(r, sp)
	if err != nil {
		s.renderError(w, r, nil, err)
		return
	}
	id, err := s.ssoClient.Finish(r.Context(), p, a.Attempt, q.Get("code"))
	if err != nil {
		s.ssoFailure(w, r, sp, a.Next, err)
		return
	}
	ctx := latchkey.WithActor(r.Context(), latchkey.Actor{IP: addrString(state(r.Context()).ip)})
	sess, _, err := s.admin.SSOSignIn(ctx, sp, id, s.cfg.SessionMax)
	if err != nil {
		switch code := latchkey.ErrorCodeOf(err); {
		case code == latchkey.EUnauthorized || code == latchkey.EForbidden:
			reason := "refused"
			if !id.EmailVerified {
				reason = "email_unverified"
			}
			s.ssoFailed(w, r, sp, a.Next, http.StatusForbidden, reason, latchkey.ErrorMessage(err), id.Email)
		default:
			s.renderError(w, r, nil, err)
		}
		return
	}
	http.SetCookie(w, s.cookie(r, sessionCookie, sess.Cookie, s.cfg.SessionMax))
	http.SetCookie(w, s.cookie(r, csrfCookie, "", -1))
	http.SetCookie(w, s.cookie(r, ssoAccountCookie, sp.Slug, 365*24*time.Hour))
	http.Redirect(w, r, safeNext(a.Next), http.StatusSeeOther)
}

// idpErrorText keeps an IdP's error code printable and short: it comes from the query string.
func idpErrorText(e string) string {
	var b strings.Builder
	for _, c := range e {
		if b.Len() >= 60 {
			break
		}
		if c == '_' || c == '-' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			b.WriteRune(c)
		}
	}
	if b.Len() == 0 {
		return "an error"
	}
	return b.String()
}

// Account settings: Single sign-on.

type ssoSettingsData struct {
	Provider    *latchkey.SSOProvider
	LicenseMaps []*latchkey.LicenseMap
	LoginURL    string
	RedirectURI string
	Licenses    []latchkey.License
	// Form holds what was typed, for a form shown again after an error.
	Form   map[string]string
	Errors formErrors
}

func (s *Server) ssoSettingsData(r *http.Request, us *uiSession) (*ssoSettingsData, error) {
	sps, err := s.admin.SSOProviders(r.Context(), us.p)
	if err != nil {
		return nil, err
	}
	active := latchkey.StateActive
	maps, err := s.admin.LicenseMaps(r.Context(), us.p, &active)
	if err != nil {
		return nil, err
	}
	d := &ssoSettingsData{LicenseMaps: maps, RedirectURI: s.baseURL(r) + "/sso/callback", Licenses: licenses, Form: map[string]string{},
		Errors: formErrors{}}
	if len(sps) > 0 {
		d.Provider = sps[0]
		d.LoginURL = s.baseURL(r) + "/login/sso/" + sps[0].Slug
		d.Form = map[string]string{"slug": sps[0].Slug, "issuer": sps[0].Issuer, "client_id": sps[0].ClientID, "groups_claim": sps[0].GroupsClaim}
	} else {
		d.Form["groups_claim"] = latchkey.DefaultGroupsClaim
	}
	return d, nil
}

func (s *Server) handleUISSOSettings(w http.ResponseWriter, r *http.Request, us *uiSession) error {
	d, err := s.ssoSettingsData(r, us)
	if err != nil {
		return err
	}
	s.show(w, r, us, "sso", "Single sign-on", d)
	return nil
}

// handleUISSOSave creates or changes the account's provider. An empty client secret field keeps
// the stored secret; "remove the client secret" makes the client public.
func (s *Server) handleUISSOSave(w http.ResponseWriter, r *http.Request, us *uiSession) error {
	d, err := s.ssoSettingsData(r, us)
	if err != nil {
		return err
	}
	f := r.PostForm
	for _, k := range []string{"slug", "issuer", "client_id", "groups_claim"} {
		d.Form[k] = strings.TrimSpace(f.Get(k))
	}
	backdoor := f.Get("allow_password_backdoor") == "on"
	in := admin.SSOProviderInput{Issuer: ptr(d.Form["issuer"]), ClientID: ptr(d.Form["client_id"]), GroupsClaim: ptr(d.Form["groups_claim"]),
		AllowPasswordBackdoor: &backdoor}
	if d.Form["slug"] != "" || d.Provider != nil {
		in.Slug = ptr(d.Form["slug"])
	}
	if secret := f.Get("client_secret"); secret != "" {
		in.ClientSecret = &secret
	} else if f.Get("remove_client_secret") == "on" {
		in.ClientSecret = ptr("")
	}
	if d.Provider == nil {
		_, err = s.admin.CreateSSOProvider(r.Context(), us.p, in)
	} else {
		_, err = s.admin.UpdateSSOProvider(r.Context(), us.p, d.Provider.ID, in)
	}
	if err != nil {
		if err := fieldErr(d.Errors, err, "slug", "issuer", "client_id", "client_secret", "groups_claim", "type"); err != nil {
			return err
		}
		s.showStatus(w, r, us, http.StatusBadRequest, "sso", "Single sign-on", d, "")
		return nil
	}
	s.redirectFlash(w, r, "/settings/sso", "Single sign-on settings saved.")
	return nil
}

// ssoConfirmData is the confirmation before turning single sign-on off or removing a license map.
type ssoConfirmData struct {
	Title, Message, Action, Button string
}

func (s *Server) handleUISSODeleteConfirm(w http.ResponseWriter, r *http.Request, us *uiSession) error {
	d, err := s.ssoSettingsData(r, us)
	if err != nil {
		return err
	}
	if d.Provider == nil {
		return latchkey.Errorf(latchkey.ENotFound, "single sign-on is not set up for this account")
	}
	// Say now, not after the click, when it would be refused.
	if err := s.admin.DeleteSSOProvider(admin.DryRun(r.Context()), us.p, d.Provider.ID); err != nil {
		return err
	}
	s.show(w, r, us, "sso_confirm", "Turn single sign-on off", &ssoConfirmData{Title: "Turn single sign-on off?",
		Message: "Members sign in with their password again, and the sign-in link stops working. Users created by single sign-on have no password until one is set.",
		Action:  "/settings/sso/delete", Button: "Turn single sign-on off"})
	return nil
}

func (s *Server) handleUILicenseMapDeleteConfirm(w http.ResponseWriter, r *http.Request, us *uiSession) error {
	id, err := strconv.ParseInt(r.PathValue("map_id"), 10, 64)
	if err != nil {
		return latchkey.Errorf(latchkey.ENotFound, "license map %q not found", r.PathValue("map_id"))
	}
	m, err := s.admin.LicenseMap(r.Context(), us.p, id)
	if err != nil {
		return err
	}
	if err := s.admin.DeleteLicenseMap(admin.DryRun(r.Context()), us.p, id); err != nil {
		return err
	}
	s.show(w, r, us, "sso_confirm", "Remove a license map", &ssoConfirmData{Title: "Remove this license map?",
		Message: "People in " + strings.Join(m.SSOGroups, ", ") + " no longer get the " + licenseName(m.License) +
			" license from it at their next sign-in. Licenses already given stay until then.",
		Action: "/settings/sso/license-maps/" + strconv.FormatInt(id, 10) + "/delete", Button: "Remove the license map"})
	return nil
}

func (s *Server) handleUISSODelete(w http.ResponseWriter, r *http.Request, us *uiSession) error {
	d, err := s.ssoSettingsData(r, us)
	if err != nil {
		return err
	}
	if d.Provider == nil {
		return latchkey.Errorf(latchkey.ENotFound, "single sign-on is not set up for this account")
	}
	if err := s.admin.DeleteSSOProvider(r.Context(), us.p, d.Provider.ID); err != nil {
		return err
	}
	s.redirectFlash(w, r, "/settings/sso", "Single sign-on turned off; members sign in with their password again.")
	return nil
}

// handleUILicenseMapAdd maps IdP groups (comma-separated) to a license.
func (s *Server) handleUILicenseMapAdd(w http.ResponseWriter, r *http.Request, us *uiSession) error {
	d, err := s.ssoSettingsData(r, us)
	if err != nil {
		return err
	}
	var groups []string
	for _, g := range strings.Split(r.PostForm.Get("groups"), ",") {
		if g = strings.TrimSpace(g); g != "" {
			groups = append(groups, g)
		}
	}
	d.Form["map_groups"], d.Form["map_license"] = r.PostForm.Get("groups"), r.PostForm.Get("license_type")
	if len(groups) == 0 {
		d.Errors["sso_license_mapping_groups"] = "Name at least one identity provider group."
		s.showStatus(w, r, us, http.StatusBadRequest, "sso", "Single sign-on", d, "")
		return nil
	}
	if _, err := s.admin.CreateLicenseMap(r.Context(), us.p, latchkey.License(r.PostForm.Get("license_type")), groups); err != nil {
		if err := fieldErr(d.Errors, err, "sso_license_mapping_groups", "license_type"); err != nil {
			return err
		}
		s.showStatus(w, r, us, http.StatusBadRequest, "sso", "Single sign-on", d, "")
		return nil
	}
	s.redirectFlash(w, r, "/settings/sso", "License map added.")
	return nil
}

func (s *Server) handleUILicenseMapDelete(w http.ResponseWriter, r *http.Request, us *uiSession) error {
	id, err := strconv.ParseInt(r.PathValue("map_id"), 10, 64)
	if err != nil {
		return latchkey.Errorf(latchkey.ENotFound, "license map %q not found", r.PathValue("map_id"))
	}
	if err := s.admin.DeleteLicenseMap(r.Context(), us.p, id); err != nil {
		return err
	}
	s.redirectFlash(w, r, "/settings/sso", "License map removed.")
	return nil
}

func ptr[T any](v T) *T { return &v }
