package challenge_test

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"slices"
	"testing"

	"kakunin/challenge"
)

// choicesFromID is how the numbers were once derived: from sha256 of the
// approval's ID, which is in every callback URL and push message. Anyone
// who saw a URL could compute the list and the right number's place.
func choicesFromID(id string, number int) []int {
	h := sha256.Sum256([]byte("kakunin/choices/" + id))
	out := []int{number}
	for i := 0; len(out) < 3; i++ {
		var n int
		if i < 15 {
			n = 10 + int(binary.BigEndian.Uint16(h[2*i:])%90)
		} else {
			n = 10 + (out[len(out)-1]-10+1)%90
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	j := int(h[31]) % 3
	out[0], out[j] = out[j], out[0]
	return out
}

// TestNumberMatchingChoicesAreNotComputableFromTheID: the decoys and the
// right number's place are drawn at random and stored, not derived from
// the approval's ID; a second store handle (another node) reads the same
// ones the push showed.
func TestNumberMatchingChoicesAreNotComputableFromTheID(t *testing.T) {
	f := newHoldFixture(t)
	other := f.open() // another node's handle on the same database
	ctx := context.Background()
	const pushes = 4
	predicted := 0
	for i := range pushes {
		_, n := f.pushChallenge(pushOnly)
		p := f.waitPushes(i + 1)[i]
		if len(p.Numbers) != 3 || !slices.Contains(p.Numbers, n) {
			t.Fatalf("push %d offers %v, the VPN client shows %d", i, p.Numbers, n)
		}
		if slices.Equal(p.Numbers, choicesFromID(p.ID, n)) {
			predicted++
		}
		a, err := other.GetApproval(ctx, p.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got := challenge.Choices(a); !slices.Equal(got, p.Numbers) {
			t.Errorf("push %d: another node's store reads choices %v, the push showed %v", i, got, p.Numbers)
		}
		if a0, err := f.st.GetApproval(ctx, p.ID); err != nil || !slices.Equal(challenge.Choices(a0), p.Numbers) {
			t.Errorf("push %d: this node's store reads %v, %v; the push showed %v", i, challenge.Choices(a0), err, p.Numbers)
		}
	}
	// Drawn at random, all of them match the ID's derivation with a
	// probability far below 1e-12; derived from the ID, always.
	if predicted == pushes {
		t.Errorf("the choices of all %d pushes were computed from the approval ID alone", pushes)
	}
}
