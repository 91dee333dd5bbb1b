package latchkey

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxNameLength bounds the names of accounts, projects, groups, tokens and IP rules, counted in
// characters (Unicode code points), not bytes.
const MaxNameLength = 255

// CleanName trims a name and checks it: 1 to MaxNameLength characters of valid UTF-8, with no
// control characters (NUL, line breaks, tabs, …) and none of the characters that change the
// direction text is shown in (U+202A–U+202E, U+2066–U+2069, U+200E, U+200F, U+061C), which can
// make a name read as something it is not. Errors are EInvalid naming field, worded for people:
// the API and the UI show the same message.
func CleanName(field, v string) (string, error) {
	n := strings.TrimSpace(v)
	if n == "" {
		return "", FieldError(field, "%s is required", field)
	}
	if !utf8.ValidString(n) {
		return "", FieldError(field, "%s must be valid UTF-8 text", field)
	}
	if c := utf8.RuneCountInString(n); c > MaxNameLength {
		return "", FieldError(field, "%s must be at most %d characters (it has %d)", field, MaxNameLength, c)
	}
	for _, r := range n {
		switch {
		case unicode.IsControl(r):
			return "", FieldError(field, "%s must not contain control characters such as line breaks, tabs or NUL", field)
		case isBidiControl(r):
			return "", FieldError(field, "%s must not contain characters that change the direction of text (U+%04X)", field, r)
		}
	}
	return n, nil
}

// isBidiControl reports whether r is one of Unicode's bidirectional formatting characters.
func isBidiControl(r rune) bool {
	switch {
	case r == 0x061C, r == 0x200E, r == 0x200F:
		return true
	case r >= 0x202A && r <= 0x202E, r >= 0x2066 && r <= 0x2069:
		return true
	}
	return false
}

// CleanText trims a free-text field such as a description and checks it: at most max characters
// of valid UTF-8, with no control characters other than line breaks and tabs (PostgreSQL refuses
// NUL and invalid UTF-8 outright) and no characters that change the direction of text. Empty is
// fine.
func CleanText(field, v string, max int) (string, error) {
	t := strings.TrimSpace(v)
	if !utf8.ValidString(t) {
		return "", FieldError(field, "%s must be valid UTF-8 text", field)
	}
	if c := utf8.RuneCountInString(t); c > max {
		return "", FieldError(field, "%s must be at most %d characters (it has %d)", field, max, c)
	}
	for _, r := range t {
		switch {
		case r == '\n' || r == '\r' || r == '\t':
		case unicode.IsControl(r):
			return "", FieldError(field, "%s must not contain control characters such as NUL", field)
		case isBidiControl(r):
			return "", FieldError(field, "%s must not contain characters that change the direction of text (U+%04X)", field, r)
		}
	}
	return t, nil
}
