package twilio

import (
	"context"
	"time"

	"kakunin/challenge"
)

// Caller places the flow's approval calls through Twilio's Calls API
// (challenge.Caller).
type Caller struct{ *Client }

// Call rings r.To (dialling r.Extension once it answers) and runs the
// approval TwiML; the outcome arrives at r.GatherURL and r.StatusURL.
func (c Caller) Call(ctx context.Context, r challenge.CallRequest) error {
	_, err := c.Client.Call(ctx, CallRequest{
		To:        r.To,
		Extension: r.Extension,
		Language:  r.Language,
		Prompt:    r.Prompt,
		GatherURL: r.GatherURL,
		StatusURL: r.StatusURL,
		Timeout:   ringTimeout,
	})
	return err
}

// ringTimeout is how long an approval call rings: well inside the flow's
// hold timeout, so an unanswered call ends (and denies) before the request
// gives up.
const ringTimeout = 30 * time.Second
