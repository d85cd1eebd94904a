package portal

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"kakunin/store"
)

// hostileNext are return targets that lead a browser off-site, or could
// once something decodes them again; each is the value the handler reads
// (after the query's or form's own decoding).
var hostileNext = []string{
	"/\t/evil.example/", // Chromium strips the TAB: //evil.example/
	"/\r/evil.example/",
	"/\n/evil.example/",
	"\t//evil.example/",
	"/\x00/evil.example/",
	"/\x7f/evil.example/",
	"/ /evil.example/",
	"/\u3000/evil.example/", // ideographic space
	"/\uff0f/evil.example/", // full-width solidus
	"/%09/evil.example/",    // a TAB once decoded
	"/%0d%0a/evil.example/",
	"//evil.example/",
	"///evil.example/",
	"/\\evil.example/",
	"\\\\evil.example/",
	"/\\/evil.example/",
	"/%2F/evil.example/",
	"/%5Cevil.example/",
	"https://evil.example/",
	"https:evil.example",
	"javascript:alert(1)",
	"//user@evil.example/",
	"https://user:pw@evil.example/",
	"evil.example",
	"",
}

// localNext are targets on this site, which must survive.
var localNext = []string{"/security", "/security/delete?id=abc-123", "/setup/phone?kind=office_phone"}

// location sends req with b's cookies, without following a redirect, and
// returns the Location header as sent (http.Client would refuse to parse
// some of the hostile ones before any check could see them).
func (b *browser) location(req *http.Request) string {
	b.e.t.Helper()
	for _, c := range b.c.Jar.Cookies(req.URL) {
		req.AddCookie(c)
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		b.e.t.Fatal(err)
	}
	resp.Body.Close()
	b.c.Jar.SetCookies(req.URL, resp.Cookies())
	if resp.StatusCode != http.StatusSeeOther {
		b.e.t.Fatalf("%s %s: %d, want a redirect", req.Method, req.URL.Path, resp.StatusCode)
	}
	return resp.Header.Get("Location")
}

func (b *browser) postLocation(path string, form url.Values) string {
	req, _ := http.NewRequest(http.MethodPost, b.e.ts.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.location(req)
}

func wantLocation(t *testing.T, next, got string) {
	t.Helper()
	want := "/"
	for _, l := range localNext {
		if next == l {
			want = next
		}
	}
	if got != want {
		t.Errorf("next %q: Location %q, want %q", next, got, want)
	}
}

func TestReturnTargetsOffSiteGoHome(t *testing.T) {
	cases := append(append([]string(nil), hostileNext...), localNext...)
	t.Run("GET /lang", func(t *testing.T) {
		e := newEnv(t)
		b := e.browser()
		for _, next := range cases {
			req, _ := http.NewRequest(http.MethodGet, e.ts.URL+"/lang?"+url.Values{"to": {"en"}, "next": {next}}.Encode(), nil)
			wantLocation(t, next, b.location(req))
		}
	})
	t.Run("POST /lang", func(t *testing.T) {
		e := newEnv(t)
		b := e.browser()
		for _, next := range cases {
			wantLocation(t, next, b.postLocation("/lang", url.Values{"to": {"en"}, "next": {next}}))
		}
	})
	t.Run("POST /stepup", func(t *testing.T) {
		e := newEnv(t)
		b := e.browser()
		seed := b.enroll(userID, password)
		for _, next := range cases {
			if r := b.get("/stepup?" + url.Values{"next": {next}}.Encode()); localPath(next) == "/" && !strings.Contains(r.body, `name="next" value="/"`) {
				t.Errorf("next %q: the step-up page carries it on", next)
			}
			wantLocation(t, next, b.postLocation("/stepup", url.Values{"code": {e.code(seed)}, "next": {next}}))
		}
	})
	t.Run("phone step-up", func(t *testing.T) {
		for _, next := range cases {
			e := newPhoneEnv(t, true, false)
			b := e.browser()
			b.enroll(userID, password)
			m, err := e.admin.AddPhone(t.Context(), userID, store.KindPhone, "+81 90 1234 5678", "", "", "test")
			if err != nil {
				t.Fatal(err)
			}
			e.clock.advance(time.Minute)
			if r := b.post("/signin/phone", url.Values{"method": {m.ID}, "via": {"sms"}, "next": {next}}); r.path != "/signin/phone" {
				t.Fatalf("step-up by SMS: %s, error %q", r.path, errorOf(r))
			}
			wantLocation(t, next, b.postLocation("/signin/phone/verify", url.Values{"code": {e.lastCode("+819012345678")}}))
		}
	})
}

// TestLocalPathRefusesWhatBrowsersReadAsAnotherSite is the rule itself,
// for targets the handlers' tests do not reach.
func TestLocalPathRefusesWhatBrowsersReadAsAnotherSite(t *testing.T) {
	for _, p := range hostileNext {
		if got := localPath(p); got != "/" {
			t.Errorf("localPath(%q) = %q, want /", p, got)
		}
	}
	for _, p := range append(localNext, "/", "/stepup?next=%2Fsecurity") {
		if got := localPath(p); got != p {
			t.Errorf("localPath(%q) = %q, want it kept", p, got)
		}
	}
	if got := localPath("/" + strings.Repeat("a", 4096)); got != "/" {
		t.Errorf("a 4 KB target was kept")
	}
}
