package portal

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	signins *prometheus.CounterVec // by outcome
	changes *prometheus.CounterVec // by action
	mails   *prometheus.CounterVec // by kind and outcome
	// codeTries counts the codes the portal sent and compared (codetries.go).
	codeTries *prometheus.CounterVec // by flow and outcome
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		signins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kakunin_portal_signins_total",
			Help: "Portal sign-in steps by outcome (password_ok, code_ok, bad_credentials, bad_code, locked, not_allowed, unavailable).",
		}, []string{"outcome"}),
		changes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kakunin_portal_changes_total",
			Help: "Enrollment changes made in the portal, by action (mfa_applied, method_added, method_deleted, default_changed, phone_changed, email_added, email_changed, email_deleted).",
		}, []string{"action"}),
		mails: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kakunin_portal_mails_total",
			Help: "Mails the portal sent or failed to send, by kind (code, notification) and outcome (sent, failed).",
		}, []string{"kind", "outcome"}),
		codeTries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kakunin_portal_code_tries_total",
			Help: "Codes typed back to the portal, by flow (phone: verifying a new number, signin_sms, email) and outcome (ok, wrong, refused: the code had had its tries or expired, and was not compared).",
		}, []string{"flow", "outcome"}),
	}
	if reg != nil {
		reg.MustRegister(m.signins, m.changes, m.mails, m.codeTries)
	}
	return m
}
