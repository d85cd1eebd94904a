package radius

import (
	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2869"

	"kakunin/challenge"
)

// maPlaceholder is the zeroed Message-Authenticator a response is
// marshalled with before signResponse fills it in. Read only.
var maPlaceholder = make(radius.Attribute, maLen)

// accessResponse turns a decision into a signed Access-Accept,
// Access-Reject or Access-Challenge, or nil for Drop. A decision that
// cannot be encoded (a State too long or missing, more attributes than a
// packet holds) becomes a bare Access-Reject: failing closed with an
// answer is better than an accept the NAS cannot parse, or a silence that
// makes it retry elsewhere.
func (s *Server) accessResponse(r *request, d challenge.Decision) []byte {
	var code radius.Code
	var attrs radius.Attributes
	switch d.Outcome {
	case challenge.Drop:
		return nil
	case challenge.Accept:
		code = radius.CodeAccessAccept
		attrs = append(attrs, r.client.replyAttrs...)
		attrs = append(attrs, groupAttributes(s.groups, d.Groups)...)
		attrs = append(attrs, replyMessages(d.Messages)...)
	case challenge.Challenge:
		if len(d.State) == 0 || len(d.State) > maxAttrValue {
			s.log.Error("challenge decision with an unusable State; sending Access-Reject",
				"client", r.client.name, "state_len", len(d.State))
			return s.bareReject(r)
		}
		code = radius.CodeAccessChallenge
		attrs = append(replyMessages(d.Messages),
			&radius.AVP{Type: rfc2865.State_Type, Attribute: radius.Attribute(d.State)})
	default: // Reject, and any outcome this code does not know: fail closed
		code = radius.CodeAccessReject
		attrs = replyMessages(d.Messages)
	}
	b, err := s.encode(r, code, attrs, true)
	if err != nil {
		s.log.Error("response does not fit in a RADIUS packet; sending Access-Reject",
			"client", r.client.name, "code", code.String(), "err", err)
		return s.bareReject(r)
	}
	return b
}

func (s *Server) bareReject(r *request) []byte {
	b, err := s.encode(r, radius.CodeAccessReject, nil, true)
	if err != nil {
		// Only the request's own Proxy-State can overflow a bare reject.
		s.dropf(dropResponseEncodeFail, r.src, r.client, "cannot encode Access-Reject", "err", err)
		return nil
	}
	return b
}

// encode marshals and signs a response to r: the Message-Authenticator
// first (withMA), then attrs, then r's Proxy-State attributes in the order
// they came.
func (s *Server) encode(r *request, code radius.Code, attrs radius.Attributes, withMA bool) ([]byte, error) {
	all := make(radius.Attributes, 0, 1+len(attrs)+len(r.proxyState))
	if withMA {
		all = append(all, &radius.AVP{Type: rfc2869.MessageAuthenticator_Type, Attribute: maPlaceholder})
	}
	all = append(all, attrs...)
	all = append(all, r.proxyState...)
	p := radius.Packet{Code: code, Identifier: r.id, Attributes: all}
	b, err := p.MarshalBinary()
	if err != nil {
		return nil, err
	}
	maVector := r.auth
	if r.code == radius.CodeAccountingRequest {
		maVector = zeros
	}
	signResponse(b, r.auth, maVector, r.client.secret, withMA)
	return b, nil
}
