package ldapauth

import (
	"errors"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// Operations, the values of the op label.
const (
	opDial        = "dial"         // TCP connect, TLS handshake or StartTLS
	opServiceBind = "service_bind" // binding a new pooled connection as the service account
	opSearch      = "search"       // finding a user's entry by user_filter
	opBind        = "bind"         // a user's bind: the password check
	opRead        = "read"         // reading a user's entry after its bind
	opPing        = "ping"         // readiness check
)

// Outcomes of Authenticate, the values of the outcome label.
const (
	outcomeOK          = "ok"
	outcomeInvalid     = "invalid_credentials"
	outcomeNotAllowed  = "not_allowed"
	outcomeUnavailable = "unavailable"
)

type metrics struct {
	ops       map[string]prometheus.Observer
	errors    *prometheus.CounterVec
	logins    *prometheus.CounterVec
	cacheHit  prometheus.Counter
	cacheMiss prometheus.Counter
	pool      *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	opDuration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "kakunin_ldap_operation_duration_seconds",
		Help:    "Duration of LDAP operations, by operation (dial, service_bind, search, bind, read, ping).",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
	}, []string{"op"})
	errs := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kakunin_ldap_errors_total",
		Help: "Directory failures by server (index in ldap.urls) and reason (dial, timeout, network, busy, result).",
	}, []string{"server", "reason"})
	logins := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kakunin_ldap_authentications_total",
		Help: "Password checks by outcome (ok, invalid_credentials, not_allowed, unavailable).",
	}, []string{"outcome"})
	cache := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kakunin_ldap_dn_cache_lookups_total",
		Help: "Lookups in the user-to-DN cache by result (hit, miss); a name remembered as unknown is a hit.",
	}, []string{"result"})
	pool := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "kakunin_ldap_pool_connections",
		Help: "Open directory connections by pool (service, user).",
	}, []string{"pool"})

	if reg != nil {
		var err error
		if opDuration, err = register(reg, opDuration); err != nil {
			return nil, err
		}
		if errs, err = register(reg, errs); err != nil {
			return nil, err
		}
		if logins, err = register(reg, logins); err != nil {
			return nil, err
		}
		if cache, err = register(reg, cache); err != nil {
			return nil, err
		}
		if pool, err = register(reg, pool); err != nil {
			return nil, err
		}
	}

	m := &metrics{
		ops:       map[string]prometheus.Observer{},
		errors:    errs,
		logins:    logins,
		cacheHit:  cache.WithLabelValues("hit"),
		cacheMiss: cache.WithLabelValues("miss"),
		pool:      pool,
	}
	for _, op := range []string{opDial, opServiceBind, opSearch, opBind, opRead, opPing} {
		m.ops[op] = opDuration.WithLabelValues(op)
	}
	for _, o := range []string{outcomeOK, outcomeInvalid, outcomeNotAllowed, outcomeUnavailable} {
		logins.WithLabelValues(o)
	}
	return m, nil
}

func (m *metrics) serverError(server int, reason string) {
	m.errors.WithLabelValues(strconv.Itoa(server), reason).Inc()
}

// register registers c, or returns the collector already registered under
// its name, so that several Directories can share one registry.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	err := reg.Register(c)
	if err == nil {
		return c, nil
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing, nil
		}
	}
	return c, err
}
