package portal

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	signins *prometheus.CounterVec // by outcome
	changes *prometheus.CounterVec // by action
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		signins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kakunin_portal_signins_total",
			Help: "Portal sign-in steps by outcome (password_ok, code_ok, bad_credentials, bad_code, locked, not_allowed, unavailable).",
		}, []string{"outcome"}),
		changes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kakunin_portal_changes_total",
			Help: "Enrollment changes made in the portal, by action (mfa_applied, method_added, method_deleted, default_changed).",
		}, []string{"action"}),
	}
	if reg != nil {
		reg.MustRegister(m.signins, m.changes)
	}
	return m
}
