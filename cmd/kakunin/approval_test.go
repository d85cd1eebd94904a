package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"kakunin/challenge"
	"kakunin/challenge/webhook"
	"kakunin/internal/testenv"
	"kakunin/store"
)

// freeAddr is a loopback address nobody listens on (the callback
// listener's public URL must be known before it starts).
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestRadclientPushAndCallApprovals runs kakunin with a push gateway (a
// real HTTP server speaking the webhook push protocol), Twilio's Calls
// API (the fake), the callback listener over TLS, a real slapd, and
// radclient as a NAS that retransmits while its request is held.
func TestRadclientPushAndCallApprovals(t *testing.T) {
	slapd := testenv.SlapdT(t, testenv.SlapdOptions{Users: 20})
	tw := testenv.NewFakeTwilio(t)
	const gwSecret = "push-gateway-secret-0123456789abcdef"
	var mu sync.Mutex
	var pushes []webhook.PushMessage
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, _ := io.ReadAll(r.Body)
		var m webhook.PushMessage
		json.Unmarshal(raw, &m)
		if !webhook.VerifyApproval(gwSecret, r.Header.Get("X-Kakunin-Timestamp"), m.ID, "push", string(raw), r.Header.Get("X-Kakunin-Signature"), time.Now(), time.Minute) {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		mu.Lock()
		pushes = append(pushes, m)
		mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	defer gw.Close()
	cert, key, client := testenv.TLSFiles(t)
	cb := freeAddr(t)
	yaml := serverYAML(slapd, slapd.URL, sqliteStore(t.TempDir(), newStoreKey(t))) + fmt.Sprintf(`push:
  webhook: {url: %s, secret: %q}
voice:
  provider: twilio
  twilio: {account_sid: %s, auth_token: %q, from: "+815012345678", base_url: %s}
callbacks:
  listen: %s
  public_url: https://%s
  signing_key: "callback-signing-key-for-the-test-0123456789"
  tls_cert_file: %s
  tls_key_file: %s
`, gw.URL, gwSecret, tw.AccountSID, tw.AuthToken, tw.URL, cb, cb, cert, key)
	cfg, err := parseConfig([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	a := startApp(t, cfg, newLogger(cfg.Log, logs))
	addr := a.radius.AuthAddrs()[0].String()
	ctx := context.Background()
	admin, err := challenge.NewAdmin(cfg.Flow, a.store)
	if err != nil {
		t.Fatal(err)
	}
	pushUser, callUser := testenv.UserID(7), testenv.UserID(8)
	if _, err := admin.AddPush(ctx, pushUser, "Pixel", challenge.PushRegistration{Channel: "webhook", Device: "device-7"}, "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.AddPhone(ctx, callUser, store.KindOfficePhone, "+81 3 5555 0008", "208", "desk", "test"); err != nil {
		t.Fatal(err)
	}
	send := func(user, answer, state string, tries, wait int) testenv.RadReply {
		in := `User-Name = "` + user + `", User-Password = "` + answer + `", Calling-Station-Id = "203.0.113.9"`
		if state != "" {
			in += `, State = ` + state
		}
		return testenv.RadclientRetrying(t, addr, "auth", testSecret, in+`, Message-Authenticator = 0x00`, tries, wait)
	}
	async := func(f func() testenv.RadReply) chan testenv.RadReply {
		ch := make(chan testenv.RadReply, 1)
		go func() { ch <- f() }()
		return ch
	}
	waitFor := func(what string, n func() int, want int) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for n() < want {
			if time.Now().After(deadline) {
				t.Fatalf("waited for %d %s, have %d\n%s", want, what, n(), logs.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}

	t.Run("PushWithNumberMatching", func(t *testing.T) {
		r := send(pushUser, testenv.UserPassword(7), "", 1, 5)
		if r.Code != "Access-Challenge" || len(r.Attrs["State"]) != 1 {
			t.Fatalf("round 1: %s", r.Out)
		}
		m := regexp.MustCompile(`[0-9]{2}`).FindString(strings.Join(r.Attrs["Reply-Message"], " "))
		waitFor("pushes", func() int { mu.Lock(); defer mu.Unlock(); return len(pushes) }, 1)
		mu.Lock()
		p := pushes[0]
		mu.Unlock()
		if p.Device != "device-7" || len(p.Numbers) != 3 || !strings.Contains(fmt.Sprint(p.Numbers), m) {
			t.Fatalf("push %+v, number in the prompt %q", p, m)
		}
		// Enter, retransmitted every second while held.
		held := async(func() testenv.RadReply { return send(pushUser, "", r.Attrs["State"][0], 5, 1) })
		time.Sleep(2500 * time.Millisecond)
		n, _ := strconv.Atoi(m)
		raw, _ := json.Marshal(webhook.Decision{Decision: "approve", Number: n})
		req, _ := http.NewRequest(http.MethodPost, p.CallbackURL, bytes.NewReader(raw))
		ts := strconv.FormatInt(time.Now().Unix(), 10)
		req.Header.Set("X-Kakunin-Timestamp", ts)
		req.Header.Set("X-Kakunin-Signature", webhook.SignApproval(gwSecret, ts, p.ID, "push", raw))
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("callback status %d", resp.StatusCode)
		}
		r = <-held
		if r.Code != "Access-Accept" || r.Attrs["Class"] == nil {
			t.Fatalf("after approval: %s", r.Out)
		}
		mu.Lock()
		defer mu.Unlock()
		if len(pushes) != 1 {
			t.Errorf("%d pushes for one sign-in with retransmits, want 1", len(pushes))
		}
	})

	t.Run("CallToOfficePhoneWithExtension", func(t *testing.T) {
		held := async(func() testenv.RadReply { return send(callUser, testenv.UserPassword(8), "", 5, 1) })
		waitFor("calls", func() int { return len(tw.Calls()) }, 1)
		time.Sleep(2500 * time.Millisecond) // retransmits arrive meanwhile
		c := tw.Calls()[0]
		if c.To != "+81355550008" || !strings.HasSuffix(c.SendDigits, "208") {
			t.Errorf("call %+v", c)
		}
		if code, twiml, err := tw.Press(c, "#", client); err != nil || code != 200 || !strings.Contains(twiml, "承認") {
			t.Fatalf("press #: %d %q %v", code, twiml, err)
		}
		r := <-held
		if r.Code != "Access-Accept" {
			t.Fatalf("after #: %s", r.Out)
		}
		if n := len(tw.Calls()); n != 1 {
			t.Errorf("%d calls for one sign-in with retransmits, want 1", n)
		}
	})

	t.Run("RadtestPushNumberMatching", func(t *testing.T) {
		// kakunin radtest as an admin runs it: it shows the prompt with
		// the number, the phone approves, the admin presses Enter.
		cmd := exec.Command(kakuninBinary(t), "radtest", "-server", addr, "-secret", testSecret, "-user", pushUser,
			"-password", testenv.UserPassword(7))
		stdin, _ := cmd.StdinPipe()
		stdout, _ := cmd.StdoutPipe()
		cmd.Stderr = cmd.Stdout
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		before := len(pushes)
		mu.Unlock()
		sc := bufio.NewScanner(stdout)
		var shown []string
		number := ""
		for number == "" && sc.Scan() {
			shown = append(shown, sc.Text())
			if m := regexp.MustCompile(`choose ([0-9]{2})`).FindStringSubmatch(sc.Text()); m != nil {
				number = m[1]
			}
		}
		if number == "" {
			cmd.Process.Kill()
			t.Fatalf("radtest showed no number:\n%s", strings.Join(shown, "\n"))
		}
		waitFor("pushes", func() int { mu.Lock(); defer mu.Unlock(); return len(pushes) }, before+1)
		mu.Lock()
		p := pushes[before]
		mu.Unlock()
		n, _ := strconv.Atoi(number)
		raw, _ := json.Marshal(webhook.Decision{Decision: "approve", Number: n})
		req, _ := http.NewRequest(http.MethodPost, p.CallbackURL, bytes.NewReader(raw))
		ts := strconv.FormatInt(time.Now().Unix(), 10)
		req.Header.Set("X-Kakunin-Timestamp", ts)
		req.Header.Set("X-Kakunin-Signature", webhook.SignApproval(gwSecret, ts, p.ID, "push", raw))
		if resp, err := client.Do(req); err != nil || resp.StatusCode != 200 {
			t.Fatalf("callback: %v %v", resp, err)
		}
		io.WriteString(stdin, "\n")
		rest, _ := io.ReadAll(stdout)
		if err := cmd.Wait(); err != nil {
			t.Fatalf("radtest: %v\n%s\n%s", err, strings.Join(shown, "\n"), rest)
		}
		if !strings.Contains(string(rest), "Access-Accept") {
			t.Errorf("radtest output:\n%s", rest)
		}
	})

	if strings.Contains(logs.String(), tw.AuthToken) || strings.Contains(logs.String(), gwSecret) {
		t.Error("a provider secret is in the log")
	}
}
