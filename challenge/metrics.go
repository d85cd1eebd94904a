package challenge

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	decisions        *prometheus.CounterVec
	duration         *prometheus.HistogramVec
	dirDuration      prometheus.Histogram
	dirErrors        prometheus.Counter
	storeDuration    *prometheus.HistogramVec
	lockouts         *prometheus.CounterVec
	smsLimited       prometheus.Counter
	providerDuration *prometheus.HistogramVec
	providerErrors   *prometheus.CounterVec
	held             prometheus.Gauge
	approvals        *prometheus.CounterVec
	pushLimited      prometheus.Counter
	approvalWait     *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kakunin_auth_decisions_total",
			Help: "Decisions by outcome and reason.",
		}, []string{"outcome", "reason"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "kakunin_auth_decision_duration_seconds",
			Help:    "Time to decide one request (one round), by outcome.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"outcome"}),
		dirDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "kakunin_auth_directory_duration_seconds",
			Help:    "Time the directory took to check a password.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}),
		dirErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kakunin_auth_directory_errors_total",
			Help: "Password checks that failed because the directory could not answer.",
		}),
		storeDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "kakunin_auth_store_duration_seconds",
			Help:    "Time of store operations on the login path, by operation.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}, []string{"op"}),
		lockouts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kakunin_auth_lockouts_total",
			Help: "Users paused after repeated failures, by kind (password, code).",
		}, []string{"kind"}),
		smsLimited: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kakunin_auth_sms_limited_total",
			Help: "SMS codes not sent because of the per-phone or per-user limits.",
		}),
		providerDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "kakunin_provider_request_duration_seconds",
			Help:    "Time an outside provider (SMS, voice, push) took to accept a request.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 12),
		}, []string{"provider"}),
		providerErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kakunin_provider_errors_total",
			Help: "Requests an outside provider did not accept.",
		}, []string{"provider"}),
		held: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "kakunin_auth_held_requests",
			Help: "Access-Requests held now, waiting for a push or a call to be approved.",
		}),
		approvals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kakunin_auth_approvals_total",
			Help: "Push and call approvals decided, by kind (push, call) and outcome (approved, denied, wrong_number, fraud, timeout, failed).",
		}, []string{"kind", "outcome"}),
		approvalWait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "kakunin_auth_approval_wait_seconds",
			Help:    "How long held requests waited for a push or a call to be answered, by method and outcome (not in kakunin_auth_decision_duration_seconds).",
			Buckets: []float64{1, 2, 5, 10, 15, 20, 30, 45, 60, 90, 120, 300},
		}, []string{"method", "outcome"}),
		pushLimited: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kakunin_auth_push_limited_total",
			Help: "Pushes not sent because the user reached push.max_per_user.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.decisions, m.duration, m.dirDuration, m.dirErrors, m.storeDuration, m.lockouts,
			m.smsLimited, m.providerDuration, m.providerErrors, m.held, m.approvals, m.pushLimited, m.approvalWait)
	}
	return m
}
