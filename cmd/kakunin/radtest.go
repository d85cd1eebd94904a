package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"layeh.com/radius"
	"layeh.com/radius/rfc2865"

	"kakunin/challenge"
	kradius "kakunin/radius"
)

func runRadtest(args []string) error {
	fs := flag.NewFlagSet("radtest", flag.ContinueOnError)
	server := fs.String("server", "127.0.0.1:1812", "RADIUS server address")
	secret := fs.String("secret", "", "shared secret (or set KAKUNIN_RADTEST_SECRET)")
	user := fs.String("user", "", "user ID")
	password := fs.String("password", "", "password (prompted when empty)")
	code := fs.String("code", "", "answer to the first challenge (prompted when empty)")
	totpSecret := fs.String("totp-secret", "", "compute the code from this base32 TOTP seed (test accounts only)")
	nasID := fs.String("nas-id", "kakunin-radtest", "NAS-Identifier to send")
	timeout := fs.Duration("timeout", 90*time.Second, "how long to wait for each answer (push and call methods hold requests)")
	retry := fs.Duration("retry", 3*time.Second, "retransmit interval")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *secret == "" {
		*secret = os.Getenv("KAKUNIN_RADTEST_SECRET")
	}
	if *secret == "" || *user == "" {
		fs.Usage()
		return errors.New("-secret and -user are required")
	}
	in := bufio.NewReader(os.Stdin)
	if *password == "" {
		p, err := prompt(in, "Password: ")
		if err != nil {
			return err
		}
		*password = p
	}
	c := kradius.NewClient(*server, *secret, *nasID, *retry)
	defer c.Close()
	answer, state := *password, []byte(nil)
	for round := 1; round <= 10; round++ {
		ctx, cancel := context.WithTimeout(context.Background(), *timeout)
		r, err := c.Access(ctx, *user, answer, state)
		cancel()
		if err != nil {
			return fmt.Errorf("round %d: %w", round, err)
		}
		fmt.Printf("%s\n", r.Code)
		for _, m := range r.Messages {
			fmt.Printf("  Reply-Message: %s\n", m)
		}
		switch r.Code {
		case radius.CodeAccessAccept:
			if cls := rfc2865.Class_Get(r.Packet); len(cls) > 0 {
				fmt.Printf("  Class: %s\n", cls)
			}
			if f := rfc2865.FilterID_GetString(r.Packet); f != "" {
				fmt.Printf("  Filter-Id: %s\n", f)
			}
			return nil
		case radius.CodeAccessReject:
			return errors.New("access rejected")
		case radius.CodeAccessChallenge:
			state = r.State
			switch {
			case *code != "":
				answer, *code = *code, ""
			case *totpSecret != "":
				seed, err := challenge.ParseTOTPSecret(*totpSecret)
				if err != nil {
					return fmt.Errorf("-totp-secret: %w", err)
				}
				answer = challenge.TOTPCode(seed, time.Now())
				fmt.Printf("  (answering with the TOTP code %s)\n", answer)
			default:
				if answer, err = prompt(in, "Response: "); err != nil {
					return err
				}
			}
		default:
			return fmt.Errorf("unexpected response %s", r.Code)
		}
	}
	return errors.New("too many challenges")
}

func prompt(in *bufio.Reader, label string) (string, error) {
	fmt.Fprint(os.Stderr, label)
	line, err := in.ReadString('\n')
	if err != nil && line == "" {
		return "", fmt.Errorf("read answer: %w", err)
	}
	return strings.TrimRight(line, "\r\n"), nil
}
