package server

import (
	"testing"

	"github.com/latchkey/latchkey"
)

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

// An edit that leaves the permissions as they are does not replace them.
func TestSameGrants(t *testing.T) {
	a := []latchkey.Grant{{PermissionSet: "job_admin", ProjectID: 3, WritableEnvs: []latchkey.EnvCategory{"production", "development"}},
		{PermissionSet: "metadata_only", AllProjects: true}}
	b := []latchkey.Grant{{PermissionSet: "metadata_only", AllProjects: true, ID: 9},
		{PermissionSet: "job_admin", ProjectID: 3, WritableEnvs: []latchkey.EnvCategory{"development", "production"}}}
	if !sameGrants(a, b) {
		t.Error("the same grants in another order differ")
	}
	b[1].ProjectID = 4
	if sameGrants(a, b) {
		t.Error("grants on another project are the same")
	}
	if sameGrants(a, a[:1]) {
		t.Error("a grant fewer is the same")
	}
}
