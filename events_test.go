package latchkey

import "testing"

func TestMatchEventType(t *testing.T) {
	for _, tt := range []struct {
		patterns []string
		typ      string
		want     bool
	}{
		{[]string{"service_token.created"}, "service_token.created", true},
		{[]string{"service_token.created"}, "service_token.revoked", false},
		{[]string{"service_token.*"}, "service_token.revoked", true},
		{[]string{"service_token.*"}, "service_tokens.revoked", false},
		{[]string{"service.*"}, "service_token.revoked", false},
		{[]string{"webhook.*"}, "webhook.subscription.created", true},
		{[]string{"*"}, "user.signed_in", true},
		{nil, "user.signed_in", false},
	} {
		if got := MatchEventType(tt.patterns, tt.typ); got != tt.want {
			t.Errorf("MatchEventType(%q, %q) = %v, want %v", tt.patterns, tt.typ, got, tt.want)
		}
	}
}

func TestValidEventPattern(t *testing.T) {
	for p, want := range map[string]bool{"*": true, "service_token.*": true, "service_token.created": true,
		"webhook.*": true, "service_token.nope": false, "nope.*": false, "": false, "service_token": false, ".*": false} {
		if got := ValidEventPattern(p); got != want {
			t.Errorf("ValidEventPattern(%q) = %v, want %v", p, got, want)
		}
	}
	seen := map[string]bool{}
	for _, e := range EventTypes {
		if seen[e.Type] || e.Description == "" {
			t.Errorf("EventTypes: %q repeated or undescribed", e.Type)
		}
		seen[e.Type] = true
	}
}
