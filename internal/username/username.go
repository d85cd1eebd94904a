// Package username decides which typed user names kakunin takes as they
// are. The directory matches names loosely (uid, sAMAccountName and
// userPrincipalName are compared case-insensitively, and OpenLDAP's
// string preparation even folds full-width digits: (uid=０００１) finds
// 0001), while the store, the lockouts, portal sessions, approvals and the
// audit log are keyed by the exact string. Two strings that the directory
// takes for one account must never be two keys, or each variant gets its
// own methods, its own password guesses and its own sessions.
//
// kakunin therefore admits only names in canonical form: stable under
// Unicode compatibility normalisation and case folding (NFKC_Casefold,
// lower case for ASCII), with no spaces and nothing that LDAP's string
// preparation maps to nothing. A name of another form is refused before
// any directory or store work, so no variant can reach a key.
package username

import (
	"regexp/syntax"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// Canonical is the canonical form of name: case folded and NFKC
// normalised. The help desk's tools accept any form and use this one.
func Canonical(name string) string {
	if plainASCII(name) {
		return strings.ToLower(name)
	}
	// Fold, then normalise, then fold again: NFKC can make new upper case
	// (ﬃ, Ⅻ) and folding can denormalise. A Caser keeps state: one per
	// call, never shared between goroutines.
	fold := cases.Fold()
	return fold.String(norm.NFKC.String(fold.String(norm.NFKC.String(name))))
}

// plainASCII: printable ASCII without spaces, where NFKC changes nothing
// and folding is lower-casing. Every sign-in's name is checked, and the
// IDs of most directories are such.
func plainASCII(name string) bool {
	for i := 0; i < len(name); i++ {
		if c := name[i]; c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return true
}

// IsCanonical reports whether name is in canonical form and free of
// characters that directories ignore when they compare names.
func IsCanonical(name string) bool {
	if name == "" {
		return false
	}
	if plainASCII(name) {
		return strings.IndexFunc(name, unicode.IsUpper) < 0
	}
	if !utf8.ValidString(name) {
		return false
	}
	for _, r := range name {
		if unicode.IsSpace(r) || unicode.IsControl(r) || ignored(r) {
			return false
		}
	}
	return Canonical(name) == name
}

// ignored are characters that RFC 4518 (LDAP string preparation) maps to
// nothing or that render invisibly: a name with one matches the name
// without it in the directory.
func ignored(r rune) bool {
	switch {
	case r == 0x00AD, r == 0x034F, r == 0x1806, r == 0x180B, r == 0x180C, r == 0x180D,
		r == 0x200B, r == 0x200C, r == 0x200D, r == 0x2060, r == 0xFEFF,
		r >= 0xFE00 && r <= 0xFE0F, r >= 0xFFF9 && r <= 0xFFFC, r >= 0xE0000:
		return true
	}
	return unicode.Is(unicode.Cf, r)
}

// PatternVariants says which kinds of variant a user pattern (a Go
// regular expression) admits: "upper case" when it can match an upper-case
// letter (so ALICE matches it as well as alice), "non-ASCII" when it can match a
// character outside ASCII (full-width forms, among others), "spaces" when
// it can match white space. kakunin refuses such variants (IsCanonical),
// so a pattern that admits them lets users type IDs that are then
// refused: check-config warns. It reads the pattern's character sets, not
// its structure, so it may warn of a variant the pattern's anchors rule
// out; it never misses one.
func PatternVariants(pattern string) ([]string, error) {
	re, err := syntax.Parse(pattern, syntax.Perl)
	if err != nil {
		return nil, err
	}
	var upper, nonASCII, spaces bool
	see := func(lo, hi rune) {
		if hi >= 0x80 {
			nonASCII = true
		}
		if lo <= 'Z' && hi >= 'A' {
			upper = true
		}
		if lo <= ' ' && hi >= ' ' || lo <= '\t' && hi >= '\t' {
			spaces = true
		}
	}
	var walk func(*syntax.Regexp)
	walk = func(r *syntax.Regexp) {
		switch r.Op {
		case syntax.OpLiteral:
			for _, c := range r.Rune {
				see(c, c)
				if r.Flags&syntax.FoldCase != 0 {
					for f := unicode.SimpleFold(c); f != c; f = unicode.SimpleFold(f) {
						see(f, f)
					}
				}
			}
		case syntax.OpCharClass:
			for i := 0; i+1 < len(r.Rune); i += 2 {
				see(r.Rune[i], r.Rune[i+1])
			}
		case syntax.OpAnyChar, syntax.OpAnyCharNotNL:
			see(0, unicode.MaxRune)
		}
		for _, sub := range r.Sub {
			walk(sub)
		}
	}
	walk(re)
	var out []string
	if upper {
		out = append(out, "upper case")
	}
	if nonASCII {
		out = append(out, "non-ASCII")
	}
	if spaces {
		out = append(out, "spaces")
	}
	return out, nil
}
