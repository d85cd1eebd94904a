package console

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
)

var _ interface {
	SendSMS(ctx context.Context, to, body string) error
} = (*Sender)(nil)

func TestSendSMSWritesOneMarkedLine(t *testing.T) {
	var buf bytes.Buffer
	if err := New(&buf).SendSMS(context.Background(), "+819012345678", "kakunin code 483920"); err != nil {
		t.Fatal(err)
	}
	want := "[demo SMS to +81 ••-••••-5678] kakunin code 483920\n"
	if buf.String() != want {
		t.Errorf("wrote %q, want %q", buf.String(), want)
	}
}

func TestSendSMSKeepsMultiLineBodyOnOneLine(t *testing.T) {
	var buf bytes.Buffer
	New(&buf).SendSMS(context.Background(), "+819012345678", "code 483920\r\nvalid 2 min\x1b[31m")
	if got := buf.String(); strings.Count(got, "\n") != 1 || strings.ContainsRune(got, '\x1b') || !strings.Contains(got, "483920") {
		t.Errorf("wrote %q", got)
	}
}

type brokenWriter struct{}

func (brokenWriter) Write([]byte) (int, error) { return 0, errors.New("terminal gone") }

func TestSendSMSNeverFails(t *testing.T) {
	if err := New(brokenWriter{}).SendSMS(context.Background(), "not a number", ""); err != nil {
		t.Fatalf("err %v", err)
	}
}

func TestConcurrentMessagesDoNotInterleave(t *testing.T) {
	var buf bytes.Buffer
	s := New(&buf)
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() { s.SendSMS(context.Background(), "+819012345678", strings.Repeat("x", 500)) })
	}
	wg.Wait()
	want := "[demo SMS to +81 ••-••••-5678] " + strings.Repeat("x", 500)
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	if len(lines) != 50 {
		t.Fatalf("%d lines, want 50", len(lines))
	}
	for _, l := range lines {
		if l != want {
			t.Fatalf("line %q", l)
		}
	}
}
