package radius

import (
	"crypto/hmac"
	"crypto/md5"
	"crypto/subtle"
	"errors"

	"layeh.com/radius"
	"layeh.com/radius/rfc2869"
)

// The packet authenticators of RFC 2865, RFC 2866 and RFC 3579, on wire
// bytes. They are written here rather than taken from layeh.com/radius,
// which has no Message-Authenticator support: BlastRADIUS (CVE-2024-3596)
// makes it the check that matters, and the order of the two hashes in a
// response is easy to get wrong.

const (
	headerLen = 20 // code, identifier, length, authenticator
	maLen     = 16 // Message-Authenticator value: an HMAC-MD5
)

var zeros [16]byte

// findMessageAuthenticator returns the offset of the Message-Authenticator
// value in a packet whose attributes radius.Parse has already accepted, or
// -1 when there is none. More than one, or one of the wrong length, makes
// the packet malformed (RFC 3579 section 3.2).
func findMessageAuthenticator(b []byte) (int, error) {
	off := -1
	for i := headerLen; i+2 <= len(b); {
		t, l := b[i], int(b[i+1])
		if l < 2 || i+l > len(b) {
			return -1, errors.New("attribute overruns packet")
		}
		if radius.Type(t) == rfc2869.MessageAuthenticator_Type {
			if off >= 0 {
				return -1, errors.New("more than one Message-Authenticator")
			}
			if l != 2+maLen {
				return -1, errors.New("Message-Authenticator of wrong length")
			}
			off = i + 2
		}
		i += l
	}
	return off, nil
}

// validMessageAuthenticator checks the HMAC-MD5 at b[off:off+16], computed
// over the packet with that value zeroed. For an Accounting-Request the
// authenticator field is taken as zeros too: that field is itself an MD5
// over the attributes, computed after the Message-Authenticator, so the
// sender cannot know it yet (FreeRADIUS, which NAS vendors test against,
// does the same). The packet is hashed in pieces so that b is not modified.
func validMessageAuthenticator(b []byte, off int, secret []byte, zeroVector bool) bool {
	h := hmac.New(md5.New, secret)
	h.Write(b[:4])
	if zeroVector {
		h.Write(zeros[:])
	} else {
		h.Write(b[4:headerLen])
	}
	h.Write(b[headerLen:off])
	h.Write(zeros[:maLen])
	h.Write(b[off+maLen:])
	var sum [md5.Size]byte
	return hmac.Equal(h.Sum(sum[:0]), b[off:off+maLen])
}

// validAccountingAuthenticator checks an Accounting-Request's Request
// Authenticator: MD5 over the packet with that field zeroed, then the
// secret (RFC 2866 section 3).
func validAccountingAuthenticator(b, secret []byte) bool {
	h := md5.New()
	h.Write(b[:4])
	h.Write(zeros[:])
	h.Write(b[headerLen:])
	h.Write(secret)
	var sum [md5.Size]byte
	return subtle.ConstantTimeCompare(h.Sum(sum[:0]), b[4:headerLen]) == 1
}

// signResponse fills in a marshalled response. With a Message-Authenticator
// (withMA), the response must carry it zeroed as its first attribute
// (b[20:38]); it comes first in the packet and first in the computation:
// an HMAC over the packet with maVector in the authenticator field (the
// Request Authenticator, or zeros for an Accounting-Response to an
// Accounting-Request). The Response Authenticator is then an MD5 over the
// packet including it, with the Request Authenticator in its place, and
// the secret (RFC 3579 section 3.2, RFC 2865 section 3).
//
// Putting the Message-Authenticator first is the BlastRADIUS mitigation: a
// forged response would have to collide on a prefix that includes the
// HMAC, which the attacker cannot compute.
func signResponse(b []byte, reqAuth, maVector [16]byte, secret []byte, withMA bool) {
	if withMA {
		copy(b[4:headerLen], maVector[:])
		h := hmac.New(md5.New, secret)
		h.Write(b)
		h.Sum(b[headerLen+2 : headerLen+2 : headerLen+2+maLen])
	}
	copy(b[4:headerLen], reqAuth[:])
	m := md5.New()
	m.Write(b)
	m.Write(secret)
	m.Sum(b[4:4:headerLen])
}
