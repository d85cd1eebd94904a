package challenge

import "testing"

func TestMaskPhoneTable(t *testing.T) {
	tests := []struct{ in, want string }{
		{"+819012345678", "+81 ••-••••-5678"}, // Japan mobile
		{"+81312345678", "+81 •-••••-5678"},   // Tokyo landline
		{"+12025550123", "+1 ••-••••-0123"},   // NANP
		{"+447911123456", "+44 ••-••••-3456"}, // UK
		{"+79161234567", "+7 ••-••••-4567"},   // Russia
		{"+353851234567", "+353 •-••••-4567"}, // Ireland, three-digit code
		{"+8525123", "+852 5123"},             // nothing to hide but the country code
		{"+81123", "+•1123"},                  // too short to split: digits masked
		{"09012345678", "•••••••5678"},        // national form
		{"090-1234-5678", "•••-••••-5678"},    // punctuation kept
		{"", ""},
	}
	for _, tt := range tests {
		got := MaskPhone(tt.in)
		if got != tt.want {
			t.Errorf("MaskPhone(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if n := digits(got); n > 7 { // a three-digit country code and four digits at most
			t.Errorf("MaskPhone(%q) = %q shows %d digits", tt.in, got, n)
		}
	}
}

func digits(s string) int {
	n := 0
	for _, r := range s {
		if r >= '0' && r <= '9' {
			n++
		}
	}
	return n
}
