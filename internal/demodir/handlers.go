package demodir

import (
	"crypto/subtle"

	"github.com/go-ldap/ldap/v3"
	"github.com/jimlambrt/gldap"
)

// sizeLimit caps the entries of one search, whatever the client asks.
const sizeLimit = 50

// scopeChildren is the subordinate subtree scope of
// draft-sermersheim-ldap-subordinate-scope, which OpenLDAP and go-ldap
// (ScopeChildren) support and gldap has no name for.
const scopeChildren gldap.Scope = 3

// handleBind serves simple binds. Whatever the outcome, the connection
// first loses its previous identity: a failed bind leaves it anonymous
// (RFC 4511 section 4.2.1).
func (d *Directory) handleBind(w *gldap.ResponseWriter, r *gldap.Request) {
	resp := r.NewBindResponse(gldap.WithResponseCode(gldap.ResultInvalidCredentials))
	defer d.write(w, resp)
	conn := r.ConnectionID()
	d.setBound(conn, nil)

	m, err := r.GetSimpleBindMessage()
	if err != nil {
		resp.SetResultCode(gldap.ResultAuthMethodNotSupported)
		return
	}
	name, password := m.UserName, string(m.Password)
	switch {
	case name == "" && password == "":
		d.log.Debug("demo directory: bind", "conn", conn, "dn", "", "result", "anonymous")
		resp.SetResultCode(gldap.ResultSuccess)
		return
	case password == "":
		// An "unauthenticated bind" (RFC 4513 section 5.1.2): refused, as
		// by OpenLDAP's default, lest a client take it for a good password.
		d.log.Debug("demo directory: bind", "conn", conn, "dn", name, "result", "unauthenticated bind refused")
		resp.SetResultCode(gldap.ResultUnwillingToPerform)
		resp.SetDiagnosticMessage("unauthenticated bind (DN with no password) disallowed")
		return
	case name == "":
		d.log.Debug("demo directory: bind", "conn", conn, "dn", "", "result", "password without DN")
		return
	}
	dn, err := ldap.ParseDN(name)
	if err != nil {
		d.log.Debug("demo directory: bind", "conn", conn, "dn", name, "result", "invalid DN")
		resp.SetResultCode(gldap.ResultInvalidDNSyntax)
		resp.SetDiagnosticMessage("invalid DN")
		return
	}
	given := digest(password)
	e := d.lookup(dn)
	// An unknown DN and a wrong password look the same to the client.
	if e == nil || e.password == nil || subtle.ConstantTimeCompare(given, e.password) != 1 {
		d.log.Debug("demo directory: bind", "conn", conn, "dn", name, "result", "invalid credentials")
		return
	}
	d.setBound(conn, e)
	d.log.Debug("demo directory: bind", "conn", conn, "dn", e.name, "result", "success")
	resp.SetResultCode(gldap.ResultSuccess)
}

// handleSearch serves searches under the access rules of the package
// comment.
func (d *Directory) handleSearch(w *gldap.ResponseWriter, r *gldap.Request) {
	done := r.NewSearchDoneResponse(gldap.WithResponseCode(gldap.ResultSuccess))
	defer d.write(w, done)
	conn := r.ConnectionID()
	m, err := r.GetSearchMessage()
	if err != nil {
		done.SetResultCode(gldap.ResultProtocolError)
		return
	}
	log := d.log.With("conn", conn, "base", m.BaseDN, "scope", int(m.Scope), "filter", m.Filter)
	refuse := func(code int, msg string) {
		log.Debug("demo directory: search refused", "result", gldap.ResultCodeMap[uint16(code)])
		done.SetResultCode(code)
		done.SetDiagnosticMessage(msg)
	}

	switch m.Scope {
	case gldap.BaseObject, gldap.SingleLevel, gldap.WholeSubtree, scopeChildren:
	default:
		refuse(gldap.ResultProtocolError, "invalid scope")
		return
	}
	base, err := ldap.ParseDN(m.BaseDN)
	if err != nil {
		refuse(gldap.ResultInvalidDNSyntax, "invalid DN")
		return
	}
	filter, err := ldap.CompileFilter(m.Filter)
	if err != nil {
		refuse(gldap.ResultProtocolError, "invalid filter")
		return
	}

	bound := d.boundAs(conn)
	var candidates []*entry
	switch {
	case len(base.RDNs) == 0 && m.Scope == gldap.BaseObject:
		// The root DSE is readable by anyone, as everywhere.
		candidates = []*entry{d.root}
	case bound == nil:
		refuse(gldap.ResultInsufficientAccessRights, "authentication required")
		return
	default:
		b := d.lookup(base)
		if b == nil || !visibleBase(bound, b) {
			refuse(gldap.ResultNoSuchObject, "")
			return
		}
		for _, e := range d.tree {
			if inScope(e.dn, base, m.Scope) && readable(bound, e) {
				candidates = append(candidates, e)
			}
		}
	}

	limit := sizeLimit
	if m.SizeLimit > 0 && m.SizeLimit < int64(limit) {
		limit = int(m.SizeLimit)
	}
	sent := 0
	for _, e := range candidates {
		if evaluate(filter, e) != matchTrue {
			continue
		}
		if sent == limit {
			done.SetResultCode(gldap.ResultSizeLimitExceeded)
			break
		}
		res := r.NewSearchResponseEntry(e.name)
		for _, a := range e.selectAttributes(m.Attributes) {
			values := a.values
			if m.TypesOnly {
				values = nil
			}
			res.AddAttribute(a.t.name, values)
		}
		if err := w.Write(res); err != nil {
			log.Debug("demo directory: write search entry", "err", err)
			return
		}
		sent++
	}
	log.Debug("demo directory: search", "entries", sent)
}

// readable reports whether a connection bound as bound may read e: the
// service account reads everything, a user only its own entry.
func readable(bound, e *entry) bool {
	return bound.name == serviceDN || bound == e
}

// visibleBase reports whether bound may search from base: a user only
// from its own entry or one of the containers above it.
func visibleBase(bound, base *entry) bool {
	return readable(bound, base) || base.dn.AncestorOfFold(bound.dn)
}

// inScope reports whether dn is within a search of base with scope s.
func inScope(dn, base *ldap.DN, s gldap.Scope) bool {
	switch s {
	case gldap.BaseObject:
		return dn.EqualFold(base)
	case gldap.SingleLevel:
		return len(dn.RDNs) == len(base.RDNs)+1 && base.AncestorOfFold(dn)
	case scopeChildren:
		return base.AncestorOfFold(dn)
	default:
		return dn.EqualFold(base) || base.AncestorOfFold(dn)
	}
}

// handleStartTLS refuses StartTLS: the demo has no certificate to offer.
// After a refusal go-ldap's client stops reading the connection, so a
// client that tried should dial again without it.
func (d *Directory) handleStartTLS(w *gldap.ResponseWriter, r *gldap.Request) {
	resp := r.NewExtendedResponse(gldap.WithResponseCode(gldap.ResultUnavailable))
	resp.SetResponseName(gldap.ExtendedOperationStartTLS)
	resp.SetDiagnosticMessage("StartTLS is not available: the demo directory speaks plain ldap://")
	d.log.Debug("demo directory: StartTLS refused", "conn", r.ConnectionID())
	d.write(w, resp)
}

func (d *Directory) handleUnbind(_ *gldap.ResponseWriter, r *gldap.Request) {
	d.log.Debug("demo directory: unbind", "conn", r.ConnectionID())
	d.forget(r.ConnectionID())
}

// readOnly answers a write request of the given kind.
func readOnly(applicationCode int) gldap.HandlerFunc {
	return func(w *gldap.ResponseWriter, r *gldap.Request) {
		_ = w.Write(r.NewResponse(
			gldap.WithApplicationCode(applicationCode),
			gldap.WithResponseCode(gldap.ResultUnwillingToPerform),
			gldap.WithDiagnosticMessage("the demo directory is read-only"),
		))
	}
}

// handleUnsupported answers the requests no other route takes: extended
// operations other than StartTLS (Who am I?, Password Modify, …).
func handleUnsupported(w *gldap.ResponseWriter, r *gldap.Request) {
	_ = w.Write(r.NewResponse(
		gldap.WithApplicationCode(gldap.ApplicationExtendedResponse),
		gldap.WithResponseCode(gldap.ResultProtocolError),
		gldap.WithDiagnosticMessage("unsupported extended operation"),
	))
}

func (d *Directory) write(w *gldap.ResponseWriter, resp gldap.Response) {
	if err := w.Write(resp); err != nil {
		d.log.Debug("demo directory: write response", "err", err)
	}
}
