package main

import (
	"testing"
	"time"

	"layeh.com/radius"

	"kakunin/internal/testenv"
	"kakunin/ldapauth"
)

// blackHole accepts TCP connections and never answers, until the test
// ends.
func blackHole(t *testing.T) string { return testenv.ServeTCP(t, nil).Addr().String() }

// With a first directory URL that accepts TCP and never answers (and the
// default directory timeout, longer than the readiness deadline), /readyz
// answers 200: the second server answers, and the store is checked with a
// deadline of its own. Afterwards logins still go through, and no server
// was counted as failing by the probes.
func TestReadyzWithBlackHoleFirstDirectoryURL(t *testing.T) {
	slapd := testenv.SlapdT(t, testenv.SlapdOptions{Users: 10})
	text := serverYAML(slapd, slapd.URL, postgresStore(testenv.PostgresDSN(t), newStoreKey(t)))
	cfg, err := parseConfig([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	cfg.LDAP.URLs = []string{"ldap://" + blackHole(t), slapd.URL}
	cfg.LDAP.Timeout = ldapauth.DefaultTimeout // longer than the readiness deadline
	logs := &syncBuffer{}
	a := startApp(t, cfg, newLogger(cfg.Log, logs))
	url := "http://" + a.httpLn.Addr().String() + "/readyz"

	for i := range 3 {
		status, body, err := httpGet(url)
		if err != nil {
			t.Fatal(err)
		}
		if status != 200 || body != "ok\n" {
			t.Fatalf("probe %d: /readyz = %d %q, want 200 ok\n%s", i, status, body, logs.String())
		}
	}
	mfs, err := a.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "kakunin_ldap_errors_total" && len(mf.GetMetric()) > 0 {
			t.Errorf("readiness probes counted directory errors: %v", mf.GetMetric())
		}
	}
	// A user with no method is refused by the flow only after the
	// directory accepted the password.
	r := access(t, a.radius.AuthAddrs()[0].String(), testSecret, testenv.UserID(3), testenv.UserPassword(3), nil)
	if r.Code != radius.CodeAccessReject {
		t.Errorf("login of a user with no method: %v, want Access-Reject", r.Code)
	}
	waitAuditApp(t, logs, testenv.UserID(3), "reject", "no_method")
}

// waitAuditApp waits until logs hold an audit line for user with the
// outcome and reason given.
func waitAuditApp(t *testing.T, logs *syncBuffer, user, outcome, reason string) {
	t.Helper()
	eventually(t, time.Minute, func() bool {
		for _, r := range auditRecords(logs.String()) {
			if r["user"] == user && r["outcome"] == outcome && r["reason"] == reason {
				return true
			}
		}
		return false
	}, func() string { return "no audit line user=" + user + " reason=" + reason + ":\n" + logs.String() })
}
