package challenge_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"kakunin/challenge"
	"kakunin/store"
)

func TestVerificationCodesKeepTheSendLimits(t *testing.T) {
	f := newSMSFixture(t)
	ctx := context.Background()
	const number = "+819033330001"
	if challenge.PhoneMethodID(phoneOnly, number) != challenge.PhoneMethodID(phoneOnly, number) ||
		challenge.PhoneMethodID(phoneOnly, number) == challenge.PhoneMethodID(both, number) {
		t.Fatal("pseudo method IDs are not one per user and number")
	}
	c, err := f.e.SendVerificationCode(ctx, phoneOnly, number)
	if err != nil || c.Code != f.lastCode(number) {
		t.Fatalf("first code: %+v, %v", c, err)
	}
	if _, err := f.e.SendVerificationCode(ctx, phoneOnly, number); !errors.Is(err, challenge.ErrSendLimited) {
		t.Errorf("second code to the same number at once: %v, want ErrSendLimited", err)
	}
	// The per-user limit counts these with sign-in codes: 5 an hour.
	for i := range 4 {
		f.advance(31 * time.Second)
		if _, err := f.e.SendVerificationCode(ctx, phoneOnly, number); err != nil {
			t.Fatalf("code %d: %v", i+2, err)
		}
	}
	f.advance(31 * time.Second)
	if _, err := f.e.SendVerificationCode(ctx, phoneOnly, "+819033330002"); !errors.Is(err, challenge.ErrSendLimited) {
		t.Errorf("sixth code in an hour: %v, want ErrSendLimited", err)
	}
	if strings.Contains(f.logs.String(), c.Code) {
		t.Error("a verification code is in the log")
	}
}

func TestVerificationCodeMatchesOnlyUntilItExpires(t *testing.T) {
	f := newSMSFixture(t)
	c, err := f.e.SendVerificationCode(context.Background(), phoneOnly, "+819033330001")
	if err != nil {
		t.Fatal(err)
	}
	if f.e.CodeMatches(c, "000000"+c.Code) || !f.e.CodeMatches(c, c.Code) {
		t.Fatal("CodeMatches does not tell the code from others")
	}
	f.advance(5*time.Minute + time.Second)
	if f.e.CodeMatches(c, c.Code) {
		t.Error("an expired code still matches")
	}
}

func TestSignInCodeCountsTowardsTheCodeLockout(t *testing.T) {
	f := newSMSFixture(t)
	ctx := context.Background()
	ms, _ := f.st.Methods(ctx, phoneOnly)
	if _, err := f.e.SendSignInCode(ctx, both, ms[0].ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("code to another user's phone: %v, want ErrNotFound", err)
	}
	c, err := f.e.SendSignInCode(ctx, phoneOnly, ms[0].ID)
	if err != nil || c.Code != f.lastCode("+819011115678") {
		t.Fatalf("sign-in code: %+v, %v", c, err)
	}
	wrong := "000000"
	if c.Code == wrong {
		wrong = "111111"
	}
	for i := 0; ; i++ {
		ok, err := f.e.CheckSignInCode(ctx, phoneOnly, c, wrong)
		if errors.Is(err, challenge.ErrLocked) {
			if i != 10 {
				t.Errorf("locked after %d wrong codes, want 10", i)
			}
			break
		}
		if ok || err != nil || i > 20 {
			t.Fatalf("wrong code %d: %v, %v", i, ok, err)
		}
	}
	if ok, err := f.e.CheckSignInCode(ctx, phoneOnly, c, c.Code); ok || !errors.Is(err, challenge.ErrLocked) {
		t.Errorf("right code while locked: %v, %v", ok, err)
	}
	if _, err := f.e.SendSignInCode(ctx, phoneOnly, ms[0].ID); !errors.Is(err, challenge.ErrLocked) {
		t.Errorf("new code while locked: %v, want ErrLocked", err)
	}
}

func TestVerificationCallIsApprovedWithPound(t *testing.T) {
	f := newHoldFixture(t)
	ctx := context.Background()
	id, err := f.e.CallToVerify(ctx, pushUser, "+819044440001", "", "ja")
	if err != nil {
		t.Fatal(err)
	}
	calls := f.waitCalls(1)
	if calls[0].To != "+819044440001" || !strings.Contains(calls[0].Twiml, "登録") {
		t.Errorf("call %+v: want the Japanese registration prompt to +819044440001", calls[0])
	}
	if st, err := f.e.VerificationStatus(ctx, pushUser, id); err != nil || st != challenge.CallPending {
		t.Fatalf("before answering: %v, %v", st, err)
	}
	if code, body, err := f.twilio.Press(calls[0], "#", f.client); err != nil || code != http.StatusOK {
		t.Fatalf("press #: %d %v %s", code, err, body)
	}
	if st, err := f.e.VerificationStatus(ctx, pushUser, id); err != nil || st != challenge.CallApproved {
		t.Errorf("after #: %v, %v", st, err)
	}
	if st, _ := f.e.VerificationStatus(ctx, callUser, id); st != challenge.CallFailed {
		t.Errorf("another user's status of the call: %v, want CallFailed", st)
	}
	if _, err := f.e.CallToVerify(ctx, pushUser, "+819044440001", "", "ja"); err != nil {
		t.Errorf("second call (per-phone limit is 1ns in this fixture): %v", err)
	}
}
