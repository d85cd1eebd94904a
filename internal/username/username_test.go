package username

import (
	"strings"
	"testing"
)

func TestOnlyCanonicalNamesAreTakenAsTheyAre(t *testing.T) {
	tests := []struct {
		name      string
		canonical bool
	}{
		{"0000000001", true},
		{"alice", true},
		{"alice.smith-2", true},
		{"ALICE", false},
		{"Alice", false},
		{"０００００００００１", false}, // full-width digits: OpenLDAP finds 0000000001
		{"ａｌｉｃｅ", false},
		{"alice\u200b", false}, // zero-width space: mapped to nothing
		{"ali\u00adce", false}, // soft hyphen
		{"alice smith", false},
		{"alice\u3000", false}, // ideographic space
		{"straße", false},      // folds to "strasse"
		{"ǅ", false},           // title case
		{"", false},
		{"\xff", false},
		{"ｱﾘｽ", false}, // half-width katakana: NFKC widens it
		{"アリス", true},
	}
	for _, tt := range tests {
		if got := IsCanonical(tt.name); got != tt.canonical {
			t.Errorf("IsCanonical(%q) = %v, want %v", tt.name, got, tt.canonical)
		}
	}
}

func TestCanonicalFoldsVariantsToOneName(t *testing.T) {
	for _, v := range []string{"ALICE", "Alice", "ａｌｉｃｅ", "ＡＬＩＣＥ"} {
		if got := Canonical(v); got != "alice" {
			t.Errorf("Canonical(%q) = %q, want alice", v, got)
		}
	}
	if got := Canonical("０００００００００１"); got != "0000000001" {
		t.Errorf("full-width digits: %q", got)
	}
	for _, n := range []string{"alice", "0000000001", "アリス"} {
		if !IsCanonical(Canonical(n)) {
			t.Errorf("Canonical(%q) is not canonical", n)
		}
	}
}

func TestPatternVariantsNamesWhatAPatternAdmits(t *testing.T) {
	tests := []struct {
		pattern string
		want    string
	}{
		{`^[0-9]{10}$`, ""},
		{`^\d{10}$`, ""},
		{`^[a-z0-9]{3,20}$`, ""},
		{`^(?i)[a-z]+$`, "upper case,non-ASCII"}, // K matches the Kelvin sign
		{`^[A-Z0-9]+$`, "upper case"},
		{`^\p{N}{10}$`, "non-ASCII"},
		{`^.+$`, "upper case,non-ASCII,spaces"},
		{`^\w+$`, "upper case"},
		{`^[0-9 ]+$`, "spaces"},
		{`^s[0-9]{7}$`, ""},
		{`^(?i)s[0-9]{7}$`, "upper case,non-ASCII"}, // ſ (long s) folds to s
	}
	for _, tt := range tests {
		got, err := PatternVariants(tt.pattern)
		if err != nil {
			t.Fatal(err)
		}
		if s := strings.Join(got, ","); s != tt.want {
			t.Errorf("PatternVariants(%q) = %q, want %q", tt.pattern, s, tt.want)
		}
	}
}

// Sign-ins check names from many goroutines at once: the folding must
// share no state between them (run with -race).
func TestCanonicalIsSafeForConcurrentUse(t *testing.T) {
	done := make(chan bool)
	for range 8 {
		go func() {
			ok := true
			for range 200 {
				ok = ok && Canonical("ＡＬＩＣＥ") == "alice" && !IsCanonical("Ａｌｉｃｅ")
			}
			done <- ok
		}()
	}
	for range 8 {
		if !<-done {
			t.Error("a concurrent Canonical gave a wrong answer")
		}
	}
}
