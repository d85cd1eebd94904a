package bench

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"kakunin/internal/testenv"
)

// TestFreeRADIUSPeerDoesBothRounds keeps the benchmark's peer honest: the
// raddb kakunin bench generates passes freeradius -C, and the FreeRADIUS
// it starts answers a right password with Access-Challenge, the right code
// with Access-Accept, and a replayed State, a wrong code or a wrong
// password with Access-Reject. Without it the peer could be measured
// accepting (or refusing) everything. scripts/test.sh installs the Debian
// packages freeradius and freeradius-ldap.
func TestFreeRADIUSPeerDoesBothRounds(t *testing.T) {
	bin, err := FindFreeRADIUS()
	if err != nil {
		t.Fatal(err)
	}
	sl := testenv.SlapdT(t, testenv.SlapdOptions{Users: 50})
	users := eligible(50, true)
	p, err := startFreeRADIUS(context.Background(), bin, filepath.Join(t.TempDir(), "freeradius"), sl, sl.VPNStaffDN, 4, users)
	if err != nil {
		t.Fatal(err)
	}
	defer p.stop()
	if err := selfCheck(context.Background(), p.radiusAddr, p.secret, users[0], users[1]); err != nil {
		b, _ := os.ReadFile(p.log)
		t.Log(string(b))
		t.Fatal(err)
	}
}

// TestFreeRADIUSPeerRefusesUsersOutsideTheGroup: the peer's group check
// is the same as kakunin's required_group, so both refuse the same users.
func TestFreeRADIUSPeerRefusesUsersOutsideTheGroup(t *testing.T) {
	bin, err := FindFreeRADIUS()
	if err != nil {
		t.Fatal(err)
	}
	sl := testenv.SlapdT(t, testenv.SlapdOptions{Users: 20})
	p, err := startFreeRADIUS(context.Background(), bin, filepath.Join(t.TempDir(), "freeradius"), sl, sl.VPNStaffDN, 2, eligible(20, false))
	if err != nil {
		t.Fatal(err)
	}
	defer p.stop()
	if err := selfCheck(context.Background(), p.radiusAddr, p.secret, 10, 11); err == nil {
		t.Fatal("user 10 (not in vpn-staff) got through round 1")
	}
}
