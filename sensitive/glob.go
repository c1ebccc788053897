package sensitive

import (
	"fmt"
	"path"
	"strings"
)

// glob is a path pattern relative to the project root, as the user's allow list and patterns
// write them: without a slash it matches a name at any depth (`*.pem`, `secrets`), with one
// it matches the path from the root, where `**` stands for any number of directories
// (`certs/*.key`, `test/**/fixtures`). A pattern that matches a directory covers everything
// under it; one that ends in / matches directories only (`fixtures/`).
type glob struct {
	segs     []string
	anyDepth bool // no slash: matched against each name
	dirOnly  bool // ended in /: matched against the directories above a file only
}

func compileGlob(p string) (glob, error) {
	orig := p
	p = strings.TrimPrefix(strings.TrimSpace(p), "./")
	var g glob
	if strings.HasSuffix(p, "/") {
		g.dirOnly = true
		p = strings.TrimRight(p, "/")
	}
	anchored := strings.HasPrefix(p, "/")
	p = strings.TrimLeft(p, "/")
	if p == "" {
		return g, fmt.Errorf("empty pattern %q", orig)
	}
	g.segs = strings.Split(path.Clean(p), "/")
	g.anyDepth = len(g.segs) == 1 && !anchored && g.segs[0] != "**"
	for _, s := range g.segs {
		if s == ".." {
			return g, fmt.Errorf("pattern %q leaves the project", orig)
		}
		if _, err := path.Match(s, "x"); err != nil {
			return g, fmt.Errorf("pattern %q: %w", orig, err)
		}
	}
	return g, nil
}

// match reports whether the pattern covers rel (slash-separated, relative to the root): rel
// itself, or a directory above it.
func (g glob) match(rel string) bool {
	segs := strings.Split(rel, "/")
	last := len(segs)
	if g.dirOnly {
		last-- // the file itself is not a directory
	}
	if g.anyDepth {
		for _, s := range segs[:last] {
			if ok, _ := path.Match(g.segs[0], s); ok {
				return true
			}
		}
		return false
	}
	for n := 1; n <= last; n++ {
		if matchSegs(g.segs, segs[:n]) {
			return true
		}
	}
	return false
}

// matchSegs matches pattern segments against path segments, `**` standing for zero or more.
func matchSegs(pat, segs []string) bool {
	for len(pat) > 0 {
		if pat[0] == "**" {
			for i := 0; i <= len(segs); i++ {
				if matchSegs(pat[1:], segs[i:]) {
					return true
				}
			}
			return false
		}
		if len(segs) == 0 {
			return false
		}
		if ok, _ := path.Match(pat[0], segs[0]); !ok {
			return false
		}
		pat, segs = pat[1:], segs[1:]
	}
	return len(segs) == 0
}
