package radius

import (
	"context"
	"crypto/hmac"
	"crypto/md5"
	"errors"
	"fmt"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2869"
)

// Client is a small RADIUS client for kakunin's own tools (radtest, bench):
// PAP Access-Requests that carry a Message-Authenticator, and responses
// checked for both authenticators.
type Client struct {
	addr   string
	secret []byte
	nasID  string
	rc     *radius.Client
}

// NewClient returns a client for the server at addr; retry is the
// retransmit interval (the same packet, so the server answers from its
// cache).
func NewClient(addr, secret, nasID string, retry time.Duration) *Client {
	return &Client{addr: addr, secret: []byte(secret), nasID: nasID,
		rc: &radius.Client{Retry: retry, MaxPacketErrors: 10}}
}

// Reply is the server's answer to an Access-Request.
type Reply struct {
	Code     radius.Code
	Messages []string
	State    []byte
	Packet   *radius.Packet
}

// Access sends one Access-Request and waits for its answer.
func (c *Client) Access(ctx context.Context, user, password string, state []byte) (Reply, error) {
	p := radius.New(radius.CodeAccessRequest, c.secret)
	// Message-Authenticator first, as BlastRADIUS mitigations recommend.
	p.Add(rfc2869.MessageAuthenticator_Type, make([]byte, 16))
	if err := rfc2865.UserName_SetString(p, user); err != nil {
		return Reply{}, err
	}
	if err := rfc2865.UserPassword_SetString(p, password); err != nil {
		return Reply{}, err
	}
	if c.nasID != "" {
		rfc2865.NASIdentifier_SetString(p, c.nasID)
	}
	if len(state) > 0 {
		rfc2865.State_Set(p, state)
	}
	wire, err := p.Encode()
	if err != nil {
		return Reply{}, err
	}
	mac := hmac.New(md5.New, c.secret)
	mac.Write(wire)
	rfc2869.MessageAuthenticator_Set(p, mac.Sum(nil))

	resp, err := c.rc.Exchange(ctx, p, c.addr)
	if err != nil {
		return Reply{}, err
	}
	if err := checkResponseMA(resp, p.Authenticator, c.secret); err != nil {
		return Reply{}, err
	}
	r := Reply{Code: resp.Code, Packet: resp}
	r.Messages, _ = rfc2865.ReplyMessage_GetStrings(resp)
	r.State = rfc2865.State_Get(resp)
	return r, nil
}

// checkResponseMA verifies a response's Message-Authenticator, computed
// with the request's authenticator in place of the response's.
func checkResponseMA(resp *radius.Packet, reqAuth [16]byte, secret []byte) error {
	b, err := resp.MarshalBinary()
	if err != nil {
		return err
	}
	copy(b[4:headerLen], reqAuth[:])
	off, err := findMessageAuthenticator(b)
	if err != nil {
		return err
	}
	if off < 0 {
		return errors.New("response has no Message-Authenticator")
	}
	if !validMessageAuthenticator(b, off, secret, false) {
		return fmt.Errorf("response Message-Authenticator is wrong (check the shared secret)")
	}
	return nil
}
