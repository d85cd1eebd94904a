package radius

import (
	"context"
	"crypto/hmac"
	"crypto/md5"
	"errors"
	"fmt"
	"net"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"
	"layeh.com/radius/rfc2869"
)

// Client is a small RADIUS client for kakunin's own tools (radtest, bench):
// PAP Access-Requests that carry a Message-Authenticator, and responses
// checked for both authenticators. It keeps one UDP socket and sends one
// request at a time; use a Client per goroutine.
type Client struct {
	addr   string
	secret []byte
	nasID  string
	retry  time.Duration
	conn   net.Conn
	buf    [radius.MaxPacketLength]byte
}

// NewClient returns a client for the server at addr; retry is the
// retransmit interval (the same packet, so the server answers from its
// cache).
func NewClient(addr, secret, nasID string, retry time.Duration) *Client {
	return &Client{addr: addr, secret: []byte(secret), nasID: nasID, retry: retry}
}

// Close releases the client's socket.
func (c *Client) Close() error {
	if c.conn == nil {
		return nil
	}
	return c.conn.Close()
}

// Reply is the server's answer to an Access-Request.
type Reply struct {
	Code     radius.Code
	Messages []string
	State    []byte
	Packet   *radius.Packet
}

// Access sends one Access-Request and waits for its answer, retransmitting
// the same packet every retry interval until ctx ends.
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
	copy(wire[headerLen+2:headerLen+2+maLen], mac.Sum(nil))

	resp, err := c.exchange(ctx, wire)
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

// exchange sends wire and returns the first authentic response to it.
// Stray or forged datagrams are ignored, as a NAS would.
func (c *Client) exchange(ctx context.Context, wire []byte) (*radius.Packet, error) {
	if c.conn == nil {
		var d net.Dialer
		conn, err := d.DialContext(ctx, "udp", c.addr)
		if err != nil {
			return nil, err
		}
		c.conn = conn
	}
	for {
		if _, err := c.conn.Write(wire); err != nil {
			return nil, err
		}
		deadline := time.Now().Add(c.retry)
		if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
			deadline = d
		}
		c.conn.SetReadDeadline(deadline)
		for {
			n, err := c.conn.Read(c.buf[:])
			if err != nil {
				if ctx.Err() != nil {
					return nil, ctx.Err()
				}
				if ne, ok := err.(net.Error); ok && ne.Timeout() {
					break // retransmit
				}
				return nil, err
			}
			b := c.buf[:n]
			if n < headerLen || b[1] != wire[1] || !radius.IsAuthenticResponse(b, wire, c.secret) {
				continue
			}
			return radius.Parse(b, c.secret)
		}
	}
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
