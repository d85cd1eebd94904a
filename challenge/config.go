package challenge

import (
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"
)

// Config is the flow's section of the configuration file ("flow"):
//
//	flow:
//	  user_pattern: '^[0-9]{10}$'     # anything else is rejected without a directory query
//	  languages: [ja, en]             # Reply-Message languages, in order
//	  enroll_url: https://mfa.example.ac.jp/
//	  challenge_ttl: 120s
//	  attempts_per_challenge: 3
//	  password_lockout: {failures: 5, window: 15m}
//	  code_lockout: {failures: 10, window: 15m, daily_failures: 30}
//	  issuer: Example University VPN  # shown in authenticator apps
//	  sms:                            # codes sent by SMS (needs an sms provider)
//	    code_ttl: 5m
//	    per_phone: 30s                # at most one code to a phone per 30 s
//	    per_user_per_hour: 5          # against SMS bombing and toll fraud
//	  hold:                           # push and voice approvals hold the Access-Request
//	    timeout: 60s                  # keep it under the gateway's RADIUS timeout
//	    node_name: vpn-mfa-1          # unique per node (default: the host name)
//	    max_per_approval: 4           # requests this node holds for one approval
//	    max_per_user: 8               # requests this node holds for one user
//	  push:
//	    number_matching: true         # the VPN prompt shows a number to pick on the phone
//	    max_per_user: 5               # pushes per user per window (MFA fatigue)
//	    window: 10m
//	  messages:                       # optional overrides, by key and language
//	    totp_prompt: {en: "Enter your VPN code"}
type Config struct {
	UserPattern          string        `yaml:"user_pattern"`
	Languages            []string      `yaml:"languages"`
	EnrollURL            string        `yaml:"enroll_url"`
	ChallengeTTL         time.Duration `yaml:"challenge_ttl"`
	AttemptsPerChallenge int           `yaml:"attempts_per_challenge"`
	PasswordLockout      Lockout       `yaml:"password_lockout"`
	CodeLockout          CodeLockout   `yaml:"code_lockout"`
	Issuer               string        `yaml:"issuer"`
	SMS                  SMSConfig     `yaml:"sms"`
	Hold                 HoldConfig    `yaml:"hold"`
	Push                 PushConfig    `yaml:"push"`
	// Messages overrides the built-in texts: key → language → text.
	Messages map[string]map[string]string `yaml:"messages"`
}

// SMSConfig governs codes sent by SMS.
type SMSConfig struct {
	CodeTTL        time.Duration `yaml:"code_ttl"`
	PerPhone       time.Duration `yaml:"per_phone"`
	PerUserPerHour int           `yaml:"per_user_per_hour"`
}

// HoldConfig governs requests held for a push or a call to be approved.
type HoldConfig struct {
	// Timeout is how long a request is held. The gateway must wait longer
	// than this for the answer (its RADIUS timeout times its retries).
	Timeout time.Duration `yaml:"timeout"`
	// NodeName names this node in the store, so that after a restart it
	// fails the approvals its earlier run held. Unique per node.
	NodeName string `yaml:"node_name"`
	// MaxPerApproval caps the requests this node holds for one approval:
	// the request that started it and its copies (a gateway that fails
	// over and back). MaxPerUser caps the requests it holds for one user,
	// over all of the user's approvals. Beyond either only the new request
	// is refused ("busy"): one user cannot fill radius.max_held, and the
	// approval and the requests already waiting for it go on.
	MaxPerApproval int `yaml:"max_per_approval"`
	MaxPerUser     int `yaml:"max_per_user"`
}

// PushConfig governs push approvals.
type PushConfig struct {
	// NumberMatching shows a number in the VPN client's prompt that the
	// user picks on the phone; the request is then held when the user
	// presses Enter. Off, the first request is held at once.
	NumberMatching *bool         `yaml:"number_matching"`
	MaxPerUser     int           `yaml:"max_per_user"`
	Window         time.Duration `yaml:"window"`
}

// Lockout pauses a user after Failures failures within Window.
type Lockout struct {
	Failures int           `yaml:"failures"`
	Window   time.Duration `yaml:"window"`
}

// CodeLockout caps wrong second-factor codes per window and per day.
type CodeLockout struct {
	Failures      int           `yaml:"failures"`
	Window        time.Duration `yaml:"window"`
	DailyFailures int           `yaml:"daily_failures"`
}

// SetDefaults fills in every unset field.
func (c *Config) SetDefaults() {
	if c.UserPattern == "" {
		c.UserPattern = `^[0-9]{10}$`
	}
	if len(c.Languages) == 0 {
		c.Languages = []string{"ja", "en"}
	}
	if c.ChallengeTTL == 0 {
		c.ChallengeTTL = 120 * time.Second
	}
	if c.AttemptsPerChallenge == 0 {
		c.AttemptsPerChallenge = 3
	}
	if c.PasswordLockout.Failures == 0 {
		c.PasswordLockout.Failures = 5
	}
	if c.PasswordLockout.Window == 0 {
		c.PasswordLockout.Window = 15 * time.Minute
	}
	if c.CodeLockout.Failures == 0 {
		c.CodeLockout.Failures = 10
	}
	if c.CodeLockout.Window == 0 {
		c.CodeLockout.Window = 15 * time.Minute
	}
	if c.CodeLockout.DailyFailures == 0 {
		c.CodeLockout.DailyFailures = 30
	}
	if c.Issuer == "" {
		c.Issuer = "kakunin"
	}
	if c.SMS.CodeTTL == 0 {
		c.SMS.CodeTTL = 5 * time.Minute
	}
	if c.SMS.PerPhone == 0 {
		c.SMS.PerPhone = 30 * time.Second
	}
	if c.SMS.PerUserPerHour == 0 {
		c.SMS.PerUserPerHour = 5
	}
	if c.Hold.Timeout == 0 {
		c.Hold.Timeout = 60 * time.Second
	}
	if c.Hold.NodeName == "" {
		c.Hold.NodeName, _ = os.Hostname()
	}
	if c.Hold.MaxPerApproval == 0 {
		c.Hold.MaxPerApproval = 4
	}
	if c.Hold.MaxPerUser == 0 {
		c.Hold.MaxPerUser = 8
	}
	if c.Push.NumberMatching == nil {
		on := true
		c.Push.NumberMatching = &on
	}
	if c.Push.MaxPerUser == 0 {
		c.Push.MaxPerUser = 5
	}
	if c.Push.Window == 0 {
		c.Push.Window = 10 * time.Minute
	}
}

// Validate checks the section; errors name the key relative to it.
func (c *Config) Validate() error {
	if _, err := regexp.Compile(c.UserPattern); err != nil {
		return fmt.Errorf("user_pattern: %v", err)
	}
	for i, l := range c.Languages {
		if _, ok := builtin[l]; !ok {
			return fmt.Errorf("languages[%d]: %q is not a supported language (ja, en)", i, l)
		}
	}
	if c.ChallengeTTL < 10*time.Second || c.ChallengeTTL > 10*time.Minute {
		return fmt.Errorf("challenge_ttl: %s is outside 10s..10m", c.ChallengeTTL)
	}
	if c.AttemptsPerChallenge < 1 || c.AttemptsPerChallenge > 10 {
		return fmt.Errorf("attempts_per_challenge: %d is outside 1..10", c.AttemptsPerChallenge)
	}
	if c.PasswordLockout.Failures < 1 {
		return fmt.Errorf("password_lockout.failures: must be at least 1")
	}
	if c.PasswordLockout.Window <= 0 {
		return fmt.Errorf("password_lockout.window: must be positive")
	}
	if c.CodeLockout.Failures < 1 || c.CodeLockout.DailyFailures < c.CodeLockout.Failures {
		return fmt.Errorf("code_lockout: failures must be at least 1 and daily_failures at least failures")
	}
	if c.CodeLockout.Window <= 0 || c.CodeLockout.Window > 24*time.Hour {
		return fmt.Errorf("code_lockout.window: must be within 0..24h")
	}
	// 6-digit codes, ±1 step: each guess matches with probability 3e-6;
	// the daily cap keeps a user's daily guessing odds below 1e-4.
	if p := float64(c.CodeLockout.DailyFailures) * 3 / 1e6; p >= 1e-4 {
		return fmt.Errorf("code_lockout.daily_failures: %d allows a code to be guessed with probability %.1e a day (keep it below 1e-4, i.e. at most 33)", c.CodeLockout.DailyFailures, p)
	}
	if c.SMS.CodeTTL < time.Minute || c.SMS.CodeTTL > 10*time.Minute {
		return fmt.Errorf("sms.code_ttl: %s is outside 1m..10m", c.SMS.CodeTTL)
	}
	if c.SMS.PerPhone < 10*time.Second {
		return fmt.Errorf("sms.per_phone: %s is under 10s (SMS bombing)", c.SMS.PerPhone)
	}
	if c.SMS.PerUserPerHour < 1 || c.SMS.PerUserPerHour > 30 {
		return fmt.Errorf("sms.per_user_per_hour: %d is outside 1..30", c.SMS.PerUserPerHour)
	}
	if c.Hold.Timeout < 10*time.Second || c.Hold.Timeout > 5*time.Minute {
		return fmt.Errorf("hold.timeout: %s is outside 10s..5m", c.Hold.Timeout)
	}
	if c.Hold.NodeName == "" || strings.ContainsAny(c.Hold.NodeName, "/\x00") || len(c.Hold.NodeName) > 64 {
		return fmt.Errorf("hold.node_name: %q must be 1 to 64 characters without '/' (the host name could not be read: set it)", c.Hold.NodeName)
	}
	if c.Hold.MaxPerApproval < 1 || c.Hold.MaxPerApproval > 100 {
		return fmt.Errorf("hold.max_per_approval: %d is outside 1..100", c.Hold.MaxPerApproval)
	}
	if c.Hold.MaxPerUser < c.Hold.MaxPerApproval || c.Hold.MaxPerUser > 1000 {
		return fmt.Errorf("hold.max_per_user: %d is outside hold.max_per_approval (%d)..1000", c.Hold.MaxPerUser, c.Hold.MaxPerApproval)
	}
	if c.Push.MaxPerUser < 1 || c.Push.MaxPerUser > 20 {
		return fmt.Errorf("push.max_per_user: %d is outside 1..20", c.Push.MaxPerUser)
	}
	if c.Push.Window < time.Minute || c.Push.Window > 24*time.Hour {
		return fmt.Errorf("push.window: %s is outside 1m..24h", c.Push.Window)
	}
	for key, langs := range c.Messages {
		if _, ok := builtin["en"][key]; !ok {
			return fmt.Errorf("messages.%s: unknown message key", key)
		}
		for l := range langs {
			if _, ok := builtin[l]; !ok {
				return fmt.Errorf("messages.%s.%s: unsupported language", key, l)
			}
		}
	}
	return nil
}
