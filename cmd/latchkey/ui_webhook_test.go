package main

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// TestUIWebhooks walks the webhooks pages in Chromium as the account's owner: create a webhook
// with events from two categories, see the secret once, open its page, rotate the secret,
// disable and enable it, and delete it. The screenshots are docs/images/webhooks.png and
// webhook-detail.png.
func TestUIWebhooks(t *testing.T) {
	b := newBrowser(t)
	ts := startServer(t, "enterprise")
	b.signIn(ts.URL, ts.AdminEmail, ts.AdminPass)
	secretRE := regexp.MustCompile(`whsec_[A-Za-z0-9+/=]{44}`)

	b.open(ts.URL + "/settings/account")
	b.clickTo("#sidebar-webhooks")
	if !strings.Contains(b.text("#no-webhooks"), "No webhooks yet") {
		t.Errorf("the empty list does not say so: %q", b.text("#no-webhooks"))
	}
	b.clickTo("#new-webhook")
	b.do("fill the form",
		chromedp.SendKeys(chromedp.ID("webhook-name"), "Security feed"),
		chromedp.SendKeys(chromedp.ID("webhook-url"), "https://siem.example.com/hooks/latchkey"),
		chromedp.SendKeys(chromedp.ID("webhook-description"), "token and leak events to the SIEM"),
		chromedp.Click(chromedp.ID("event-service_token-all")),
		chromedp.Click(chromedp.CSS(`input[value="leak.reported"]`)))
	if resp := b.clickTo("#webhook-save"); resp.Status != http.StatusOK {
		t.Fatalf("create = %d", resp.Status)
	}
	secret := secretRE.FindString(b.value("#secret-value"))
	if secret == "" || !strings.Contains(b.text("#reveal-warning"), "won't see it again") {
		t.Fatalf("the reveal page shows %q", b.value("#secret-value"))
	}
	b.clickTo("#reveal-done")
	if strings.Contains(b.html(), secret) {
		t.Error("the detail page shows the secret")
	}
	if got := b.text("#webhook-events"); !strings.Contains(got, "service_token.*") || !strings.Contains(got, "leak.reported") {
		t.Errorf("events = %q", got)
	}
	b.shot("webhook-detail")

	// Send test: siem.example.com cannot be reached from here, and the page says why.
	if resp := b.clickTo("#webhook-test"); resp.Status != http.StatusOK || !strings.Contains(b.text("#test-outcome"), "siem.example.com") {
		t.Errorf("Send test = %d %q, want the failed attempt's reason", resp.Status, b.text("#test-outcome"))
	}

	b.clickTo("#webhook-rotate")
	b.clickTo("#confirm")
	next := secretRE.FindString(b.value("#secret-value"))
	if next == "" || next == secret || !strings.Contains(b.text("#rotation-note"), "keeps signing") {
		t.Errorf("rotate showed %q (was %q), note %q", next, secret, b.text("#rotation-note"))
	}
	b.clickTo("#reveal-done")

	b.clickTo("#webhook-disable")
	if !strings.Contains(b.text("#flash"), "disabled") || !strings.Contains(b.text("#webhook-status"), "Disabled") {
		t.Errorf("after Disable: flash %q, status %q", b.text("#flash"), b.text("#webhook-status"))
	}
	b.clickTo("#webhook-enable")
	if !strings.Contains(b.text("#webhook-status"), "Active") {
		t.Errorf("after Enable: status %q", b.text("#webhook-status"))
	}
	b.open(ts.URL + "/settings/webhooks")
	b.shot("webhooks")

	b.clickTo(".webhook-link")
	b.clickTo("#webhook-delete")
	b.clickTo("#confirm")
	if !strings.Contains(b.text("#flash"), "deleted") || b.count("#webhook-table") != 0 {
		t.Errorf("after Delete: flash %q, %d tables", b.text("#flash"), b.count("#webhook-table"))
	}
}

func ptrTo[T any](v T) *T { return &v }
