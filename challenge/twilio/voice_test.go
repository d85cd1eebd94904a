package twilio

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

const (
	testCallSID   = "CA0123456789abcdef0123456789abcdef"
	testPrompt    = "kakunin: a VPN sign-in is waiting. Press # to approve, 0 # to report fraud."
	testGatherURL = "https://vpn-auth.example.ac.jp/twilio/gather?c=7f3a&l=ja"
	testStatusURL = "https://vpn-auth.example.ac.jp/twilio/status?c=7f3a"
)

// fakeCalls speaks the slice of Twilio's Calls API kakunin uses.
func fakeCalls(t *testing.T, forms chan<- url.Values) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !checkTwilioRequest(t, w, r, "Calls.json") {
			return
		}
		forms <- r.PostForm
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(map[string]any{
			"sid":         testCallSID,
			"account_sid": testSID,
			"to":          r.PostForm.Get("To"),
			"from":        r.PostForm.Get("From"),
			"status":      "queued",
			"direction":   "outbound-api",
			"api_version": "2010-04-01",
			"uri":         "/2010-04-01/Accounts/" + testSID + "/Calls/" + testCallSID + ".json",
		})
	})
}

func testCall() CallRequest {
	return CallRequest{To: testTo, Language: "en", Prompt: testPrompt, GatherURL: testGatherURL, StatusURL: testStatusURL, Timeout: 30 * time.Second}
}

func TestCallPostsCall(t *testing.T) {
	forms := make(chan url.Values, 1)
	srv := httptest.NewServer(fakeCalls(t, forms))
	defer srv.Close()

	req := testCall()
	req.Extension = "4321"
	sid, err := newClient(t, testConfig(srv.URL)).Call(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	if sid != testCallSID {
		t.Errorf("sid %q, want %q", sid, testCallSID)
	}
	form := <-forms
	for k, want := range map[string]string{
		"To":                  testTo,
		"From":                testFrom,
		"SendDigits":          "wwww4321",
		"StatusCallback":      testStatusURL,
		"StatusCallbackEvent": "completed",
		"Timeout":             "30",
		"Twiml":               BuildApprovalTwiML("en", testPrompt, testGatherURL),
	} {
		if got := form.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	twiml := form.Get("Twiml")
	for _, s := range []string{"Press # to approve", `action="https://vpn-auth.example.ac.jp/twilio/gather?c=7f3a&amp;l=ja"`, `language="en-US"`} {
		if !strings.Contains(twiml, s) {
			t.Errorf("Twiml %s does not hold %s", twiml, s)
		}
	}
}

func TestCallWithoutExtensionOrTimeoutLeavesThemOut(t *testing.T) {
	forms := make(chan url.Values, 1)
	srv := httptest.NewServer(fakeCalls(t, forms))
	defer srv.Close()

	req := testCall()
	req.Timeout = 0
	if _, err := newClient(t, testConfig(srv.URL)).Call(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	form := <-forms
	for _, k := range []string{"SendDigits", "Timeout", "MessagingServiceSid"} {
		if form.Has(k) {
			t.Errorf("form has %s=%q", k, form.Get(k))
		}
	}
}

func TestCallReportsTwilioErrorRedacted(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		// Twilio's answer quotes the number, and here the TwiML, it was given.
		json.NewEncoder(w).Encode(map[string]any{
			"code":      21215,
			"message":   "Account not authorized to call " + testTo + ". Twiml: " + r.PostForm.Get("Twiml") + " prompt: " + testPrompt,
			"more_info": "https://www.twilio.com/docs/errors/21215",
			"status":    400,
		})
	}))
	defer srv.Close()

	_, err := newClient(t, testConfig(srv.URL)).Call(context.Background(), testCall())
	var te *Error
	if !errors.As(err, &te) {
		t.Fatalf("err %v (%T), want *Error", err, err)
	}
	if te.Status != 400 || te.Code != 21215 || te.MoreInfo != "https://www.twilio.com/docs/errors/21215" {
		t.Errorf("got %+v", te)
	}
	for _, s := range []string{"400", "21215", "not authorized to call [recipient]", "[message]"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not say %q", err, s)
		}
	}
	checkQuiet(t, err)
	for _, s := range []string{"Press #", "Gather", "c=7f3a"} {
		if strings.Contains(err.Error(), s) {
			t.Errorf("error %q contains %q", err, s)
		}
	}
}

func TestCallRefusesBadInputBeforeSending(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("request sent")
	}))
	defer srv.Close()
	c := newClient(t, testConfig(srv.URL))

	service := testConfig(srv.URL)
	service.From, service.MessagingServiceSID = "", testService
	if _, err := newClient(t, service).Call(context.Background(), testCall()); err == nil || !strings.Contains(err.Error(), "from") {
		t.Errorf("messaging-service-only client: err %v, want one naming from", err)
	}

	for name, edit := range map[string]func(*CallRequest){
		"extension with #":     func(r *CallRequest) { r.Extension = "12#3" },
		"extension with pause": func(r *CallRequest) { r.Extension = "w123" },
		"extension too long":   func(r *CallRequest) { r.Extension = "12345678901" },
		"national number":      func(r *CallRequest) { r.To = "09012345678" },
		"language":             func(r *CallRequest) { r.Language = "fr" },
		"empty prompt":         func(r *CallRequest) { r.Prompt = "" },
		"http gather URL":      func(r *CallRequest) { r.GatherURL = "http://vpn-auth.example.ac.jp/g" },
		"relative gather URL":  func(r *CallRequest) { r.GatherURL = "/twilio/gather" },
		"no status URL":        func(r *CallRequest) { r.StatusURL = "" },
		"status URL with user": func(r *CallRequest) { r.StatusURL = "https://u:p@vpn-auth.example.ac.jp/s" },
		"short timeout":        func(r *CallRequest) { r.Timeout = time.Second },
		"long timeout":         func(r *CallRequest) { r.Timeout = time.Hour },
		"long prompt":          func(r *CallRequest) { r.Prompt = strings.Repeat("&", 1000) },
	} {
		req := testCall()
		edit(&req)
		_, err := c.Call(context.Background(), req)
		if err == nil {
			t.Errorf("%s: no error", name)
			continue
		}
		checkQuiet(t, err)
		if strings.Contains(err.Error(), "7f3a") || strings.Contains(err.Error(), "u:p") {
			t.Errorf("%s: error %q names the URL", name, err)
		}
	}
}

func TestCallGivesUpAtTimeout(t *testing.T) {
	srv := httptest.NewServer(blockingHandler(nil))
	defer srv.Close()

	cfg := testConfig(srv.URL)
	cfg.Timeout = 50 * time.Millisecond
	_, err := newClient(t, cfg).Call(context.Background(), testCall())
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v, want context.DeadlineExceeded", err)
	}
	checkQuiet(t, err)
}

func TestCallRefusesAnswerWithoutSID(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusCreated)
		w.Write([]byte(`{"status": "queued"}`))
	}))
	defer srv.Close()
	if _, err := newClient(t, testConfig(srv.URL)).Call(context.Background(), testCall()); err == nil {
		t.Fatal("no error")
	}
}

// twimlNode is enough of TwiML to check structure and text.
type twimlNode struct {
	XMLName xml.Name
	Attrs   []xml.Attr  `xml:",any,attr"`
	Text    string      `xml:",chardata"`
	Nodes   []twimlNode `xml:",any"`
}

func (n twimlNode) attr(name string) (string, bool) {
	for _, a := range n.Attrs {
		if a.Name.Local == name {
			return a.Value, true
		}
	}
	return "", false
}

func TestApprovalTwiMLIsWellFormedAndEscaped(t *testing.T) {
	for _, tt := range []struct{ lang, language string }{{"ja", "ja-JP"}, {"en", "en-US"}, {"", "en-US"}} {
		prompt := `Sign-in <from> "lab" & 'home'` + "\nnext line: ]]>"
		gather := `https://vpn-auth.example.ac.jp/g?c=1&x="<y>"`
		var resp twimlNode
		if err := xml.Unmarshal([]byte(BuildApprovalTwiML(tt.lang, prompt, gather)), &resp); err != nil {
			t.Fatalf("%q: %v", tt.lang, err)
		}
		if resp.XMLName.Local != "Response" || len(resp.Nodes) != 2 {
			t.Fatalf("%q: got %+v", tt.lang, resp)
		}
		g, bye := resp.Nodes[0], resp.Nodes[1]
		if g.XMLName.Local != "Gather" || len(g.Nodes) != 1 || g.Nodes[0].XMLName.Local != "Say" || bye.XMLName.Local != "Say" {
			t.Fatalf("%q: got %+v", tt.lang, resp)
		}
		for name, want := range map[string]string{"action": gather, "method": "POST", "numDigits": "1", "finishOnKey": "", "timeout": "10"} {
			if got, ok := g.attr(name); !ok || got != want {
				t.Errorf("%q: Gather %s=%q (present %v), want %q", tt.lang, name, got, ok, want)
			}
		}
		if g.Nodes[0].Text != prompt {
			t.Errorf("%q: prompt %q, want %q", tt.lang, g.Nodes[0].Text, prompt)
		}
		for _, say := range []twimlNode{g.Nodes[0], bye} {
			if got, _ := say.attr("language"); got != tt.language {
				t.Errorf("%q: Say language %q, want %q", tt.lang, got, tt.language)
			}
		}
		if bye.Text == "" {
			t.Errorf("%q: no goodbye", tt.lang)
		}
	}
}

func TestGatherOutcome(t *testing.T) {
	for _, tt := range []struct {
		digits, status string
		want           Outcome
	}{
		{"#", "in-progress", Approved},
		{"0", "in-progress", Fraud},
		{"0", "completed", Fraud},
		{"#", "completed", Denied},
		{"#", "", Denied},
		{"", "in-progress", Denied}, // silence never approves
		{"1", "in-progress", Denied},
		{"00", "in-progress", Denied},
		{"9", "in-progress", Denied},
		{"*", "in-progress", Denied},
		{"##", "in-progress", Denied},
	} {
		form := url.Values{"CallSid": {testCallSID}, "Digits": {tt.digits}, "CallStatus": {tt.status}}
		if got := GatherOutcome(form); got != tt.want {
			t.Errorf("Digits %q CallStatus %q: %v, want %v", tt.digits, tt.status, got, tt.want)
		}
	}
	if got := GatherOutcome(url.Values{"CallStatus": {"in-progress"}}); got != Denied {
		t.Errorf("no Digits: %v, want denied", got)
	}
	if Outcome(0) != Denied {
		t.Error("zero Outcome is not Denied")
	}
}

func TestCallEnded(t *testing.T) {
	for _, tt := range []struct {
		status   string
		sid      string
		answered bool
	}{
		{"completed", testCallSID, true},
		{"busy", testCallSID, false},
		{"no-answer", testCallSID, false},
		{"failed", testCallSID, false},
		{"canceled", testCallSID, false},
		{"in-progress", "", false},
		{"ringing", "", false},
		{"", "", false},
	} {
		sid, answered := CallEnded(url.Values{"CallSid": {testCallSID}, "CallStatus": {tt.status}})
		if sid != tt.sid || answered != tt.answered {
			t.Errorf("CallStatus %q: %q, %v; want %q, %v", tt.status, sid, answered, tt.sid, tt.answered)
		}
	}
}

// A gather callback as Twilio sends it: signed over the action URL exactly
// as BuildApprovalTwiML gave it, query string included.
func TestGatherCallbackSignatureValidates(t *testing.T) {
	forms := make(chan url.Values, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			t.Error(err)
		}
		if !ValidSignature(testToken, testGatherURL, r.PostForm, r.Header.Get("X-Twilio-Signature")) {
			w.WriteHeader(http.StatusForbidden)
			return
		}
		forms <- r.PostForm
		w.Header().Set("Content-Type", "text/xml")
		io.WriteString(w, "<Response/>")
	}))
	defer srv.Close()

	callback := url.Values{
		"AccountSid": {testSID}, "CallSid": {testCallSID}, "CallStatus": {"in-progress"},
		"Digits": {"#"}, "Direction": {"outbound-api"}, "From": {testFrom}, "To": {testTo},
		"msg": {"Gather End"},
	}
	post := func(sig string) int {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/twilio/gather?c=7f3a&l=ja", strings.NewReader(callback.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Twilio-Signature", sig)
		resp, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}

	if code := post(Signature(testToken, testGatherURL, callback)); code != http.StatusOK {
		t.Fatalf("signed callback: status %d", code)
	}
	if got := GatherOutcome(<-forms); got != Approved {
		t.Errorf("outcome %v, want approved", got)
	}
	forged := url.Values{"Digits": {"0"}}
	if code := post(Signature(testToken, testGatherURL, forged)); code != http.StatusForbidden {
		t.Errorf("callback signed over other parameters: status %d, want 403", code)
	}
}
