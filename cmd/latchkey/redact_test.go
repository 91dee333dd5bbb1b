package main

import (
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
