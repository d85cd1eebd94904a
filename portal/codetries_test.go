package portal

import (
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	dto "github.com/prometheus/client_model/go"

	"kakunin/store"
)

// parallelTries is how many wrong codes a test posts at once.
const parallelTries = 40

// postAll posts form to path n times at once from b's session.
func (b *browser) postAll(path string, form url.Values, n int) {
	t := b.e.t
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest(http.MethodPost, b.e.ts.URL+path, strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			resp, err := b.c.Do(req)
			if err != nil {
				errs <- err
				return
			}
			resp.Body.Close()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// compared is how many codes of a flow the portal compared: right and
// wrong ones, not those refused before comparing.
func (e *env) compared(flow string) int {
	e.t.Helper()
	n := 0
	for _, outcome := range []string{"ok", "wrong"} {
		var m dto.Metric
		if err := e.srv.m.codeTries.WithLabelValues(flow, outcome).Write(&m); err != nil {
			e.t.Fatal(err)
		}
		n += int(m.GetCounter().GetValue())
	}
	return n
}

func otherCode(code string) string {
	if code == "000000" {
		return "111111"
	}
	return "000000"
}

// TestParallelWrongCodesAreComparedAtMostTheLimit: the tries of a code
// the portal sent are reserved in the store before the code is compared,
// so wrong codes posted at once from one session (or several, or at
// several nodes) get no more comparisons than the limit, and the code is
// spent afterwards.
func TestParallelWrongCodesAreComparedAtMostTheLimit(t *testing.T) {
	for _, driver := range []string{store.DriverSQLite, store.DriverPostgres} {
		t.Run(driver, func(t *testing.T) {
			t.Run("new phone", func(t *testing.T) {
				e := newPhoneEnvOn(t, driver, true, false)
				b := e.browser()
				b.enroll(userID, password)
				r := b.post("/setup/phone", url.Values{"kind": {"phone"}, "country": {"JP"}, "number": {"090-1234-5678"}, "via": {"sms"}})
				if r.path != "/setup/phone/verify" {
					t.Fatalf("after the number: %s, error %q", r.path, errorOf(r))
				}
				code := e.lastCode("+819012345678")
				b.postAll("/setup/phone/verify", url.Values{"code": {otherCode(code)}}, parallelTries)
				if n := e.compared("phone"); n < 1 || n > maxPhoneTries {
					t.Errorf("%d of %d parallel wrong codes were compared, want 1 to %d", n, parallelTries, maxPhoneTries)
				}
				b.post("/setup/phone/verify", url.Values{"code": {code}})
				if _, ok := phoneOf(e.methods(userID), store.KindPhone); ok {
					t.Error("the right code still saved the phone after the wrong ones")
				}
			})
			t.Run("sign-in SMS", func(t *testing.T) {
				e := newPhoneEnvOn(t, driver, true, false)
				m, err := e.admin.AddPhone(t.Context(), userID, store.KindPhone, "+81 90 1234 5678", "", "", "test")
				if err != nil {
					t.Fatal(err)
				}
				b := e.browser()
				b.signIn(userID, password, nil)
				if r := b.post("/signin/phone", url.Values{"method": {m.ID}, "via": {"sms"}}); r.path != "/signin/phone" {
					t.Fatalf("after choosing SMS: %s, error %q", r.path, errorOf(r))
				}
				code := e.lastCode("+819012345678")
				b.postAll("/signin/phone/verify", url.Values{"code": {otherCode(code)}}, parallelTries)
				if n := e.compared("signin_sms"); n < 1 || n > maxSignInTries {
					t.Errorf("%d of %d parallel wrong codes were compared, want 1 to %d", n, parallelTries, maxSignInTries)
				}
				if r := b.post("/signin/phone/verify", url.Values{"code": {code}}); r.path == "/security" {
					t.Error("the right code still signed in after the wrong ones")
				}
			})
			t.Run("email", func(t *testing.T) {
				e, srv := newMailEnvOn(t, driver, Config{Listen: "127.0.0.1:0"})
				b := e.browser()
				b.enroll(userID, password)
				if r := b.post("/setup/email", url.Values{"address": {"taro@example.com"}}); r.path != "/setup/email/verify" {
					t.Fatalf("after the address: %s, error %q", r.path, errorOf(r))
				}
				code := mailedCode(t, srv, "taro@example.com")
				b.postAll("/setup/email/verify", url.Values{"code": {otherCode(code)}}, parallelTries)
				if n := e.compared("email"); n < 1 || n > maxEmailTries {
					t.Errorf("%d of %d parallel wrong codes were compared, want 1 to %d", n, parallelTries, maxEmailTries)
				}
				b.post("/setup/email/verify", url.Values{"code": {code}})
				ms, _ := e.st.Methods(t.Context(), userID)
				for _, m := range ms {
					if m.Kind == store.KindEmail {
						t.Error("the right code still saved the address after the wrong ones")
					}
				}
			})
		})
	}
}

// TestWrongCodesEndTheCodeAtTheLimit: one at a time, the last allowed
// wrong code ends the code, as before the count moved to the store.
func TestWrongCodesEndTheCodeAtTheLimit(t *testing.T) {
	e := newPhoneEnv(t, true, false)
	b := e.browser()
	b.enroll(userID, password)
	b.post("/setup/phone", url.Values{"kind": {"phone"}, "country": {"JP"}, "number": {"090-1234-5678"}, "via": {"sms"}})
	code := e.lastCode("+819012345678")
	var r response
	for i := range maxPhoneTries {
		r = b.post("/setup/phone/verify", url.Values{"code": {otherCode(code)}})
		want := "err_phone_code"
		if i == maxPhoneTries-1 {
			want = "err_phone_code_expired"
		}
		if errorOf(r) != text("ja", want) {
			t.Fatalf("wrong code %d: %s, error %q, want %s", i+1, r.path, errorOf(r), want)
		}
	}
	if r = b.post("/setup/phone/verify", url.Values{"code": {code}}); r.path != "/" && r.path != "/security" {
		t.Errorf("the right code after the limit: %s", r.path)
	}
	if _, ok := phoneOf(e.methods(userID), store.KindPhone); ok {
		t.Error("the right code saved the phone after the limit")
	}
}
