package glob

import (
	"path"
	"strings"
	"testing"
)

func TestMatch(t *testing.T) {
	cases := []struct {
		pattern, s string
		want       bool
	}{
		{"*", "", true},
		{"*", "a/b", true},
		{"user:*", "user:42", true},
		{"user:*", "users:42", false},
		{"a?c", "abc", true},
		{"a?c", "ac", false},
		{"a[bc]d", "acd", true},
		{"a[!bc]d", "acd", false},
		{"a[^bc]d", "aed", true},
		{"a[a-c]d", "abd", true},
		{"a[a-c]d", "aed", false},
		{`a\*b`, "a*b", true},
		{`a\*b`, "axb", false},
		{"*a*b*c*", "xxaxxbxxcxx", true},
		{"*a*b*c*", "xxaxxcxxbxx", false},
		{"user 1", "user_1", false},
		{"[]]", "]", true},
		{"a*", "a", true},
	}
	for _, tc := range cases {
		g, err := Compile(tc.pattern)
		if err != nil {
			t.Fatalf("Compile(%q): %v", tc.pattern, err)
		}
		if got := g.Match(tc.s); got != tc.want {
			t.Errorf("Match(%q, %q) = %v; want %v", tc.pattern, tc.s, got, tc.want)
		}
	}
	for _, bad := range []string{"a[", `a\`, "[a-", `[\`} {
		if _, err := Compile(bad); err == nil {
			t.Errorf("Compile(%q) accepted a malformed pattern", bad)
		}
	}
}

// FuzzMatch compares with path.Match on inputs where the two agree (no '/', no
// escapes, no classes), and checks that no pattern makes Match panic.
func FuzzMatch(f *testing.F) {
	f.Add("a*b?c", "axxbyc")
	f.Add("[a-z]*", "q")
	f.Fuzz(func(t *testing.T, pattern, s string) {
		g, err := Compile(pattern)
		if err != nil {
			return
		}
		got := g.Match(s)
		if strings.ContainsAny(pattern+s, `/\[]`) {
			return
		}
		want, err := path.Match(pattern, s)
		if err == nil && got != want {
			t.Fatalf("Match(%q, %q) = %v; path.Match says %v", pattern, s, got, want)
		}
	})
}
