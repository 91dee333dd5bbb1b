// Package ssotest runs a real OpenID Provider in the test process — zitadel's op package with its
// example in-memory storage, served over 127.0.0.1 — for tests of latchkey's single sign-on. The
// provider can be told to misbehave (a wrong nonce in its ID tokens) and its users changed
// (an unverified email) between sign-ins; Close takes it down.
package ssotest

import (
	"context"
	"crypto/sha256"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
	"golang.org/x/text/language"
)

// User is a person the provider knows. They sign in at the provider with Email and Password.
type User struct {
	ID            string
	Email         string
	Password      string
	EmailVerified bool
	FirstName     string
	LastName      string
	// Groups are sent in the groups claim.
	Groups []string
}

// OP is a running OpenID Provider with one confidential web client.
type OP struct {
	Issuer       string
	ClientID     string
	ClientSecret string

	srv        *httptest.Server
	mu         sync.Mutex
	users      map[string]*User
	wrongNonce bool
}

// Start runs a provider whose client "latchkey" may redirect to redirectURL, with users.
func Start(t testing.TB, redirectURL string, users ...User) *OP {
	t.Helper()
	o := &OP{ClientID: "latchkey", ClientSecret: "client-secret-for-tests", users: map[string]*User{}}
	for i := range users {
		u := users[i]
		o.users[u.ID] = &u
	}
	o.srv = httptest.NewUnstartedServer(nil)
	o.Issuer = "http://" + o.srv.Listener.Addr().String()
	st := &opStorage{Storage: storage.NewStorageWithClients(userStore{o}, map[string]*storage.Client{
		o.ClientID: storage.WebClient(o.ClientID, o.ClientSecret, redirectURL)}), op: o}
	provider, err := op.NewProvider(&op.Config{CryptoKey: sha256.Sum256([]byte("ssotest")), CodeMethodS256: true, AuthMethodPost: true,
		SupportedUILocales: []language.Tag{language.English}}, st, op.StaticIssuer(o.Issuer), op.WithAllowInsecure())
	if err != nil {
		t.Fatalf("start OpenID Provider: %v", err)
	}
	callback := op.AuthCallbackURL(provider)
	login := op.NewIssuerInterceptor(provider.IssuerFromRequest).HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.FormValue("authRequestID")
		if r.Method == http.MethodPost {
			id = r.FormValue("id")
			if err := st.CheckUsernamePassword(r.FormValue("username"), r.FormValue("password"), id); err == nil {
				http.Redirect(w, r, callback(r.Context(), id), http.StatusFound)
				return
			}
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(`<!DOCTYPE html><title>Test IdP sign-in</title><h1>Test identity provider</h1>
<form method="post" action="/login/username"><input type="hidden" name="id" value="` + url.QueryEscape(id) + `">
<label>Username <input id="username" name="username"></label> <label>Password <input id="password" name="password" type="password"></label>
<button type="submit" id="idp-sign-in">Sign in</button></form>`))
	})
	mux := http.NewServeMux()
	mux.Handle("/login/username", login)
	mux.Handle("/", provider)
	o.srv.Config.Handler = mux
	o.srv.Start()
	t.Cleanup(o.srv.Close)
	return o
}

// Close takes the provider down: from now on it is unreachable.
func (o *OP) Close() { o.srv.Close() }

// SetWrongNonce makes the ID tokens of codes exchanged from now on carry a nonce that is not
// the one the relying party sent.
func (o *OP) SetWrongNonce(on bool) {
	o.mu.Lock()
	o.wrongNonce = on
	o.mu.Unlock()
}

// SetEmailVerified changes whether the provider says a user's email is verified.
func (o *OP) SetEmailVerified(id string, verified bool) {
	o.mu.Lock()
	o.users[id].EmailVerified = verified
	o.mu.Unlock()
}

// Code signs user in at the provider for authURL without a browser and returns the redirect to
// the relying party's callback (with code and state), which it does not follow.
func (o *OP) Code(t testing.TB, authURL, email, password string) *url.URL {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	var callback *url.URL
	c := &http.Client{Jar: jar, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if !strings.HasPrefix(req.URL.String(), o.Issuer) {
			callback = req.URL
			return http.ErrUseLastResponse
		}
		return nil
	}}
	resp, err := c.Get(authURL)
	if err != nil {
		t.Fatalf("GET authorization URL: %v", err)
	}
	resp.Body.Close()
	id := resp.Request.URL.Query().Get("authRequestID")
	if id == "" {
		t.Fatalf("authorization request did not reach the sign-in page (at %s, status %d)", resp.Request.URL, resp.StatusCode)
	}
	resp, err = c.PostForm(o.Issuer+"/login/username", url.Values{"id": {id}, "username": {email}, "password": {password}})
	if err != nil {
		t.Fatalf("sign in at the provider: %v", err)
	}
	resp.Body.Close()
	if callback == nil {
		t.Fatalf("the provider did not redirect to the relying party (status %d)", resp.StatusCode)
	}
	return callback
}

type userStore struct{ o *OP }

func (s userStore) GetUserByID(id string) *storage.User {
	s.o.mu.Lock()
	defer s.o.mu.Unlock()
	u, ok := s.o.users[id]
	if !ok {
		return nil
	}
	return &storage.User{ID: u.ID, Username: u.Email, Password: u.Password, FirstName: u.FirstName, LastName: u.LastName,
		Email: u.Email, EmailVerified: u.EmailVerified, PreferredLanguage: language.English}
}

func (s userStore) GetUserByUsername(name string) *storage.User {
	s.o.mu.Lock()
	var id string
	for _, u := range s.o.users {
		if u.Email == name {
			id = u.ID
		}
	}
	s.o.mu.Unlock()
	if id == "" {
		return nil
	}
	return s.GetUserByID(id)
}

func (s userStore) ExampleClientID() string { return "service" }

// opStorage is the example storage with a groups claim and the wrong-nonce fault.
type opStorage struct {
	*storage.Storage
	op *OP
}

func (s *opStorage) groups(userID string) []string {
	s.op.mu.Lock()
	defer s.op.mu.Unlock()
	if u, ok := s.op.users[userID]; ok {
		return u.Groups
	}
	return nil
}

// SetUserinfoFromRequest fills the ID token's claims.
func (s *opStorage) SetUserinfoFromRequest(ctx context.Context, userinfo *oidc.UserInfo, token op.IDTokenRequest, scopes []string) error {
	if err := s.Storage.SetUserinfoFromRequest(ctx, userinfo, token, scopes); err != nil {
		return err
	}
	userinfo.AppendClaims("groups", s.groups(token.GetSubject()))
	return nil
}

// SetUserinfoFromToken answers the userinfo endpoint.
func (s *opStorage) SetUserinfoFromToken(ctx context.Context, userinfo *oidc.UserInfo, tokenID, subject, origin string) error {
	if err := s.Storage.SetUserinfoFromToken(ctx, userinfo, tokenID, subject, origin); err != nil {
		return err
	}
	userinfo.AppendClaims("groups", s.groups(userinfo.Subject))
	return nil
}

// AuthRequestByCode is where the ID token's nonce comes from.
func (s *opStorage) AuthRequestByCode(ctx context.Context, code string) (op.AuthRequest, error) {
	ar, err := s.Storage.AuthRequestByCode(ctx, code)
	s.op.mu.Lock()
	wrong := s.op.wrongNonce
	s.op.mu.Unlock()
	if err != nil || !wrong {
		return ar, err
	}
	return wrongNonce{ar}, nil
}

type wrongNonce struct{ op.AuthRequest }

func (wrongNonce) GetNonce() string { return "a-nonce-latchkey-never-sent" }
