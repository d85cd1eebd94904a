package challenge

import (
	"crypto/subtle"
	"encoding/base32"
	"fmt"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
	"github.com/pquerna/otp/totp"
)

// TOTP parameters: RFC 6238 defaults, which every authenticator app
// supports. A code is accepted one step either side of now (clock drift).
const (
	totpPeriod = 30
	totpSkew   = 1
	totpDigits = 6
)

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewTOTPKey generates a new seed for account (the user's ID) and returns
// the raw seed and the otpauth:// URI an authenticator app scans.
func NewTOTPKey(issuer, account string) (seed []byte, uri string, err error) {
	key, err := totp.Generate(totp.GenerateOpts{
		Issuer:      issuer,
		AccountName: account,
		SecretSize:  20,
		Period:      totpPeriod,
		Digits:      otp.DigitsSix,
		Algorithm:   otp.AlgorithmSHA1,
	})
	if err != nil {
		return nil, "", fmt.Errorf("generate TOTP key: %w", err)
	}
	seed, err = b32.DecodeString(key.Secret())
	if err != nil {
		return nil, "", fmt.Errorf("decode generated seed: %w", err)
	}
	return seed, key.URL(), nil
}

// TOTPURI is the otpauth:// URI of an existing seed.
func TOTPURI(issuer, account string, seed []byte) (string, error) {
	key, err := totp.Generate(totp.GenerateOpts{
		Issuer: issuer, AccountName: account, Secret: seed,
		Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1,
	})
	if err != nil {
		return "", err
	}
	return key.URL(), nil
}

// ParseTOTPSecret decodes a base32 seed as people type it (spaces, lower
// case, missing padding) and insists on at least 80 bits (RFC 4226 §4).
func ParseTOTPSecret(s string) ([]byte, error) {
	clean := make([]byte, 0, len(s))
	for _, r := range s {
		switch {
		case r == ' ' || r == '-' || r == '=':
		case r >= 'a' && r <= 'z':
			clean = append(clean, byte(r-'a'+'A'))
		default:
			clean = append(clean, byte(r))
		}
	}
	seed, err := b32.DecodeString(string(clean))
	if err != nil {
		return nil, fmt.Errorf("secret is not base32")
	}
	if len(seed) < 10 {
		return nil, fmt.Errorf("secret is %d bits; at least 80 are needed", len(seed)*8)
	}
	return seed, nil
}

// TOTPCode is the code for seed at time t (tests and radtest use it).
func TOTPCode(seed []byte, t time.Time) string {
	code, _ := totpAt(seed, uint64(t.Unix()/totpPeriod))
	return code
}

func totpAt(seed []byte, step uint64) (string, error) {
	return hotp.GenerateCodeCustom(b32.EncodeToString(seed), step, hotp.ValidateOpts{
		Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1,
	})
}

// matchTOTP returns the time step at which code is valid for seed within
// the skew around now. Every candidate step is computed and compared in
// constant time, so timing does not tell which step was close.
func matchTOTP(seed []byte, code string, now time.Time) (step int64, ok bool) {
	if len(code) != totpDigits {
		return 0, false
	}
	cur := now.Unix() / totpPeriod
	for s := cur - totpSkew; s <= cur+totpSkew; s++ {
		want, err := totpAt(seed, uint64(s))
		if err != nil {
			return 0, false
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 && !ok {
			step, ok = s, true
		}
	}
	return step, ok
}

// EncodeTOTPSecret is the base32 text of a seed, as authenticator apps take it.
func EncodeTOTPSecret(seed []byte) string { return b32.EncodeToString(seed) }
