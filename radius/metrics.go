package radius

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Reasons a packet gets no answer: the values of the "reason" label of
// kakunin_radius_dropped_total. An alert on a rising rate of any of them
// but decision_drop and overloaded usually means a misconfigured NAS
// (bad_message_authenticator is almost always a wrong shared secret).
const (
	dropUnknownClient      = "unknown_client"
	dropMalformed          = "malformed"
	dropUnsupportedCode    = "unsupported_code"
	dropBadMA              = "bad_message_authenticator"
	dropMissingMA          = "missing_message_authenticator"
	dropBadRequestAuth     = "bad_request_authenticator" // Accounting-Request
	dropOverloaded         = "overloaded"                // max_in_flight reached
	dropPanic              = "panic"
	dropDecision           = "decision_drop" // the flow chose silence (directory down, unavailable: drop)
	dropSendFailed         = "send_failed"
	dropResponseEncodeFail = "encode_failed"
)

var dropReasons = []string{
	dropUnknownClient, dropMalformed, dropUnsupportedCode, dropBadMA, dropMissingMA,
	dropBadRequestAuth, dropOverloaded, dropPanic, dropDecision, dropSendFailed,
	dropResponseEncodeFail,
}

// metrics are the server's Prometheus metrics. Labels are client names,
// RADIUS code names, reasons and outcomes: never a user, never an address
// (unknown sources would make cardinality unbounded).
type metrics struct {
	requests    *prometheus.CounterVec
	responses   *prometheus.CounterVec
	dropped     *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	inFlight    prometheus.Gauge
	retransmits *prometheus.CounterVec
	accounting  *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer, clients []*client) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kakunin_radius_requests_total",
			Help: "RADIUS requests from known clients that parsed and have a code their port serves, before authenticity checks, retransmits included, by client and code.",
		}, []string{"client", "code"}),
		responses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kakunin_radius_responses_total",
			Help: "RADIUS responses sent, by client and code.",
		}, []string{"client", "code"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kakunin_radius_dropped_total",
			Help: "RADIUS packets left unanswered, by reason.",
		}, []string{"reason"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "kakunin_radius_decision_duration_seconds",
			Help: "Time to decide an Access-Request, by outcome (accept, reject, challenge, drop).",
			// From a cached directory answer to a push approval held
			// for a minute.
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 20, 30, 45, 60, 90},
		}, []string{"outcome"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "kakunin_radius_in_flight",
			Help: "Access-Requests being decided now (bounded by max_in_flight).",
		}),
		retransmits: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kakunin_radius_retransmits_total",
			Help: "Retransmitted requests answered from the retransmit cache, by client.",
		}, []string{"client"}),
		accounting: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kakunin_radius_accounting_total",
			Help: "Accounting-Requests accepted, by client and Acct-Status-Type.",
		}, []string{"client", "status"}),
	}
	// Export every series an alert might use at zero, so that rate() works
	// from the first scrape instead of after the first incident.
	for _, r := range dropReasons {
		m.dropped.WithLabelValues(r)
	}
	for _, c := range clients {
		m.retransmits.WithLabelValues(c.name)
	}
	if reg == nil {
		return m, nil
	}
	var done []prometheus.Collector
	for _, c := range []prometheus.Collector{
		m.requests, m.responses, m.dropped, m.duration, m.inFlight, m.retransmits, m.accounting,
	} {
		if err := reg.Register(c); err != nil {
			for _, d := range done {
				reg.Unregister(d)
			}
			return nil, fmt.Errorf("register metrics: %w", err)
		}
		done = append(done, c)
	}
	return m, nil
}

func (m *metrics) drop(reason string) { m.dropped.WithLabelValues(reason).Inc() }
