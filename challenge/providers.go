package challenge

import "context"

// SMSSender delivers a text message to a phone number (E.164). The
// implementations live in subpackages: twilio (Twilio's Messages API),
// webhook (an organisation's own HTTPS gateway) and console (the demo).
// An error means the message was not accepted for delivery; its text may
// reach the log but never the user, and must not hold the message body.
type SMSSender interface {
	SendSMS(ctx context.Context, to, body string) error
}
