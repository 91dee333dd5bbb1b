package email

import (
	"bytes"
	"embed"
	htmltemplate "html/template"
	"strconv"
	"strings"
	texttemplate "text/template"
	"time"
)

//go:embed templates
var templateFS embed.FS

// The templates are parsed once; they are never changed after.
var (
	textTemplates = texttemplate.Must(texttemplate.New("").Funcs(texttemplate.FuncMap{"date": date}).ParseFS(templateFS, "templates/*.txt"))
	htmlTemplates = htmltemplate.Must(htmltemplate.New("").Funcs(htmltemplate.FuncMap{"date": date}).ParseFS(templateFS, "templates/*.html"))
)

func date(t time.Time) string { return t.UTC().Format("Mon 2 Jan 2006 15:04 MST") }

// ExpiringToken is one line of a digest.
type ExpiringToken struct {
	Name string
	UID  string
	// Personal is set for a personal access token.
	Personal  bool
	ExpiresAt time.Time
	// Days is the notice's threshold: the token expires within this many days.
	Days int
}

// Digest is a recipient's daily email about the tokens of one account that expire soon.
type Digest struct {
	Account string
	Tokens  []ExpiringToken
	// URL links to latchkey's UI, when known.
	URL string
}

// RenderDigest renders d; the Message's To is left for the caller.
func RenderDigest(d Digest) (*Message, error) {
	subject := "[latchkey] " + plural(len(d.Tokens), "token") + " in " + d.Account + " expire soon"
	if len(d.Tokens) == 1 {
		subject = "[latchkey] " + tokenNoun(d.Tokens[0].Personal) + " “" + d.Tokens[0].Name + "” in " + d.Account + " expires soon"
	}
	return render("digest", subject, d)
}

// Alert is an email about one security event in one account.
type Alert struct {
	Account string
	// EventType is the audit event: service_token.revoked, account_scoped_pat.deleted,
	// service_token.flagged, *.reuse_detected, leak.reported or webhook.subscription.disabled.
	EventType string
	// Name is the token's (or webhook's) name; UID the token's public identifier.
	Name string
	UID  string
	// Reason is a revocation's reason (leak_reported, reuse_detected).
	Reason string
	At     time.Time
	// Details are further facts, in order (the leak report's URL, the reporter, …).
	Details []Detail
	URL     string
}

// Detail is one labelled fact of an alert.
type Detail struct{ Label, Value string }

// alertView is what the alert templates see.
type alertView struct {
	Alert
	Headline string
	Advice   string
}

// RenderAlert renders a; the Message's To is left for the caller.
func RenderAlert(a Alert) (*Message, error) {
	v := alertView{Alert: a}
	personal := strings.HasPrefix(a.EventType, "account_scoped_pat.")
	subject := tokenNoun(personal) + " “" + a.Name + "” in " + a.Account
	v.Advice = "Find out where the token was used and who may hold it; create a new token for what needs one."
	switch {
	case strings.HasSuffix(a.EventType, ".revoked") || strings.HasSuffix(a.EventType, ".deleted"):
		subject += " was revoked: " + reasonText(a.Reason)
		v.Advice = "Anything still using the token is now refused. " + v.Advice
	case strings.HasSuffix(a.EventType, ".flagged"):
		subject += " was flagged: reported as leaked"
		v.Advice = "The account only flags leaked tokens, so this one still works. Revoke it unless the report is a false positive."
	case strings.HasSuffix(a.EventType, ".reuse_detected"):
		subject += ": a rotated-out token was used after its grace period"
		v.Advice = "Whoever used the old token may hold its successor too. " + v.Advice
	case a.EventType == "leak.reported":
		subject += " was reported as leaked"
	case a.EventType == "webhook.subscription.disabled":
		subject = "Webhook “" + a.Name + "” in " + a.Account + " was disabled: its endpoint kept failing"
		v.Advice = "Events are no longer delivered to it. Fix the endpoint, then enable the webhook again."
	}
	v.Headline = subject
	return render("alert", "[latchkey] "+subject, v)
}

func render(name, subject string, data any) (*Message, error) {
	var text, html bytes.Buffer
	if err := textTemplates.ExecuteTemplate(&text, name+".txt", data); err != nil {
		return nil, err
	}
	if err := htmlTemplates.ExecuteTemplate(&html, name+".html", data); err != nil {
		return nil, err
	}
	return &Message{Subject: subject, Text: text.String(), HTML: html.String()}, nil
}

func reasonText(reason string) string {
	switch reason {
	case "leak_reported":
		return "reported as leaked"
	case "reuse_detected":
		return "an old token of its rotation family was used after its grace period"
	}
	return strings.ReplaceAll(reason, "_", " ")
}

func tokenNoun(personal bool) string {
	if personal {
		return "Personal access token"
	}
	return "Token"
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return itoa(n) + " " + noun + "s"
}

func itoa(n int) string { return strconv.Itoa(n) }
