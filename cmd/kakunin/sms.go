package main

import (
	"fmt"
	"os"

	"kakunin/challenge"
	"kakunin/challenge/console"
	"kakunin/challenge/twilio"
	"kakunin/challenge/webhook"
)

// smsConfig chooses the SMS provider ("sms" section). Without one, phones
// cannot receive codes and only authenticator apps work.
type smsConfig struct {
	Provider string         `yaml:"provider"` // twilio or webhook; empty for none
	Twilio   twilio.Config  `yaml:"twilio"`
	Webhook  webhook.Config `yaml:"webhook"`
	// demo allows the console provider, which prints codes: it is set by
	// kakunin demo only and cannot be chosen in a configuration file.
	demo bool
}

func (c *smsConfig) setDefaults() {
	c.Twilio.SetDefaults()
	c.Webhook.SetDefaults()
}

// validate checks the chosen provider's section only.
func (c *smsConfig) validate() []string {
	var problems []string
	prefix := func(section string, err error) {
		if err != nil {
			for _, l := range splitLines(err.Error()) {
				problems = append(problems, "sms."+section+"."+l)
			}
		}
	}
	switch c.Provider {
	case "":
	case "twilio":
		prefix("twilio", c.Twilio.Validate())
	case "webhook":
		prefix("webhook", c.Webhook.Validate())
	case "console":
		if !c.demo {
			problems = append(problems, `sms.provider: "console" prints codes to the terminal and is for kakunin demo only`)
		}
	default:
		problems = append(problems, fmt.Sprintf("sms.provider: %q is not twilio or webhook", c.Provider))
	}
	return problems
}

// sender builds the configured provider; nil when there is none.
func (c *smsConfig) sender() (challenge.SMSSender, error) {
	// A nil client lets each provider build its own, which does not follow
	// redirects (a redirected POST would arrive as a GET).
	switch c.Provider {
	case "twilio":
		return twilio.New(c.Twilio, nil)
	case "webhook":
		return webhook.New(c.Webhook, nil)
	case "console":
		return console.New(os.Stdout), nil
	}
	return nil, nil
}
