package sensitive

import (
	"strings"
	"unicode"
)

// redact hides a secret but for a few of its first characters, enough to tell which key it is
// and not to use it: none of one shorter than 8 characters, 2 of one shorter than 16, 4 of a
// longer one. A PEM block keeps its BEGIN line, which is no secret.
func redact(secret string) string {
	if rest, ok := strings.CutPrefix(secret, "-----BEGIN"); ok {
		if end := strings.Index(rest, "-----"); end >= 0 && !strings.ContainsAny(rest[:end], "\n\\") {
			return "-----BEGIN" + rest[:end] + "----- *****"
		}
	}
	r := []rune(secret)
	show := 0
	switch {
	case len(r) >= 16:
		show = 4
	case len(r) >= 8:
		show = 2
	}
	return string(r[:show]) + "*****"
}

// maxShown bounds a redacted match on its line of output, in characters.
const maxShown = 100

// redactMatch is what a finding shows of what matched: the match with its secret redacted, on
// one line, at most maxShown characters. When the secret is not found in the match as it is
// (a decoded one), only the redacted secret is shown.
func redactMatch(match, secret string) string {
	if secret == "" {
		return oneLine(match)
	}
	if !strings.Contains(match, secret) {
		return redact(secret)
	}
	s := oneLine(strings.ReplaceAll(match, secret, redact(secret)))
	if r := []rune(s); len(r) > maxShown {
		s = string(r[:maxShown-1]) + "…"
	}
	return s
}

// oneLine turns runs of white space and control characters into one space.
func oneLine(s string) string {
	var b strings.Builder
	space := false
	for _, c := range s {
		if unicode.IsSpace(c) || unicode.IsControl(c) {
			space = true
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteRune(c)
	}
	return b.String()
}
