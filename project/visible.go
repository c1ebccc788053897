package project

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Visible shows control characters (but newline and tab), invalid bytes and the bidirectional
// and invisible formatting characters as escapes, so that the text on the terminal is what
// aishell reads: a project's file cannot move the cursor or reorder its own lines on screen.
func Visible(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, "\\x%02x", s[i])
		case r == '\n' || r == '\t':
			b.WriteRune(r)
		case unicode.IsControl(r) || unicode.Is(unicode.Cf, r):
			fmt.Fprintf(&b, "\\u%04x", r)
		default:
			b.WriteRune(r)
		}
		i += size
	}
	return b.String()
}
