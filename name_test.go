package latchkey

import (
	"strings"
	"testing"
)

func TestCleanName(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"  ci  ", "ci", true},
		{strings.Repeat("😀", 64), strings.Repeat("😀", 64), true},
		{strings.Repeat("ж", 150), strings.Repeat("ж", 150), true},
		{strings.Repeat("a", 255), strings.Repeat("a", 255), true},
		{strings.Repeat("a", 256), "", false},
		{strings.Repeat("ж", 256), "", false},
		{"", "", false},
		{"   ", "", false},
		{"nul\x00byte", "", false},
		{"line\nbreak", "", false},
		{"tab\tinside", "", false},
		{"del\x7f", "", false},
		{"c1\u0085x", "", false},
		{"evil\u202Etxt.exe", "", false},
		{"iso\u2066late", "", false},
		{"mark\u200F", "", false},
		{"bad\xffutf8", "", false},
	}
	for _, tt := range tests {
		got, err := CleanName("name", tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("CleanName(%q) = %q, %v; want %q, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
		if err != nil {
			if le, isLE := err.(*Error); !isLE || le.Code != EInvalid || le.Field != "name" {
				t.Errorf("CleanName(%q) error = %#v, want EInvalid naming name", tt.in, err)
			}
		}
	}
}

func FuzzCleanName(f *testing.F) {
	for _, s := range []string{"ci", "a\u202Eb", "\x00", strings.Repeat("😀", 300)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := CleanName("name", s)
		if err != nil {
			return
		}
		if got == "" || strings.TrimSpace(got) != got || len([]rune(got)) > MaxNameLength {
			t.Fatalf("CleanName(%q) = %q, accepted", s, got)
		}
		for _, r := range got {
			if r < 0x20 || r == 0x7f || isBidiControl(r) {
				t.Fatalf("CleanName(%q) accepted %U", s, r)
			}
		}
	})
}

func TestCleanText(t *testing.T) {
	for _, tt := range []struct {
		in, want string
		ok       bool
	}{
		{"", "", true},
		{"  line one\nline two\twith a tab  ", "line one\nline two\twith a tab", true},
		{strings.Repeat("ж", 30), strings.Repeat("ж", 30), true},
		{strings.Repeat("ж", 31), "", false},
		{"nul\x00", "", false},
		{"bell\a", "", false},
		{"a\u202Eb", "", false},
		{"bad\xff", "", false},
	} {
		got, err := CleanText("description", tt.in, 30)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("CleanText(%q) = %q, %v; want %q, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}
