package server

import (
	"errors"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/latchkey/latchkey"
)

// The web UI words every message one way: a sentence that starts with a capital and ends with a
// full stop, naming things as the page does, never by their API field names. The admin layer's
// messages are written for the API too, where the field name is what a developer looks for;
// uiMessage rewords them for people.

// fieldWords names API fields as the pages do.
var fieldWords = map[string]string{
	"name":                            "the name",
	"expires_at":                      "the expiry",
	"allowed_cidrs":                   "the allowed addresses",
	"permission_set":                  "the permission set",
	"project_id":                      "the project",
	"writable_environment_categories": "the writable environments",
	"license_type":                    "the license",
	"leak_action":                     "the leak action",
	"max_token_lifetime_seconds":      "the maximum token lifetime",
	"default_rotation_grace_seconds":  "the default rotation grace period",
	"grace_period_seconds":            "the grace period",
	"sso_mapping_groups":              "the SSO group names",
	"desired_group_ids":               "the groups",
	"group_ids":                       "the groups",
	"dbt_project_subdirectory":        "the project subdirectory",
	"email":                           "the email address",
	"password":                        "the password",
	"new_password":                    "the new password",
	"current_password":                "the current password",
	"cidr":                            "the address range",
	"client_id":                       "the client ID",
	"client_secret":                   "the client secret",
	"groups_claim":                    "the groups claim",
	"sso_license_mapping_groups":      "the SSO group names",
	"allow_password_backdoor":         "password sign-in",
	"client_url":                      "the endpoint URL",
	"event_types":                     "the events",
	"hmac_secret":                     "the signing secret",
}

// fieldName matches a word made of lower-case letters joined by underscores.
var fieldName = regexp.MustCompile(`\b[a-z]+(?:_[a-z]+)+\b`)

// uiMessage returns err's message for a page (see uiSentence).
func uiMessage(err error) string {
	var le *latchkey.Error
	if errors.As(err, &le) {
		return uiSentence(le.Message)
	}
	return uiSentence(latchkey.ErrorMessage(err))
}

// uiSentence rewords msg: known API field names become the words the pages use (a one-word
// field such as name only where it starts the message, as in "name is required"), the first
// letter is a capital and the sentence ends with a stop.
func uiSentence(msg string) string {
	msg = strings.TrimSpace(msg)
	if msg == "" {
		return ""
	}
	msg = fieldName.ReplaceAllStringFunc(msg, func(w string) string {
		if words, ok := fieldWords[w]; ok {
			return words
		}
		return w
	})
	if first, rest, ok := strings.Cut(msg, " "); ok && !strings.Contains(first, "_") {
		if words, known := fieldWords[first]; known {
			msg = words + " " + rest
		}
	}
	r, n := utf8.DecodeRuneInString(msg)
	msg = string(unicode.ToUpper(r)) + msg[n:]
	if last, _ := utf8.DecodeLastRuneInString(msg); !strings.ContainsRune(".!?…", last) {
		msg += "."
	}
	return msg
}
