// Package glob matches strings against glob patterns: * matches any run of
// characters (including none), ? any one character, [abc] and [a-z] a character of a
// set, [!...] or [^...] a character outside it, and \ makes the next character
// literal. Characters are UTF-8 runes (a byte that is not valid UTF-8 counts as one).
// Unlike path.Match, no character is special to *: keys are not paths.
package glob

import (
	"errors"
	"unicode/utf8"
)

// ErrBadPattern reports a malformed pattern: an unterminated class or a trailing \.
var ErrBadPattern = errors.New("fresh/glob: malformed pattern")

// A Pattern is a validated glob pattern.
type Pattern struct{ p string }

// Compile validates pattern.
func Compile(pattern string) (Pattern, error) {
	for i := 0; i < len(pattern); i++ {
		switch pattern[i] {
		case '\\':
			if i+1 >= len(pattern) {
				return Pattern{}, ErrBadPattern
			}
			i++
		case '[':
			_, n, ok := class(pattern[i:], -1)
			if !ok {
				return Pattern{}, ErrBadPattern
			}
			i += n - 1
		}
	}
	return Pattern{p: pattern}, nil
}

// Match reports whether s matches the pattern. It runs in O(len(pattern)×len(s)).
func (g Pattern) Match(s string) bool {
	p := g.p
	pi, si := 0, 0
	starP, starS := -1, 0 // position after the last *, and the s position it is tried at
	for si < len(s) {
		if pi < len(p) {
			switch p[pi] {
			case '*':
				starP, starS = pi+1, si
				pi++
				continue
			case '?':
				_, w := utf8.DecodeRuneInString(s[si:])
				pi++
				si += w
				continue
			case '[':
				r, w := utf8.DecodeRuneInString(s[si:])
				ok, n, _ := class(p[pi:], r)
				if ok {
					pi += n
					si += w
					continue
				}
			case '\\':
				if p[pi+1] == s[si] {
					pi += 2
					si++
					continue
				}
			default:
				if p[pi] == s[si] {
					pi++
					si++
					continue
				}
			}
		}
		if starP < 0 {
			return false
		}
		// Let the last * absorb one more character and retry from there.
		_, w := utf8.DecodeRuneInString(s[starS:])
		starS += w
		pi, si = starP, starS
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

// class matches c against the class that p starts with ("[...]"). It returns whether c
// is matched, the length of the class in bytes, and whether the class is well formed.
func class(p string, c rune) (matched bool, n int, ok bool) {
	i := 1
	negate := false
	if i < len(p) && (p[i] == '!' || p[i] == '^') {
		negate = true
		i++
	}
	// next reads one possibly escaped character of the class.
	next := func() (rune, bool) {
		if i < len(p) && p[i] == '\\' {
			i++
		}
		if i >= len(p) {
			return 0, false
		}
		r, w := utf8.DecodeRuneInString(p[i:])
		i += w
		return r, true
	}
	first := true
	for i < len(p) {
		if p[i] == ']' && !first {
			return matched != negate, i + 1, true
		}
		first = false
		lo, ok := next()
		if !ok {
			return false, 0, false
		}
		hi := lo
		if i+1 < len(p) && p[i] == '-' && p[i+1] != ']' {
			i++
			if hi, ok = next(); !ok {
				return false, 0, false
			}
		}
		if lo <= c && c <= hi {
			matched = true
		}
	}
	return false, 0, false
}
