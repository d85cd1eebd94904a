// Package testenv starts and finds the real components integration tests
// run against: slapd, PostgreSQL, radclient. A missing component fails the
// test (it never skips): the README's test command installs them.
package testenv

import (
	"os/exec"
	"testing"
)

// LookPath returns the path of a program the test needs, failing the test
// with the package that provides it when it is missing.
func LookPath(t testing.TB, name, debianPackage string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin/", "/usr/bin/", "/sbin/"} {
		if p, err := exec.LookPath(dir + name); err == nil {
			return p
		}
	}
	t.Fatalf("%s not found: install the Debian package %s (the README's test command does)", name, debianPackage)
	return ""
}
