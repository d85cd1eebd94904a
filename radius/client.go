package main

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

// accessClient is the small RADIUS client behind radtest and bench: PAP
// Access-Requests with a Message-Authenticator, responses checked for
// both authenticators.
type accessClient struct {
	addr   string
	secret []byte
	nasID  string
	rc     *radius.Client
}

func newAccessClient(addr, secret, nasID string, retry time.Duration) *accessClient {
	return &accessClient{addr: addr, secret: []byte(secret), nasID: nasID,
		rc: &radius.Client{Retry: retry, MaxPacketErrors: 10}}
}

type accessReply struct {
	Code     radius.Code
	Messages []string
	State    []byte
	Packet   *radius.Packet
}

// access sends one Access-Request and waits for its answer (retransmitting
// the same packet, so the server answers from its cache).
func (c *accessClient) access(ctx context.Context, user, password string, state []byte) (accessReply, error) {
	p := radius.New(radius.CodeAccessRequest, c.secret)
	// Message-Authenticator first, as BlastRADIUS mitigations recommend.
	p.Add(rfc2869.MessageAuthenticator_Type, make([]byte, 16))
	if err := rfc2865.UserName_SetString(p, user); err != nil {
		return accessReply{}, err
	}
	if err := rfc2865.UserPassword_SetString(p, password); err != nil {
		return accessReply{}, err
	}
	if c.nasID != "" {
		rfc2865.NASIdentifier_SetString(p, c.nasID)
	}
	if len(state) > 0 {
		rfc2865.State_Set(p, state)
	}
	wire, err := p.Encode()
	if err != nil {
		return accessReply{}, err
	}
	mac := hmac.New(md5.New, c.secret)
	mac.Write(wire)
	rfc2869.MessageAuthenticator_Set(p, mac.Sum(nil))

	resp, err := c.rc.Exchange(ctx, p, c.addr)
	if err != nil {
		return accessReply{}, err
	}
	if err := checkResponseMA(resp, p.Authenticator, c.secret); err != nil {
		return accessReply{}, err
	}
	r := accessReply{Code: resp.Code, Packet: resp}
	r.Messages, _ = rfc2865.ReplyMessage_GetStrings(resp)
	r.State = rfc2865.State_Get(resp)
	return r, nil
}

// checkResponseMA verifies a response's Message-Authenticator, computed
// with the request's authenticator in place of the response's.
func checkResponseMA(resp *radius.Packet, reqAuth [16]byte, secret []byte) error {
	got, err := rfc2869.MessageAuthenticator_Lookup(resp)
	if err != nil {
		return errors.New("response has no Message-Authenticator")
	}
	cp := *resp
	cp.Attributes = append(radius.Attributes(nil), resp.Attributes...)
	cp.Authenticator = reqAuth
	rfc2869.MessageAuthenticator_Set(&cp, make([]byte, 16))
	wire, err := cp.MarshalBinary()
	if err != nil {
		return err
	}
	mac := hmac.New(md5.New, secret)
	mac.Write(wire)
	if !hmac.Equal(mac.Sum(nil), got) {
		return fmt.Errorf("response Message-Authenticator is wrong (check the shared secret)")
	}
	return nil
}
