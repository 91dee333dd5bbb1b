package main

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestRedactDSN(t *testing.T) {
	for _, dsn := range []string{
		"postgres://lk:s3cret@db.internal:5432/latchkey?sslmode=require",
		"postgres://lk@db.internal/latchkey?password=s3cret&sslmode=disable",
		"postgresql://lk:s3cret@db/latchkey",
	} {
		if got := redactDSN(dsn); strings.Contains(got, "s3cret") {
			t.Errorf("redactDSN(%q) = %q, still holds the password", dsn, got)
		}
	}
	if got := redactDSN("./latchkey.db"); got != "./latchkey.db" {
		t.Errorf("redactDSN(file) = %q", got)
	}
}

func TestSMTPURLNeverLogged(t *testing.T) {
	// A refused URL: the error names the problem, not the password.
	_, err := runCLI(t, nil, "serve", "--db", filepath.Join(t.TempDir(), "latchkey.db"), "--addr", "127.0.0.1:0",
		"--smtp-url", "smtp+insecure://mailer:s3cret@mail.example.com?from=latchkey@example.com")
	if err == nil || !strings.Contains(err.Error(), "--smtp-url") || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("serve --smtp-url (not loopback, insecure) = %v, want an --smtp-url error without the password", err)
	}
	// An accepted one is logged redacted.
	ts := startServer(t, "enterprise", "--smtp-url", "smtp://mailer:s3cret@127.0.0.1:2525?from=latchkey@example.com")
	logs := ts.Stdout.String() + ts.Stderr.String()
	if !strings.Contains(logs, "sending email notices") || !strings.Contains(logs, "mailer:xxxxx@127.0.0.1:2525") {
		t.Errorf("serve logs lack the redacted SMTP URL:\n%s", logs)
	}
	if strings.Contains(logs, "s3cret") {
		t.Errorf("serve logs hold the SMTP password:\n%s", logs)
	}
}
