package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"

	"kakunin/challenge"
)

// testSeedB32 is a 160-bit base32 seed.
const testSeedB32 = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"

func TestAddTOTPReadsTheSecretFromAFileOrStdinNotTheCommandLine(t *testing.T) {
	want, err := challenge.ParseTOTPSecret(testSeedB32)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	n := 0
	file := func(content string) string {
		t.Helper()
		n++
		p := filepath.Join(dir, fmt.Sprintf("seed-%d", n))
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, c := range []struct {
		name  string
		path  string
		stdin string
	}{
		{"file", file(testSeedB32 + "\n"), ""},
		{"file without newline", file(testSeedB32), ""},
		{"file with CRLF, spaced, lower case", file("jbsw y3dp ehpk 3pxp jbsw y3dp ehpk 3pxp\r\n"), ""},
		{"stdin", "-", testSeedB32 + "\nthe rest is not read\n"},
		{"stdin without newline", "-", "  " + testSeedB32 + "  "},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := readTOTPSecret(c.path, strings.NewReader(c.stdin))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("seed %x, want %x", got, want)
			}
		})
	}

	for _, c := range []struct {
		name  string
		path  string
		stdin io.Reader
		want  string
	}{
		{"missing file", filepath.Join(dir, "nonexistent"), nil, "no such file"},
		{"empty file", file(""), nil, "empty secret"},
		{"two lines", file(testSeedB32 + "\n" + testSeedB32 + "\n"), nil, "one line"},
		{"huge file", file(strings.Repeat("A", 5000)), nil, "too long"},
		{"not base32", file("not base32!\n"), nil, "secret is not base32"},
		{"too short", file("JBSWY3DP\n"), nil, "at least 80 are needed"},
		{"empty stdin", "-", strings.NewReader(""), "no secret"},
		{"blank line on stdin", "-", strings.NewReader("\n" + testSeedB32 + "\n"), "empty secret"},
		{"huge stdin", "-", strings.NewReader(strings.Repeat("A", 5000)), "too long"},
		{"stdin error", "-", iotest.ErrReader(errors.New("boom")), "boom"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := readTOTPSecret(c.path, c.stdin)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
			if strings.Contains(err.Error(), "JBSWY3DP") {
				t.Errorf("error shows the secret: %v", err)
			}
		})
	}
}

func TestAddTOTPHasNoSecretFlag(t *testing.T) {
	err := runUser([]string{"add-totp", "-secret", testSeedB32, "0000000001"})
	if err == nil || !strings.Contains(err.Error(), "flag provided but not defined: -secret") {
		t.Errorf("err = %v, want the -secret flag refused", err)
	}
	if !strings.Contains(userUsage, "-secret-file PATH") || strings.Contains(userUsage, "-secret BASE32") {
		t.Errorf("usage does not document -secret-file:\n%s", userUsage)
	}
}
