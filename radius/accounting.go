package radius

import (
	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2866"
)

// kakunin does not bill or track sessions, but NAS devices configured to
// send accounting to their authentication server retransmit and raise
// alarms when nobody answers. Answering, and logging each record, also
// gives admins the session start and stop times next to the logins.

// accountingStatus names an Acct-Status-Type for the metric label and the
// log; unknown values become "other" to keep the label bounded.
func accountingStatus(p *radius.Packet) string {
	a, ok := p.Lookup(rfc2866.AcctStatusType_Type)
	if !ok {
		return "missing"
	}
	v, err := radius.Integer(a)
	if err != nil {
		return "other"
	}
	switch rfc2866.AcctStatusType(v) {
	case rfc2866.AcctStatusType_Value_Start:
		return "Start"
	case rfc2866.AcctStatusType_Value_Stop:
		return "Stop"
	case rfc2866.AcctStatusType_Value_InterimUpdate:
		return "Interim-Update"
	case rfc2866.AcctStatusType_Value_AccountingOn:
		return "Accounting-On"
	case rfc2866.AcctStatusType_Value_AccountingOff:
		return "Accounting-Off"
	case rfc2866.AcctStatusType_Value_Failed:
		return "Failed"
	}
	return "other"
}

// accountingRequest logs an authentic Accounting-Request and acknowledges
// it. A retransmit gets the cached acknowledgement and is not logged again.
func (s *Server) accountingRequest(r *request, p *radius.Packet) {
	e := s.dedupe(r)
	if e == nil {
		return
	}
	status := accountingStatus(p)
	s.metrics.accounting.WithLabelValues(r.client.name, status).Inc()
	// Accounting comes from an authentic NAS for sessions it opened after
	// an Access-Accept, so its User-Name is the signed-in user.
	s.log.Info("accounting", "client", r.client.name, "status", status,
		"user", string(p.Get(rfc2865.UserName_Type)),
		"session_id", string(p.Get(rfc2866.AcctSessionID_Type)))

	// A Message-Authenticator goes back only to a NAS that sent one: an
	// older NAS may reject a response with attributes it did not expect.
	b, err := s.encode(r, radius.CodeAccountingResponse, nil, r.hasMA)
	if err != nil {
		s.dropf(dropResponseEncodeFail, r.src, r.client, "cannot encode Accounting-Response", "err", err)
		s.complete(e, r, nil)
		return
	}
	s.complete(e, r, b)
}
