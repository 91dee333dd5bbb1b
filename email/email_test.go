package email

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/latchkey/latchkey/internal/smtptest"
)

func TestNew(t *testing.T) {
	tests := []struct {
		url     string
		wantErr bool
	}{
		{"smtp://user:s3cret@mail.example.com:587?from=latchkey@example.com", false},
		{"smtp://mail.example.com?from=latchkey@example.com", false},
		{"smtps://user:s3cret@mail.example.com?from=Latchkey%20%3Clatchkey@example.com%3E", false},
		{"smtp+insecure://127.0.0.1:25?from=latchkey@example.com", false},
		{"smtp+insecure://localhost?from=latchkey@example.com", false},
		{"smtp+insecure://user:s3cret@mail.example.com?from=latchkey@example.com", true},
		{"smtp://user:s3cret@mail.example.com:587", true},
		{"smtp://user:s3cret@mail.example.com:587?from=not-an-address", true},
		{"http://user:s3cret@mail.example.com?from=latchkey@example.com", true},
		{"smtp://user:s3cret@:587?from=latchkey@example.com", true},
		{"smtp://user:s3cret@mail.example.com:port?from=latchkey@example.com", true},
		{"::not a url s3cret", true},
	}
	for _, tt := range tests {
		s, err := New(tt.url, Options{})
		if (err != nil) != tt.wantErr {
			t.Errorf("New(%s) = %v, want error %v", Redact(tt.url), err, tt.wantErr)
		}
		if err != nil && strings.Contains(err.Error(), "s3cret") {
			t.Errorf("New(%s) error %q holds the password", Redact(tt.url), err)
		}
		if s != nil && strings.Contains(s.String(), "s3cret") {
			t.Errorf("Sender.String() = %q holds the password", s.String())
		}
	}
}

func send(t *testing.T, url string, opt Options) error {
	t.Helper()
	s, err := New(url, opt)
	if err != nil {
		t.Fatal(err)
	}
	m, err := RenderDigest(Digest{Account: "Acme", Tokens: []ExpiringToken{
		{Name: "deploy", UID: "abcd1234", ExpiresAt: time.Now().Add(5 * 24 * time.Hour), Days: 7},
		{Name: "laptop <script>", UID: "efgh5678", Personal: true, ExpiresAt: time.Now().Add(20 * time.Hour), Days: 1},
	}})
	if err != nil {
		t.Fatal(err)
	}
	m.To = "Ada <ada@acme.test>"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return s.Send(ctx, m)
}

func TestSendLoopbackWithAuth(t *testing.T) {
	srv := smtptest.Start(t, "", smtptest.WithUser("latchkey", "s3cret"))
	if err := send(t, "smtp://latchkey:s3cret@127.0.0.1:"+srv.Port+"?from=latchkey@example.com", Options{}); err != nil {
		t.Fatalf("Send = %v", err)
	}
	msgs := srv.Messages()
	if len(msgs) != 1 {
		t.Fatalf("received %d messages, want 1", len(msgs))
	}
	m := msgs[0]
	if m.From != "latchkey@example.com" || m.To != "ada@acme.test" || m.User != "latchkey" || m.TLS {
		t.Errorf("received from %q to %q as %q (TLS %v)", m.From, m.To, m.User, m.TLS)
	}
	if m.Subject != "[latchkey] 2 tokens in Acme expire soon" {
		t.Errorf("Subject = %q", m.Subject)
	}
	if !strings.Contains(m.Text, `"deploy" (abcd1234)`) || !strings.Contains(m.Text, "personal access token") {
		t.Errorf("text part = %q, want both tokens", m.Text)
	}
	if !strings.Contains(m.HTML, "<td>laptop &lt;script&gt; <code>efgh5678</code>") {
		t.Errorf("HTML part = %q, want the escaped token name", m.HTML)
	}

	// Wrong credentials: the error says so without repeating them.
	err := send(t, "smtp://latchkey:wrong-s3cret@127.0.0.1:"+srv.Port+"?from=latchkey@example.com", Options{})
	if err == nil || strings.Contains(err.Error(), "wrong-s3cret") {
		t.Errorf("Send(wrong password) = %v, want an error without the password", err)
	}
}

func TestSendSTARTTLS(t *testing.T) {
	srv := smtptest.Start(t, "", smtptest.WithTLS(), smtptest.WithUser("latchkey", "s3cret"))
	url := "smtp://latchkey:s3cret@127.0.0.1:" + srv.Port + "?from=latchkey@example.com&starttls=required"
	if err := send(t, url, Options{RootCAs: srv.RootCAs}); err != nil {
		t.Fatalf("Send(STARTTLS) = %v", err)
	}
	if msgs := srv.Messages(); len(msgs) != 1 || !msgs[0].TLS || msgs[0].User != "latchkey" {
		t.Fatalf("received %+v, want one message over TLS", msgs)
	}
	// A certificate nobody vouches for is refused.
	if err := send(t, url, Options{}); err == nil || !strings.Contains(err.Error(), "STARTTLS") {
		t.Errorf("Send(untrusted certificate) = %v, want a STARTTLS error", err)
	}
	// Implicit TLS.
	port := srv.ImplicitTLS(t)
	if err := send(t, "smtps://latchkey:s3cret@127.0.0.1:"+port+"?from=latchkey@example.com", Options{RootCAs: srv.RootCAs}); err != nil {
		t.Fatalf("Send(smtps) = %v", err)
	}
	if msgs := srv.Messages(); len(msgs) != 2 || !msgs[1].TLS {
		t.Errorf("smtps message not received over TLS: %+v", msgs)
	}
}

func TestSendRequiresSTARTTLSWhenAsked(t *testing.T) {
	srv := smtptest.Start(t, "")
	err := send(t, "smtp://127.0.0.1:"+srv.Port+"?from=latchkey@example.com&starttls=required", Options{})
	if err == nil || !strings.Contains(err.Error(), "STARTTLS") {
		t.Errorf("Send(no STARTTLS offered, required) = %v, want an error", err)
	}
	if n := len(srv.Messages()); n != 0 {
		t.Errorf("received %d messages, want 0", n)
	}
	// Without the requirement, a loopback server without TLS is fine.
	if err := send(t, "smtp://127.0.0.1:"+srv.Port+"?from=latchkey@example.com", Options{}); err != nil {
		t.Errorf("Send(loopback, no TLS) = %v", err)
	}
}

func TestRenderAlert(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		a    Alert
		want string
	}{
		{Alert{Account: "Acme", EventType: "service_token.revoked", Name: "deploy", Reason: "leak_reported"},
			"[latchkey] Token “deploy” in Acme was revoked: reported as leaked"},
		{Alert{Account: "Acme", EventType: "account_scoped_pat.deleted", Name: "laptop", Reason: "reuse_detected"},
			"[latchkey] Personal access token “laptop” in Acme was revoked: an old token of its rotation family was used after its grace period"},
		{Alert{Account: "Acme", EventType: "service_token.flagged", Name: "deploy"},
			"[latchkey] Token “deploy” in Acme was flagged: reported as leaked"},
		{Alert{Account: "Acme", EventType: "service_token.reuse_detected", Name: "deploy"},
			"[latchkey] Token “deploy” in Acme: a rotated-out token was used after its grace period"},
		{Alert{Account: "Acme", EventType: "leak.reported", Name: "deploy"},
			"[latchkey] Token “deploy” in Acme was reported as leaked"},
		{Alert{Account: "Acme", EventType: "webhook.subscription.disabled", Name: "ops"},
			"[latchkey] Webhook “ops” in Acme was disabled: its endpoint kept failing"},
	}
	for _, tt := range tests {
		tt.a.At = at
		tt.a.Details = []Detail{{"Reported at", "https://github.com/acme/app/commit/1"}}
		m, err := RenderAlert(tt.a)
		if err != nil {
			t.Fatal(err)
		}
		if m.Subject != tt.want {
			t.Errorf("RenderAlert(%s).Subject = %q, want %q", tt.a.EventType, m.Subject, tt.want)
		}
		if !strings.Contains(m.Text, "https://github.com/acme/app/commit/1") || !strings.Contains(m.HTML, "<th align=\"left\">Reported at</th>") {
			t.Errorf("RenderAlert(%s) bodies lack the details:\n%s\n%s", tt.a.EventType, m.Text, m.HTML)
		}
	}
}
