// Package glob matches strings against glob patterns: * matches any run of bytes
// (including none), ? any one byte, [abc] and [a-z] a byte of a set, [!...] or [^...]
// a byte outside it, and \ makes the next byte literal. Unlike path.Match, no byte is
// special to *: keys are not paths.
package glob

import "errors"

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
			_, n, ok := class(pattern[i:], 0)
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
				pi++
				si++
				continue
			case '[':
				ok, n, _ := class(p[pi:], s[si])
				if ok {
					pi += n
					si++
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
		// Let the last * absorb one more byte and retry from there.
		starS++
		pi, si = starP, starS
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}

// class matches c against the class that p starts with ("[...]"). It returns whether c
// is matched, the length of the class, and whether the class is well formed.
func class(p string, c byte) (matched bool, n int, ok bool) {
	i := 1
	negate := false
	if i < len(p) && (p[i] == '!' || p[i] == '^') {
		negate = true
		i++
	}
	first := true
	for i < len(p) {
		if p[i] == ']' && !first {
			return matched != negate, i + 1, true
		}
		first = false
		lo := p[i]
		if lo == '\\' {
			if i+1 >= len(p) {
				return false, 0, false
			}
			i++
			lo = p[i]
		}
		i++
		hi := lo
		if i+1 < len(p) && p[i] == '-' && p[i+1] != ']' {
			hi = p[i+1]
			i += 2
			if hi == '\\' {
				if i >= len(p) {
					return false, 0, false
				}
				hi = p[i]
				i++
			}
		}
		if lo <= c && c <= hi {
			matched = true
		}
	}
	return false, 0, false
}
