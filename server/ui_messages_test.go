package server

import "testing"

// Every message a page shows reads as a sentence, with the page's words for API fields.
func TestUISentence(t *testing.T) {
	for in, want := range map[string]string{
		"expires_at must be in the future":                                       "The expiry must be in the future.",
		"expires_at is beyond this account's maximum token lifetime of 720h0m0s": "The expiry is beyond this account's maximum token lifetime of 720h0m0s.",
		"name is required":                           "The name is required.",
		"password must be at least 12 characters":    "The password must be at least 12 characters.",
		"at most 100 ranges are allowed":             "At most 100 ranges are allowed.",
		"The current password is wrong.":             "The current password is wrong.",
		`unknown permission set "job_admin_x"`:       `Unknown permission set "job_admin_x".`,
		"leak_action must be \"revoke\" or \"flag\"": "The leak action must be \"revoke\" or \"flag\".",
		"a name that is taken":                       "A name that is taken.",
		"refused (see the rule)":                     "Refused (see the rule).",
		"  ":                                         "",
		"écrit":                                      "Écrit.",
	} {
		if got := uiSentence(in); got != want {
			t.Errorf("uiSentence(%q) = %q, want %q", in, got, want)
		}
	}
}
