package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"kakunin/challenge"
	"kakunin/challenge/callback"
	"kakunin/challenge/webhook"
	"kakunin/internal/testenv"
	"kakunin/store"
)

// TestCallbackRefusalsAnsweredByTheWiredHandler sends what anyone can send
// to the callback listener kakunin serve builds (forged and expired
// approval links, decisions and Twilio callbacks with bad signatures): each
// gets its answer, a page in the user's language for a person and a plain
// status for a provider, and nothing panics.
func TestCallbackRefusalsAnsweredByTheWiredHandler(t *testing.T) {
	slapd := testenv.SlapdT(t, testenv.SlapdOptions{Users: 2})
	tw := testenv.NewFakeTwilio(t)
	const (
		gwSecret   = "push-gateway-secret-0123456789abcdef"
		signingKey = "callback-signing-key-for-the-test-0123456789"
	)
	cb := freeAddr(t)
	public := "http://" + cb
	yaml := serverYAML(slapd, slapd.URL, sqliteStore(t.TempDir(), newStoreKey(t))) + fmt.Sprintf(`push:
  webhook: {url: https://push-gw.example.ac.jp/push, secret: %q}
voice:
  provider: twilio
  twilio: {account_sid: %s, auth_token: %q, from: "+815012345678", base_url: %s}
callbacks:
  listen: %s
  public_url: %s
  signing_key: %q
`, gwSecret, tw.AccountSID, tw.AuthToken, tw.URL, cb, public, signingKey)
	cfg, err := parseConfig([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	a := startApp(t, cfg, newLogger(cfg.Log, logs))
	ctx := context.Background()
	admin, err := challenge.NewAdmin(cfg.Flow, a.store)
	if err != nil {
		t.Fatal(err)
	}
	user := testenv.UserID(1)
	if err := admin.SetLanguage(ctx, user, "ja", "test"); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	newApproval := func(kind string, expires time.Time) store.Approval {
		ap := store.Approval{ID: store.NewID(), UserID: user, MethodID: store.NewID(), Kind: kind, Key: store.NewID(),
			Status: store.ApprovalPending, CreatedAt: expires.Add(-time.Minute), ExpiresAt: expires}
		if ok, err := a.store.CreateApproval(ctx, ap, 0, time.Time{}); err != nil || !ok {
			t.Fatalf("CreateApproval = %v, %v", ok, err)
		}
		return ap
	}
	expired := newApproval("push", now.Add(-time.Minute))
	pending := newApproval("push", now.Add(time.Hour))
	call := newApproval("call", now.Add(time.Hour))
	signer := callback.NewSigner(public, []byte(signingKey))
	pushURL := signer.URL(challenge.CallbackPush, pending.ID, pending.ExpiresAt)
	gatherURL := signer.URL(challenge.CallbackGather, call.ID, call.ExpiresAt)
	body := []byte(`{"decision":"fraud"}`)
	ts := fmt.Sprint(now.Unix())

	for _, tc := range []struct {
		name, method, url string
		header            map[string]string
		body              []byte
		wantCode          int
		wantBody          []string
		wantHTML          bool
	}{
		{name: "forged approval link", method: "GET", url: public + "/v1/approve/" + pending.ID + ".9999999999.forged",
			header: map[string]string{"Accept-Language": "en-GB,en;q=0.8"}, wantCode: http.StatusNotFound,
			wantBody: []string{"This link is not valid"}, wantHTML: true},
		{name: "forged approval link, Japanese browser", method: "GET", url: public + "/v1/approve/x.1.y",
			header: map[string]string{"Accept-Language": "ja-JP,ja;q=0.9,en;q=0.8"}, wantCode: http.StatusNotFound,
			wantBody: []string{"このリンクは無効です", `lang="ja"`}, wantHTML: true},
		{name: "expired approval link, in the user's language", method: "GET",
			url:    signer.URL(challenge.CallbackApprove, expired.ID, expired.ExpiresAt),
			header: map[string]string{"Accept-Language": "en"}, wantCode: http.StatusGone,
			wantBody: []string{"この要求は終了しています"}, wantHTML: true},
		{name: "expired approval link posted", method: "POST",
			url:    signer.URL(challenge.CallbackApprove, expired.ID, expired.ExpiresAt),
			header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, body: []byte("decision=approve"),
			wantCode: http.StatusGone, wantBody: []string{"この要求は終了しています"}, wantHTML: true},
		{name: "decision with a bad signature", method: "POST", url: pushURL,
			header:   map[string]string{"X-Kakunin-Timestamp": ts, "X-Kakunin-Signature": webhook.SignApproval("another-secret-0123456789", ts, pending.ID, "push", body)},
			body:     body,
			wantCode: http.StatusUnauthorized, wantBody: []string{"Unauthorized\n"}},
		{name: "decision without a signature", method: "POST", url: pushURL, body: body,
			wantCode: http.StatusUnauthorized, wantBody: []string{"Unauthorized\n"}},
		{name: "Twilio gather with a bad X-Twilio-Signature", method: "POST", url: gatherURL,
			header:   map[string]string{"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"},
			body:     []byte(url.Values{"Digits": {"#"}, "CallSid": {"CA0123"}}.Encode()),
			wantCode: http.StatusForbidden, wantBody: []string{"Forbidden\n"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, tc.url, bytes.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatalf("%s %s: %v (no answer)", tc.method, tc.url, err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.wantCode {
				t.Errorf("status %d, want %d; body %q", resp.StatusCode, tc.wantCode, b)
			}
			for _, want := range tc.wantBody {
				if !strings.Contains(string(b), want) {
					t.Errorf("body %q, want it to hold %q", b, want)
				}
			}
			if ct := resp.Header.Get("Content-Type"); strings.HasPrefix(ct, "text/html") != tc.wantHTML {
				t.Errorf("Content-Type %q, want HTML %v", ct, tc.wantHTML)
			}
		})
	}
	// Nothing was decided: the refused decision was a fraud report.
	if got, err := a.store.GetApproval(ctx, pending.ID); err != nil || got.Status != store.ApprovalPending {
		t.Errorf("pending approval after the refusals: %v, %v", got.Status, err)
	}
	if l := logs.String(); strings.Contains(l, "panic") || strings.Contains(l, "goroutine ") {
		t.Errorf("a refused callback panicked:\n%s", l)
	}
}
