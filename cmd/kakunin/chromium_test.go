package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/chromedp"
)

// chrome is a headless Chromium for the portal's end-to-end tests,
// started with the flags this machine's closed network needs. It records
// what the browser logs as a CSP violation or a script error: the pages
// must work under their Content-Security-Policy.
type chrome struct {
	t     *testing.T
	ctx   context.Context
	shots string // where screenshots go (artifactsDir)

	mu         sync.Mutex
	violations []string
}

// startChromium starts the browser at path (testenv.LookPath's answer)
// for at most timeout; it stops with the test.
func startChromium(t *testing.T, path string, timeout time.Duration) *chrome {
	t.Helper()
	ctx, cancel := chromedp.NewExecAllocator(t.Context(),
		chromedp.ExecPath(path),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("window-size", "1100,1000"),
		chromedp.UserDataDir(t.TempDir()),
	)
	t.Cleanup(cancel)
	ctx, cancel = chromedp.NewContext(ctx)
	t.Cleanup(cancel)
	ctx, cancel = context.WithTimeout(ctx, timeout)
	t.Cleanup(cancel)
	c := &chrome{t: t, ctx: ctx, shots: artifactsDir(t)}
	if err := chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*cdplog.EventEntryAdded); ok && e.Entry != nil &&
			(strings.Contains(e.Entry.Text, "Content Security Policy") || e.Entry.Source == cdplog.EntrySourceJavascript) {
			c.mu.Lock()
			c.violations = append(c.violations, e.Entry.Text)
			c.mu.Unlock()
		}
	}); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return c
}

// do runs steps; a failure ends the test with where the browser was.
func (c *chrome) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	c.t.Helper()
	if err := chromedp.Do(c.ctx, steps...); err != nil {
		loc, _ := chromedp.Run(c.ctx, chromedp.Location())
		body, _ := chromedp.Run(c.ctx, chromedp.Text(chromedp.CSS("main")))
		c.t.Fatalf("%s: %v\nat %s\n%s", what, err, loc, body)
	}
}

// shot saves a screenshot of the whole page as NAME.png.
func (c *chrome) shot(name string) {
	c.t.Helper()
	png, err := chromedp.Run(c.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		c.t.Fatalf("screenshot %s: %v", name, err)
	}
	if err := os.WriteFile(filepath.Join(c.shots, name+".png"), png, 0o644); err != nil {
		c.t.Fatal(err)
	}
}

// both saves the page in Japanese (the default), switches to English
// with one click and saves it again, then switches back; wait is an
// element of the page.
func (c *chrome) both(name, wait string) {
	c.t.Helper()
	if lang := attr(c.t, c.ctx, "html", "lang"); lang != "ja" {
		c.t.Fatalf("%s is in %q, want Japanese by default", name, lang)
	}
	c.shot(name + "-ja")
	c.do(name+": English", click("#lang"), visible(wait), visible(`html[lang="en"]`))
	c.shot(name + "-en")
	c.do(name+": back to Japanese", click("#lang"), visible(wait), visible(`html[lang="ja"]`))
}

// checkViolations fails the test if the browser reported a CSP violation
// or a script error.
func (c *chrome) checkViolations() {
	c.t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.violations) > 0 {
		c.t.Errorf("the browser reported CSP violations or script errors:\n%s", strings.Join(c.violations, "\n"))
	}
}

func visible(sel string) chromedp.Action[chromedp.Void] {
	return chromedp.WaitVisible(chromedp.CSS(sel))
}
func click(sel string) chromedp.Action[chromedp.Void] { return chromedp.Click(chromedp.CSS(sel)) }
func typeIn(sel, s string) chromedp.Action[chromedp.Void] {
	return chromedp.SendKeys(chromedp.CSS(sel), s)
}
