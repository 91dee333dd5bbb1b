package sso_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/latchkey/latchkey/sso"
	"github.com/latchkey/latchkey/sso/ssotest"
)

const redirect = "http://127.0.0.1:1/sso/callback"

func start(t *testing.T) (*ssotest.OP, sso.Provider) {
	op := ssotest.Start(t, redirect, ssotest.User{ID: "u1", Email: "ada@example.test", Password: "pw", EmailVerified: true,
		FirstName: "Ada", LastName: "Lovelace", Groups: []string{"engineers", "admins"}})
	return op, sso.Provider{Issuer: op.Issuer, ClientID: op.ClientID, ClientSecret: op.ClientSecret, RedirectURL: redirect}
}

func wantReason(t *testing.T, what string, err error, reason string) {
	t.Helper()
	var f *sso.Failure
	if !errors.As(err, &f) || f.Reason != reason {
		t.Fatalf("%s = %v, want a failure with reason %q", what, err, reason)
	}
	if f.Message == "" {
		t.Errorf("%s failure has no message for people", what)
	}
}

// begin starts an attempt and signs the user in at the provider, returning the attempt and
// the code the provider sent back.
func begin(t *testing.T, c *sso.Client, op *ssotest.OP, p sso.Provider) (sso.Attempt, string) {
	t.Helper()
	a := sso.NewAttempt()
	u, err := c.AuthURL(context.Background(), p, a)
	if err != nil {
		t.Fatalf("AuthURL: %v", err)
	}
	cb := op.Code(t, u, "ada@example.test", "pw")
	if got := cb.Query().Get("state"); got != a.State {
		t.Fatalf("callback state = %q, want the attempt's %q", got, a.State)
	}
	return a, cb.Query().Get("code")
}

func TestFinish(t *testing.T) {
	op, p := start(t)
	c := sso.New(0)
	a, code := begin(t, c, op, p)
	id, err := c.Finish(context.Background(), p, a, code)
	if err != nil {
		t.Fatalf("Finish: %v", err)
	}
	if id.Email != "ada@example.test" || !id.EmailVerified || id.Subject != "u1" || id.FirstName != "Ada" ||
		!slices.Equal(id.Groups, []string{"engineers", "admins"}) {
		t.Errorf("Finish identity = %+v", id)
	}

	// The provider refuses a code used once already.
	_, err = c.Finish(context.Background(), p, a, code)
	wantReason(t, "Finish(replayed code)", err, "code_rejected")

	// Another attempt's PKCE verifier does not redeem the code.
	_, code = begin(t, c, op, p)
	_, err = c.Finish(context.Background(), p, sso.NewAttempt(), code)
	wantReason(t, "Finish(wrong PKCE verifier)", err, "code_rejected")
}

func TestFinishWrongNonce(t *testing.T) {
	op, p := start(t)
	c := sso.New(0)
	a, code := begin(t, c, op, p)
	op.SetWrongNonce(true)
	_, err := c.Finish(context.Background(), p, a, code)
	wantReason(t, "Finish(wrong nonce)", err, "nonce_mismatch")
}

func TestFinishUnverifiedEmail(t *testing.T) {
	op, p := start(t)
	op.SetEmailVerified("u1", false)
	c := sso.New(0)
	a, code := begin(t, c, op, p)
	id, err := c.Finish(context.Background(), p, a, code)
	if err != nil || id.EmailVerified {
		t.Fatalf("Finish(unverified) = %+v, %v; want the identity with email_verified false", id, err)
	}
}

func TestFinishWrongClientSecret(t *testing.T) {
	op, p := start(t)
	c := sso.New(0)
	a, code := begin(t, c, op, p)
	p.ClientSecret = "wrong"
	_, err := c.Finish(context.Background(), p, a, code)
	wantReason(t, "Finish(wrong client secret)", err, "code_rejected")
}

func TestProviderDown(t *testing.T) {
	op, p := start(t)
	op.Close()
	c := sso.New(0)
	_, err := c.AuthURL(context.Background(), p, sso.NewAttempt())
	wantReason(t, "AuthURL(provider down)", err, "idp_unavailable")
	_, err = c.Finish(context.Background(), p, sso.NewAttempt(), "code")
	wantReason(t, "Finish(provider down)", err, "idp_unavailable")
}

// An issuer, or a URL its discovery names, on a link-local address (cloud instance metadata) is
// never fetched: the connection is refused before it is made.
func TestMetadataAddressesRefused(t *testing.T) {
	c := sso.New(0)
	for _, issuer := range []string{"https://169.254.169.254", "https://[fe80::1]", "https://0.0.0.0"} {
		_, err := c.AuthURL(context.Background(), sso.Provider{Issuer: issuer, ClientID: "latchkey"}, sso.NewAttempt())
		wantReason(t, "AuthURL("+issuer+")", err, "idp_unavailable")
		if err == nil || !strings.Contains(fmt.Sprint(errors.Unwrap(err)), "refusing to connect") {
			t.Errorf("AuthURL(%s) = %v, want the connection refused before it is made", issuer, errors.Unwrap(err))
		}
	}
}
