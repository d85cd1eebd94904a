package twilio

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// CallRequest is one approval call.
type CallRequest struct {
	To        string        // E.164
	Extension string        // digits, for office phones: dialled after answer
	Language  string        // "ja" or "en"
	Prompt    string        // text to speak
	GatherURL string        // https URL Twilio posts the key press to
	StatusURL string        // https URL for the call's completed callback
	Timeout   time.Duration // ring time; 0 means Twilio's default (60s)
}

// maxTwiML is Twilio's limit on the Twiml parameter of a call.
const maxTwiML = 4000

var extension = regexp.MustCompile(`^[0-9]{1,10}$`)

// Call asks Twilio to ring req.To and run the approval TwiML (see
// BuildApprovalTwiML). It returns the call's SID ("CA…") once Twilio has
// queued the call (201 Created); the outcome arrives later, at GatherURL and
// StatusURL. Calls need a From number: a client configured with only a
// messaging_service_sid is refused.
func (c *Client) Call(ctx context.Context, req CallRequest) (string, error) {
	if c.from == "" {
		return "", errors.New("twilio: call: no from number configured (messaging_service_sid sends SMS only)")
	}
	if !e164.MatchString(req.To) {
		return "", errors.New("twilio: call: recipient is not an E.164 number")
	}
	if req.Extension != "" && !extension.MatchString(req.Extension) {
		return "", errors.New("twilio: call: extension must be 1 to 10 digits")
	}
	if req.Language != "ja" && req.Language != "en" {
		return "", fmt.Errorf("twilio: call: language %q is not ja or en", req.Language)
	}
	if req.Prompt == "" {
		return "", errors.New("twilio: call: empty prompt")
	}
	// The URLs are not printed: they may carry a per-call token.
	if err := checkCallbackURL(req.GatherURL); err != nil {
		return "", fmt.Errorf("twilio: call: gather URL %w", err)
	}
	if err := checkCallbackURL(req.StatusURL); err != nil {
		return "", fmt.Errorf("twilio: call: status URL %w", err)
	}
	if req.Timeout != 0 && (req.Timeout < 5*time.Second || req.Timeout > 600*time.Second) {
		return "", fmt.Errorf("twilio: call: timeout %s is outside 5s to 600s", req.Timeout)
	}
	twiml := BuildApprovalTwiML(req.Language, req.Prompt, req.GatherURL)
	if len(twiml) > maxTwiML {
		return "", fmt.Errorf("twilio: call: TwiML is %d bytes, Twilio takes at most %d", len(twiml), maxTwiML)
	}

	form := url.Values{
		"To":                  {req.To},
		"From":                {c.from},
		"Twiml":               {twiml},
		"StatusCallback":      {req.StatusURL},
		"StatusCallbackEvent": {"completed"},
	}
	if req.Extension != "" {
		// Each w waits half a second: let the office exchange answer first.
		form.Set("SendDigits", "wwww"+req.Extension)
	}
	if req.Timeout != 0 {
		form.Set("Timeout", strconv.Itoa(int(req.Timeout/time.Second)))
	}

	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	endpoint := strings.TrimSuffix(c.endpoint, "Messages.json") + "Calls.json"
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return "", fmt.Errorf("twilio: call: %w", err)
	}
	hreq.SetBasicAuth(c.sid, c.token)
	hreq.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	hreq.Header.Set("Accept", "application/json")
	hreq.Header.Set("User-Agent", "kakunin")

	resp, err := c.http.Do(hreq)
	if err != nil {
		return "", fmt.Errorf("twilio: call: %w", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode < 200 || resp.StatusCode >= 300 {
		return "", callError(resp.StatusCode, raw, req.To, twiml, req.Prompt, escape(req.Prompt))
	}
	var j struct {
		SID string `json:"sid"`
	}
	if err := json.Unmarshal(raw, &j); err != nil || !strings.HasPrefix(j.SID, "CA") {
		return "", fmt.Errorf("twilio: call: status %d without a call SID", resp.StatusCode)
	}
	return j.SID, nil
}

// checkCallbackURL wants https: Twilio signs callbacks but does not encrypt
// them, and the gather callback decides a sign-in.
func checkCallbackURL(s string) error {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return errors.New("is not a URL")
	case u.Scheme != "https" || u.Host == "":
		return errors.New("must be an https:// URL with a host")
	case u.User != nil:
		return errors.New("must not hold credentials")
	}
	return nil
}

// callError is apiError for calls: besides the number it redacts the TwiML
// and the prompt, raw and XML-escaped, should Twilio quote them back.
func callError(status int, raw []byte, to string, secrets ...string) *Error {
	e := &Error{Status: status}
	var j struct {
		Code     int    `json:"code"`
		Message  string `json:"message"`
		MoreInfo string `json:"more_info"`
	}
	if json.Unmarshal(raw, &j) != nil {
		return e
	}
	msg := j.Message
	for _, s := range secrets { // longest first: the TwiML holds the prompt
		if s != "" {
			msg = strings.ReplaceAll(msg, s, "[message]")
		}
	}
	msg = strings.ReplaceAll(msg, to, "[recipient]")
	e.Code = j.Code
	e.Message = clean(msg, 300)
	e.MoreInfo = clean(j.MoreInfo, 200)
	return e
}

// BuildApprovalTwiML returns the TwiML of an approval call: say prompt
// while waiting for one key, post it to gatherURL, and say goodbye if no key
// comes. lang is "ja" or "en" (anything else is taken as "en").
//
// The key is gathered with finishOnKey="" and numDigits="1", not with
// finishOnKey="#": Twilio does not call the action URL when the caller
// presses only the finishOnKey, nor when the gather times out; it falls
// through to the next verb. So with finishOnKey="#" a lone # could never
// approve, and the only way to make it post (actionOnEmptyResult="true")
// also posts an empty Digits on silence, which would let an answering
// machine approve. With no finish key, # is an ordinary key: Digits="#"
// approves, Digits="0" (the 0 of "0#") reports fraud, and silence posts
// nothing at all. See GatherOutcome.
func BuildApprovalTwiML(lang, prompt, gatherURL string) string {
	language, voice, bye := "en-US", "Polly.Joanna", "No key was pressed. The sign-in is not approved. Goodbye."
	if lang == "ja" {
		language, voice, bye = "ja-JP", "Polly.Mizuki", "入力がなかったため、サインインは承認されませんでした。失礼します。"
	}
	say := `<Say language="` + language + `" voice="` + voice + `">`
	return `<Response><Gather input="dtmf" numDigits="1" finishOnKey="" timeout="10" action="` + escape(gatherURL) + `" method="POST">` +
		say + escape(prompt) + `</Say></Gather>` +
		say + escape(bye) + `</Say></Response>`
}

// escape is xml.EscapeText as a string; it also escapes quotes and
// newlines, so its output is safe in an attribute value.
func escape(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s)) // a strings.Builder does not fail
	return b.String()
}

// Outcome is what the callee decided on an approval call. The zero value
// is Denied.
type Outcome int

const (
	Denied Outcome = iota
	Approved
	Fraud
)

func (o Outcome) String() string {
	switch o {
	case Approved:
		return "approved"
	case Fraud:
		return "fraud"
	}
	return "denied"
}

// GatherOutcome reads the gather callback (r.PostForm, after
// ValidSignature): # on a call in progress approves, 0 reports fraud,
// anything else denies.
func GatherOutcome(form url.Values) Outcome {
	switch d := form.Get("Digits"); {
	case d == "#" && form.Get("CallStatus") == "in-progress":
		return Approved
	case d == "0":
		return Fraud
	}
	return Denied
}

// CallEnded reads a status callback (r.PostForm, after ValidSignature). For
// a call that has ended it returns the call's SID and whether it was
// answered (CallStatus completed, as opposed to busy, no-answer, failed or
// canceled); for any other status it returns "", false.
func CallEnded(form url.Values) (sid string, answered bool) {
	switch s := form.Get("CallStatus"); s {
	case "completed", "busy", "no-answer", "failed", "canceled":
		return form.Get("CallSid"), s == "completed"
	}
	return "", false
}

// OutcomeTwiML is the answer to a gather callback: what the callee hears
// once the key press has been taken.
func OutcomeTwiML(lang string, approved, fraud bool) string {
	language, voice := "en-US", "Polly.Joanna"
	text := "The sign-in was not approved. Goodbye."
	switch {
	case approved:
		text = "The sign-in is approved. Goodbye."
	case fraud:
		text = "The sign-in was refused and reported. Please contact the help desk. Goodbye."
	}
	if lang == "ja" {
		language, voice = "ja-JP", "Polly.Mizuki"
		text = "サインインは承認されませんでした。失礼します。"
		switch {
		case approved:
			text = "サインインを承認しました。失礼します。"
		case fraud:
			text = "サインインを拒否し、報告しました。ヘルプデスクにお問い合わせください。失礼します。"
		}
	}
	return `<Response><Say language="` + language + `" voice="` + voice + `">` + escape(text) + `</Say><Hangup/></Response>`
}
