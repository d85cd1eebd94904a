package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/user"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/boombuler/barcode/qr"

	"kakunin/challenge"
	"kakunin/internal/username"
	"kakunin/portal"
	"kakunin/portal/mail"
	"kakunin/store"
)

const userUsage = `Usage: kakunin user COMMAND [flags] ID

Commands:
  show ID                          enrollment, recent failures and audit events
  add-totp [-label L] [-secret-file PATH] ID
                                   enroll an authenticator app (prints the otpauth:// URI and a QR code);
                                   -secret-file imports an existing base32 seed from PATH, or from one
                                   line of standard input with "-", instead of generating one
  add-phone [-kind K] [-extension X] [-label L] ID NUMBER
                                   enroll a phone (kind phone: SMS codes and calls; alternate_phone,
                                   office_phone: calls only); NUMBER in international form, +81 90 1234 5678
  add-push [-label L] ID DEVICE    enroll a phone that approves by push through the organisation's push
                                   gateway (push.webhook); DEVICE is the gateway's token for the phone
                                   (phones with the portal installed register themselves: Web Push)
  set-default ID METHOD-ID         make a method the default
  delete-method ID METHOD-ID       delete one method
  reset ID                         delete every method (lost phone); the next sign-in asks for setup again
  unlock ID                        clear the user's failure counters and the lock a fraud report put
                                   on push and phone methods

Every command takes -config FILE (default /etc/kakunin/kakunin.yaml). With portal.smtp
configured, a change is mailed to the user's notification email (if registered in the portal).
`

func runUser(args []string) error {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, userUsage)
		return errors.New("missing command")
	}
	sub, args := args[0], args[1:]
	fs := flag.NewFlagSet("user "+sub, flag.ContinueOnError)
	path := fs.String("config", "/etc/kakunin/kakunin.yaml", "configuration file")
	label := fs.String("label", "", "add-totp: label shown to the user")
	secretFile := fs.String("secret-file", "", `add-totp: import the base32 seed in this file ("-": one line of standard input) instead of generating one`)
	kind := fs.String("kind", "phone", "add-phone: phone, alternate_phone or office_phone")
	ext := fs.String("extension", "", "add-phone: extension of an office phone")
	if err := fs.Parse(args); err != nil {
		return err
	}
	want := map[string]int{"show": 1, "add-totp": 1, "add-phone": 2, "add-push": 2, "set-default": 2, "delete-method": 2, "reset": 1, "unlock": 1}
	n, ok := want[sub]
	if !ok {
		fmt.Fprint(os.Stderr, userUsage)
		return fmt.Errorf("unknown command %q", sub)
	}
	if fs.NArg() != n {
		fmt.Fprint(os.Stderr, userUsage)
		return fmt.Errorf("%s takes %d argument(s)", sub, n)
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return fmt.Errorf("%s: %w", *path, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := store.Open(ctx, cfg.Store, newLogger(cfg.Log, os.Stderr))
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	defer st.Close()
	admin, err := challenge.NewAdmin(cfg.Flow, st)
	if err != nil {
		return err
	}
	// The store knows a user by the canonical form of the ID (what a
	// sign-in must type): "ALICE" or full-width digits mean that user.
	id := username.Canonical(fs.Arg(0))
	if id != fs.Arg(0) {
		fmt.Fprintf(os.Stderr, "user %s (the canonical form of the ID given)\n", id)
	}
	actor := "cli:" + osUser()
	var notice *helpDeskNotice
	if sub != "show" && sub != "unlock" {
		if notice, err = newHelpDeskNotice(ctx, cfg, st, id); err != nil {
			return err
		}
	}
	switch sub {
	case "show":
		s, err := admin.Show(ctx, id)
		if err != nil {
			return err
		}
		printStatus(os.Stdout, s)
	case "add-totp":
		var seed []byte
		if *secretFile != "" {
			if seed, err = readTOTPSecret(*secretFile, os.Stdin); err != nil {
				return fmt.Errorf("-secret-file: %w", err)
			}
		}
		m, uri, err := admin.AddTOTP(ctx, id, *label, seed, actor)
		if err != nil {
			return err
		}
		fmt.Printf("Enrolled authenticator app %s for %s.\n", m.ID, id)
		notice.send(ctx, "method_added", notice.describe(m))
		if seed == nil {
			fmt.Printf("Scan this QR code with the authenticator app, or enter the URI by hand:\n\n")
			if err := printQR(os.Stdout, uri); err != nil {
				return err
			}
			fmt.Printf("\n%s\n", uri)
		}
	case "add-push":
		m, err := admin.AddPush(ctx, id, *label, challenge.PushRegistration{Channel: "webhook", Device: fs.Arg(1)}, actor)
		if err != nil {
			return err
		}
		fmt.Printf("Enrolled push app %s (%s) for %s, through the push gateway.\n", m.ID, m.Label, id)
		notice.send(ctx, "method_added", notice.describe(m))
	case "add-phone":
		m, err := admin.AddPhone(ctx, id, store.MethodKind(*kind), fs.Arg(1), *ext, *label, actor)
		if err != nil {
			return err
		}
		fmt.Printf("Enrolled %s %s (%s) for %s.\n", m.Kind, m.ID, challenge.MaskPhone(m.Phone), id)
		notice.send(ctx, "method_added", notice.describe(m))
	case "set-default":
		if err := admin.SetDefault(ctx, id, fs.Arg(1), actor); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("%s has no method %s", id, fs.Arg(1))
			}
			return err
		}
		fmt.Printf("The default method of %s is now %s.\n", id, fs.Arg(1))
		notice.send(ctx, "default_changed", notice.describeID(fs.Arg(1)))
	case "delete-method":
		if err := admin.DeleteMethod(ctx, id, fs.Arg(1), actor); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("%s has no method %s", id, fs.Arg(1))
			}
			return err
		}
		fmt.Printf("Deleted method %s of %s.\n", fs.Arg(1), id)
		notice.send(ctx, "method_deleted", notice.describeID(fs.Arg(1)))
	case "reset":
		if err := admin.Reset(ctx, id, actor); err != nil {
			return err
		}
		fmt.Printf("Reset %s: every method deleted; the next sign-in asks for a new one.\n", id)
		notice.send(ctx, "reset", "")
	case "unlock":
		if err := admin.Unlock(ctx, id, actor); err != nil {
			return err
		}
		fmt.Printf("Unlocked %s: failure counters cleared; push and phone methods usable again.\n", id)
	}
	return nil
}

// maxSecretFile bounds what readTOTPSecret reads: a seed is a few dozen
// characters.
const maxSecretFile = 4096

// readTOTPSecret reads a base32 TOTP seed from the file at path, which
// must hold one line, or from one line of stdin if path is "-". The seed
// is never on the command line, where ps and shell histories show it.
// Errors never quote the seed.
func readTOTPSecret(path string, stdin io.Reader) ([]byte, error) {
	var line string
	if path == "-" {
		b, err := bufio.NewReader(io.LimitReader(stdin, maxSecretFile+1)).ReadString('\n')
		switch {
		case len(b) > maxSecretFile:
			return nil, errors.New("standard input: too long for a secret")
		case errors.Is(err, io.EOF) && b == "":
			return nil, errors.New("standard input: no secret")
		case err != nil && !errors.Is(err, io.EOF):
			return nil, fmt.Errorf("standard input: %w", err)
		}
		line = b
	} else {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		b, err := io.ReadAll(io.LimitReader(f, maxSecretFile+1))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if len(b) > maxSecretFile {
			return nil, fmt.Errorf("%s: too long for a secret", path)
		}
		line = strings.TrimRight(string(b), "\r\n")
		if strings.ContainsAny(line, "\r\n") {
			return nil, fmt.Errorf("%s: must hold the secret on one line", path)
		}
	}
	line = strings.TrimSpace(line)
	if line == "" {
		return nil, errors.New("empty secret")
	}
	return challenge.ParseTOTPSecret(line)
}

func osUser() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return "unknown"
}

func printStatus(w io.Writer, s challenge.Status) {
	fmt.Fprintf(w, "User %s\n", s.User.ID)
	if !s.Known {
		fmt.Fprintln(w, "  not enrolled (no record in the store)")
	} else {
		fmt.Fprintf(w, "  MFA applied: %v\n", s.User.MFAApplied)
		if !s.User.OutOfBandLocked.IsZero() {
			fmt.Fprintf(w, "  push and phone methods LOCKED since %s: a sign-in was reported as fraud (kakunin user unlock %s lifts it)\n",
				s.User.OutOfBandLocked.Local().Format(time.DateTime), s.User.ID)
		}
	}
	fmt.Fprintf(w, "  failures in the last 24 h: password %d, code %d\n", s.PasswordFailures, s.CodeFailures)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "\nMETHOD ID\tKIND\tLABEL\tPHONE\tDEFAULT\tADDED\tLAST USED\n")
	for _, m := range s.Methods {
		def := ""
		if m.ID == s.User.DefaultMethod {
			def = "yes"
		}
		last := "never"
		if !m.LastUsed.IsZero() {
			last = m.LastUsed.Local().Format(time.DateTime)
		}
		phone := "-"
		if m.Phone != "" {
			phone = challenge.MaskPhone(m.Phone)
			if m.Extension != "" {
				phone += " ext. " + m.Extension
			}
		}
		if m.Kind == store.KindEmail {
			phone = challenge.MaskEmail(challenge.EmailAddress(m))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", m.ID, m.Kind, m.Label, phone, def, m.CreatedAt.Local().Format(time.DateTime), last)
	}
	tw.Flush()
	if len(s.Events) > 0 {
		fmt.Fprintln(w, "\nRecent events:")
		for _, e := range s.Events {
			fmt.Fprintf(w, "  %s  %-15s %-20s %s\n", e.At.Local().Format(time.DateTime), e.Action, e.Actor, e.Detail)
		}
	}
}

// printQR draws a QR code with Unicode half blocks: two modules a
// character, dark on light, with the quiet zone scanners need.
func printQR(w io.Writer, text string) error {
	code, err := qr.Encode(text, qr.M, qr.Auto)
	if err != nil {
		return err
	}
	size := code.Bounds().Dx()
	const quiet = 2
	dark := func(x, y int) bool {
		if x < 0 || y < 0 || x >= size || y >= size {
			return false
		}
		r, _, _, _ := code.At(x, y).RGBA()
		return r < 0x8000
	}
	var b strings.Builder
	for y := -quiet; y < size+quiet; y += 2 {
		for x := -quiet; x < size+quiet; x++ {
			top, bottom := dark(x, y), dark(x, y+1)
			switch {
			case top && bottom:
				b.WriteRune(' ')
			case top:
				b.WriteRune('▄')
			case bottom:
				b.WriteRune('▀')
			default:
				b.WriteRune('█')
			}
		}
		b.WriteByte('\n')
	}
	_, err = io.WriteString(w, b.String())
	return err
}

// helpDeskNotice tells the user of a change made here, by mail to the
// notification email registered in the portal, as the portal tells of its
// own changes. It is nil (and sends nothing) without portal.smtp or
// without an email; the email is read before the change, since a reset
// deletes it.
type helpDeskNotice struct {
	mailer  portal.Mailer
	issuer  string
	user    store.User
	email   store.Method
	methods []store.Method
}

func newHelpDeskNotice(ctx context.Context, cfg *config, st store.Store, id string) (*helpDeskNotice, error) {
	if !cfg.Portal.Enabled() || cfg.Portal.SMTP == nil {
		return nil, nil
	}
	ms, err := st.Methods(ctx, id)
	if err != nil {
		return nil, err
	}
	i := slices.IndexFunc(ms, func(m store.Method) bool { return m.Kind == store.KindEmail })
	if i < 0 {
		return nil, nil
	}
	u, err := st.GetUser(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		u, err = store.User{ID: id}, nil
	}
	if err != nil {
		return nil, err
	}
	c, err := mail.New(*cfg.Portal.SMTP)
	if err != nil {
		return nil, fmt.Errorf("portal.smtp.%w", err)
	}
	return &helpDeskNotice{mailer: c, issuer: cfg.Flow.Issuer, user: u, email: ms[i], methods: ms}, nil
}

func (n *helpDeskNotice) describe(m store.Method) string {
	if n == nil {
		return ""
	}
	return portal.DescribeMethod(n.user, m)
}

func (n *helpDeskNotice) describeID(id string) string {
	if n == nil {
		return ""
	}
	for _, m := range n.methods {
		if m.ID == id {
			return n.describe(m)
		}
	}
	return id
}

// send mails the change; a failure is reported, and the change stands.
func (n *helpDeskNotice) send(ctx context.Context, action, detail string) {
	if n == nil {
		return
	}
	to := challenge.MaskEmail(challenge.EmailAddress(n.email))
	if err := portal.MailHelpDeskChange(ctx, n.mailer, n.issuer, n.user, n.email, action, detail, time.Now()); err != nil {
		fmt.Fprintf(os.Stderr, "warning: the user's notification email %s was not told of this change: %v\n", to, err)
		return
	}
	fmt.Printf("Told the user by mail at %s.\n", to)
}
