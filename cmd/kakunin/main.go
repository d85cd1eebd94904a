// Command kakunin is a RADIUS second-factor server for a staff VPN: it checks
// the password against the directory, then asks for a code from the user's
// authenticator app.
//
//	kakunin serve -config FILE         run the server
//	kakunin check-config -config FILE  validate and print the effective configuration
//	kakunin demo                       run everything on embedded defaults
//	kakunin radtest ...                an admin's test client that answers challenges
//	kakunin user show|add-totp|delete-method|reset|unlock ID
//	kakunin rekey -config FILE         re-encrypt stored secrets under the current key
//	kakunin bench ...                  load test: naive LDAP loop vs the whole flow
package main

import (
	"fmt"
	"os"
)

const usage = `kakunin: RADIUS second-factor server

Usage:
  kakunin serve -config FILE          run the server
  kakunin check-config -config FILE   validate FILE and print the effective configuration (secrets masked)
  kakunin demo [-data DIR]            run with an embedded store and demo directory on 127.0.0.1
  kakunin radtest [flags]             send an Access-Request, answer challenges, exit 0 only on Access-Accept
  kakunin user COMMAND -config FILE   help-desk commands: show, add-totp, delete-method, reset, unlock
  kakunin rekey -config FILE          re-encrypt stored secrets under store.encryption.current
  kakunin bench [flags]               measure the two-round login rate (starts slapd and a server)
  kakunin vapid-keys                  print a new Web Push (VAPID) key pair for push.webpush

Run "kakunin COMMAND -h" for the flags of a command.
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		os.Exit(2)
	}
	cmds := map[string]func([]string) error{
		"serve":        runServe,
		"check-config": runCheckConfig,
		"demo":         runDemo,
		"radtest":      runRadtest,
		"user":         runUser,
		"rekey":        runRekey,
		"bench":        runBench,
		"vapid-keys":   runVAPIDKeys,
	}
	name, args := os.Args[1], os.Args[2:]
	if name == "-h" || name == "--help" || name == "help" {
		fmt.Print(usage)
		return
	}
	run, ok := cmds[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "kakunin: unknown command %q\n\n%s", name, usage)
		os.Exit(2)
	}
	if err := run(args); err != nil {
		fmt.Fprintf(os.Stderr, "kakunin %s: %v\n", name, err)
		os.Exit(1)
	}
}
