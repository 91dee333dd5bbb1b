package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// chromiumPath is Debian's Chromium, which the browser tests drive.
const chromiumPath = "/usr/bin/chromium"

// browser is one headless Chromium for one test, with the test's screenshots.
type browser struct {
	t   testing.TB
	ctx context.Context
	// shots is where screenshots go: docs/images with LATCHKEY_UPDATE_SCREENSHOTS=1, else a
	// temporary directory.
	shots string
}

// needChromium skips the test with the reason when Chromium is not installed (fails instead
// when CI=true). newBrowser calls it; a test that starts its browsers later calls it first, so
// that a skip costs nothing.
func needChromium(t testing.TB) {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("browser tests need Chromium at %s when CI=true: %v", chromiumPath, err)
		}
		t.Skipf("skipping browser test: Chromium not found at %s (apt-get install chromium)", chromiumPath)
	}
}

// newBrowser starts Chromium, or skips the test (see needChromium). Call it before starting a
// server, so a skip costs nothing. The test's browser actions must end within 90 s in all.
func newBrowser(t testing.TB) *browser {
	t.Helper()
	return newBrowserFor(t, 90*time.Second)
}

// newBrowserFor is newBrowser for a test whose browser actions take up to limit in all.
func newBrowserFor(t testing.TB, limit time.Duration) *browser {
	t.Helper()
	needChromium(t)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromiumPath),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	bctx, cancelBrowser := chromedp.NewContext(actx)
	// The first Do starts the browser and binds it to bctx, which has no deadline; the test's
	// actions run with a deadline derived from it.
	if err := chromedp.Do(bctx, chromedp.EmulateViewport(1280, 860)); err != nil {
		cancelBrowser()
		cancelAlloc()
		t.Fatalf("start Chromium: %v", err)
	}
	ctx, cancelRun := context.WithTimeout(bctx, limit)
	t.Cleanup(func() {
		cancelRun()
		cancelBrowser()
		cancelAlloc()
	})
	b := &browser{t: t, ctx: ctx}
	if os.Getenv("LATCHKEY_UPDATE_SCREENSHOTS") == "1" {
		b.shots = filepath.Join("..", "..", "docs", "images")
		if err := os.MkdirAll(b.shots, 0o755); err != nil {
			t.Fatal(err)
		}
	} else {
		b.shots = t.TempDir()
	}
	return b
}

// do runs actions, failing the test with what it was doing.
func (b *browser) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("browser: %s: %v", what, err)
	}
}

// load runs actions that navigate (a click on a link or a submit button, a key press) and
// returns the response of the new page.
func (b *browser) load(what string, actions ...chromedp.Action[chromedp.Void]) *network.Response {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 15*time.Second)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, actions...)
	if err != nil {
		b.t.Fatalf("browser: %s: %v", what, err)
	}
	return resp
}

// open navigates to url and returns the response.
func (b *browser) open(url string) *network.Response {
	b.t.Helper()
	resp, err := chromedp.Run(b.ctx, chromedp.NavigateResponse(url))
	if err != nil {
		b.t.Fatalf("browser: open %s: %v", url, err)
	}
	return resp
}

// clickTo clicks what sel selects and waits for the page it leads to.
func (b *browser) clickTo(sel string) *network.Response {
	b.t.Helper()
	return b.load("click "+sel, chromedp.Click(chromedp.CSS(sel), chromedp.NodeVisible))
}

// html returns the current page's HTML.
func (b *browser) html() string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.OuterHTML(chromedp.CSS("html")))
	if err != nil {
		b.t.Fatalf("browser: read the page: %v", err)
	}
	return s
}

// text returns the visible text of what sel selects.
func (b *browser) text(sel string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS(sel), chromedp.NodeVisible))
	if err != nil {
		b.t.Fatalf("browser: read text of %s: %v", sel, err)
	}
	return strings.Join(strings.Fields(s), " ")
}

// value returns the value of the form control sel selects.
func (b *browser) value(sel string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.Value(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("browser: read value of %s: %v", sel, err)
	}
	return s
}

// count returns how many elements sel selects.
func (b *browser) count(sel string) int {
	b.t.Helper()
	return evalJS[int](b, fmt.Sprintf("document.querySelectorAll(%q).length", sel))
}

// evalJS evaluates a JavaScript expression in the page.
func evalJS[T any](b *browser, expr string) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.t.Fatalf("browser: evaluate %s: %v", expr, err)
	}
	return v
}

// shot saves a full-page PNG screenshot as name.png.
func (b *browser) shot(name string) {
	b.t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("browser: screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(b.shots, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// viewShot saves what the window shows (not the whole page) as name.png.
func (b *browser) viewShot(name string) {
	b.t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		b.t.Fatalf("browser: screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(b.shots, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// signIn signs in through the form and checks that it lands on a signed-in page.
func (b *browser) signIn(baseURL, email, password string) {
	b.t.Helper()
	b.open(baseURL + "/login")
	b.do("fill the sign-in form",
		chromedp.SendKeys(chromedp.ID("email"), email),
		chromedp.SendKeys(chromedp.ID("password"), password))
	if resp := b.clickTo("#sign-in"); resp.Status != http.StatusOK {
		b.t.Fatalf("sign in as %s: status %d, want 200", email, resp.Status)
	}
	b.do("wait for the account menu", chromedp.WaitVisible(chromedp.ID("account-name")))
}

// signOut presses Sign out.
func (b *browser) signOut() {
	b.t.Helper()
	b.clickTo(".signout button")
	b.do("wait for the sign-in form", chromedp.WaitVisible(chromedp.ID("email")))
}

// header returns a response header, case-insensitively.
func header(resp *network.Response, name string) string {
	for k, v := range resp.Headers {
		if strings.EqualFold(k, name) {
			return fmt.Sprint(v)
		}
	}
	return ""
}

// focused describes the element that has the keyboard focus.
type focused struct {
	Tag     string `json:"tag"`
	ID      string `json:"id"`
	Label   string `json:"label"`
	Outline string `json:"outline"`
	// Ring is the contrast ratio of the focus outline's colour against the background around
	// the element (where an outline with an offset is drawn); 0 without an outline.
	Ring float64 `json:"ring"`
}

// focusJS reads the focused element, its accessible name (aria-label, its label elements,
// aria-labelledby, or the text of a link, button or summary), its outline style and the
// contrast of the outline with the first opaque background behind the element (WCAG 1.4.11
// asks 3:1 of a focus indicator).
const focusJS = `(() => {
  const e = document.activeElement;
  if (!e || e === document.body) return {tag: "BODY", id: "", label: "", outline: ""};
  let label = e.getAttribute("aria-label") || "";
  if (!label && e.labels && e.labels.length) label = Array.from(e.labels).map(l => l.textContent).join(" ");
  if (!label && e.getAttribute("aria-labelledby")) label = e.getAttribute("aria-labelledby").split(" ").map(id => (document.getElementById(id) || {}).textContent || "").join(" ");
  if (!label && ["A", "BUTTON", "SUMMARY"].includes(e.tagName)) label = e.textContent;
  const cs = getComputedStyle(e);
  const rgb = c => (c.match(/[\d.]+/g) || []).map(Number);
  const lum = c => { const v = rgb(c).slice(0, 3).map(x => { x /= 255; return x <= 0.03928 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2]; };
  let behind = "rgb(255, 255, 255)";
  for (let p = e.parentElement; p; p = p.parentElement) {
    const bg = getComputedStyle(p).backgroundColor, a = rgb(bg);
    if (a.length === 3 || (a.length === 4 && a[3] === 1)) { behind = bg; break; }
  }
  let ring = 0;
  if (cs.outlineStyle !== "none" && parseFloat(cs.outlineWidth) > 0) {
    const [hi, lo] = [lum(cs.outlineColor), lum(behind)].sort((x, y) => y - x);
    ring = (hi + 0.05) / (lo + 0.05);
  }
  return {tag: e.tagName, id: e.id, label: label.replace(/\s+/g, " ").trim(), outline: cs.outlineStyle + " " + cs.outlineWidth, ring: ring};
})()`

// focus returns the focused element.
func (b *browser) focus() focused {
	b.t.Helper()
	return evalJS[focused](b, focusJS)
}

// waitFocus waits until the element with id has the focus (autofocus applies on the first
// rendering after load, a moment after the load event) and returns it.
func (b *browser) waitFocus(id string) focused {
	b.t.Helper()
	expr := fmt.Sprintf("document.activeElement !== null && document.activeElement.id === %q", id)
	if _, err := chromedp.Run(b.ctx, chromedp.Poll[bool](expr, chromedp.WithPollingInterval(20*time.Millisecond),
		chromedp.WithPollingTimeout(5*time.Second))); err != nil {
		b.t.Errorf("the focus is on %+v, want #%s (%v)", b.focus(), id, err)
	}
	return b.focus()
}

// press sends keys to the focused element.
func (b *browser) press(keys string) {
	b.t.Helper()
	b.do(fmt.Sprintf("press %q", keys), chromedp.KeyEvent(keys))
}

// tabTo presses Tab until the element with id has the focus, checking that every control the
// focus passes is labelled and shows a visible focus outline.
func (b *browser) tabTo(id string) focused {
	b.t.Helper()
	return b.tabUntil("#" + id)
}

// tabUntil presses Tab until the focused element matches the CSS selector sel, checking that
// every control the focus passes is labelled and shows a focus outline that stands out from
// the background (3:1).
func (b *browser) tabUntil(sel string) focused {
	b.t.Helper()
	matches := fmt.Sprintf("document.activeElement !== null && document.activeElement.matches(%q)", sel)
	for i := 0; i < 60; i++ {
		b.press("\t")
		f := b.focus()
		if f.Tag == "BODY" {
			continue
		}
		if f.Label == "" {
			b.t.Errorf("Tab reached <%s id=%q> with no accessible name", f.Tag, f.ID)
		}
		if strings.HasPrefix(f.Outline, "none") {
			b.t.Errorf("Tab reached <%s id=%q %q> with no visible focus outline (%s)", f.Tag, f.ID, f.Label, f.Outline)
		} else if f.Ring < 3 {
			b.t.Errorf("Tab reached <%s id=%q %q> whose focus outline contrasts %.2f:1 with the background, want 3:1", f.Tag, f.ID, f.Label, f.Ring)
		}
		if evalJS[bool](b, matches) {
			return f
		}
	}
	b.t.Fatalf("Tab never reached %s", sel)
	return focused{}
}
