package build

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/moby/buildkit/frontend/dockerfile/parser"

	"github.com/aishell/aishell/errs"
	"github.com/aishell/aishell/harness"
	"github.com/aishell/aishell/labels"
	"github.com/aishell/aishell/project"
	"github.com/aishell/aishell/snapshot"
)

// ExtensionDockerfile is where a project keeps its extension, relative to the project root.
const ExtensionDockerfile = ".aishell/Dockerfile"

// ExtensionRef is the project's extension image: aishell:ext-<hash12 of the project path>.
func ExtensionRef(proj string) string { return FoundationRepo + ":ext-" + labels.ProjectKey(proj) }

// Key names the extension's project in file names (its hash12, as in ExtensionRef).
func (e *Extension) Key() string { return labels.ProjectKey(e.Project) }

// Extension is a project's parsed .aishell/Dockerfile.
type Extension struct {
	Project    string
	Path       string // the Dockerfile
	Content    []byte
	ContextDir string   // the project root, or .aishell/ with `# aishell: context=.aishell`
	Sources    []string // context paths COPY and ADD read, relative to ContextDir
	BaseAlias  bool     // its final stage is FROM aishell:base
	Bases      []string // images its FROM lines name (not stages, not scratch)
	// approved is set by Consent.Check once the user approved this content, of digest
	// approvedDigest; nothing builds or runs an extension without it, and a build is of a copy
	// of the context whose digest is that one.
	approved       bool
	approvedDigest string
	// user: this is the person's user base, not a project's extension.
	user bool
}

// Ref is the image the Dockerfile builds: the project's extension, or the person's user base.
func (e *Extension) Ref() string {
	if e.user {
		return UserBaseRef(e.Path)
	}
	return ExtensionRef(e.Project)
}

// ProjectExtension finds the project of the current directory and loads its extension; ext
// is nil when the project has none. When the current directory is in no project, root is ""
// and err says why (with a hint).
func ProjectExtension(w project.Where) (root string, ext *Extension, err error) {
	root, _, err = project.Current(w)
	if err != nil {
		return "", nil, err
	}
	ext, err = LoadExtension(root)
	return root, ext, err
}

var contextDirective = regexp.MustCompile(`(?m)^#\s*aishell:\s*context\s*=\s*(\S+)\s*$`)

// LoadExtension reads and checks the project's extension Dockerfile. It returns nil when the
// project has none. A Dockerfile is refused, before any build, when it or .aishell/ is a
// symbolic link or not a plain file, when it has a `# syntax=` line (another frontend would
// build it, past these checks), when its final stage is not FROM aishell:foundation (or its
// alias aishell:base), when a COPY or ADD source leaves the build context, or when a RUN
// instruction calls a harness: harnesses are mounted at run time and do not exist during the
// build.
func LoadExtension(proj string) (*Extension, error) {
	path := filepath.Join(proj, ExtensionDockerfile)
	content, err := project.ReadPlain(proj, ExtensionDockerfile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, errs.WithHint(fmt.Errorf("read %s: %w", path, err), "make .aishell/ a directory and .aishell/Dockerfile a plain file in the project")
	}
	// The build context is the project root, as the ancestor built it (COPY package.json .
	// works); `# aishell: context=.aishell` makes it .aishell/. The line is part of the
	// Dockerfile, so the approval covers the choice.
	e := &Extension{Project: proj, Path: path, Content: content, ContextDir: proj}
	m := contextDirective.FindSubmatch(content)
	if m != nil {
		switch string(m[1]) {
		case "project", ".":
		case "aishell", ".aishell":
			e.ContextDir = filepath.Dir(path)
		default:
			return nil, refuse(path, 0, fmt.Sprintf("unknown context %q in the `# aishell: context=` line", m[1]), "use context=.aishell (the .aishell/ directory) or leave the line out (the project root)")
		}
	}
	if err := e.parse(); err != nil {
		return nil, err
	}
	if m == nil {
		if src := oldContextSource(proj, e.Sources); src != "" {
			return nil, refuse(path, 0, fmt.Sprintf("COPY %s: it is not in the project root, the build context, but in .aishell/", src),
				"put `# aishell: context=.aishell` in the Dockerfile to build with .aishell/ as the context, as before")
		}
	}
	return e, nil
}

// oldContextSource is a COPY source that is missing from the project root but present in
// .aishell/: a Dockerfile written for the earlier default context. "" when there is none.
func oldContextSource(project string, sources []string) string {
	root, err := os.OpenRoot(project)
	if err != nil {
		return ""
	}
	defer root.Close()
	for _, src := range sources {
		pattern := path.Clean(filepath.ToSlash(src))
		if m, err := fs.Glob(root.FS(), pattern); err != nil || len(m) > 0 {
			continue
		}
		if m, err := fs.Glob(root.FS(), path.Join(".aishell", pattern)); err == nil && len(m) > 0 {
			return src
		}
	}
	return ""
}

// parse checks e.Content (see LoadExtension) and records what it copies and builds on.
func (e *Extension) parse() error {
	path, content := e.Path, e.Content
	if syntax, _, _, ok := parser.DetectSyntax(content); ok {
		return refuse(path, 1, fmt.Sprintf("`# syntax=%s` would have another frontend build it", syntax),
			"remove the # syntax= line: aishell builds with buildkitd's own Dockerfile frontend")
	}
	res, err := parser.Parse(bytes.NewReader(content))
	if err != nil {
		return refuse(path, 0, err.Error(), "fix the Dockerfile syntax")
	}
	var lastFrom string
	var lastFromLine int
	stages := map[string]bool{}
	for _, n := range res.AST.Children {
		switch strings.ToLower(n.Value) {
		case "from":
			args := nodeArgs(n)
			if len(args) == 0 {
				continue
			}
			lastFrom, lastFromLine = args[0], n.StartLine
			if !stages[strings.ToLower(args[0])] && args[0] != "scratch" {
				e.Bases = append(e.Bases, normalizeRef(args[0]))
			}
			if len(args) == 3 && strings.EqualFold(args[1], "as") {
				stages[strings.ToLower(args[2])] = true
			}
		case "run":
			args := nodeArgs(n)
			cmd := strings.Join(args, " ")
			// A heredoc is the script only when RUN starts with it (RUN <<EOF); otherwise it is
			// data for a command (RUN cat > x <<EOF).
			if len(args) > 0 && strings.HasPrefix(args[0], "<<") {
				for _, h := range n.Heredocs {
					cmd += "\n" + h.Content
				}
			}
			if why := contextMount(n.Flags); why != "" {
				return refuse(path, n.StartLine, why, "COPY what the step needs, or mount from a stage (from=NAME)")
			}
			if name := harnessCommand(cmd); name != "" {
				return refuse(path, n.StartLine, fmt.Sprintf("RUN calls %s, but harnesses are not in any image", name),
					"harnesses are mounted at run time and are not available during the build; install what the harness needs, not the harness")
			}
		case "copy", "add":
			if hasFlag(n.Flags, "--from") {
				continue
			}
			args := nodeArgs(n)
			if len(args) > 1 {
				for _, src := range args[:len(args)-1] {
					if strings.Contains(src, "://") {
						continue
					}
					if strings.Contains(src, "$") {
						return refuse(path, n.StartLine, fmt.Sprintf("%s %s names its source with a variable, which aishell cannot follow to approve what it copies", strings.ToUpper(n.Value), src),
							"name the files in the Dockerfile")
					}
					if why := outsideContext(src); why != "" {
						return refuse(path, n.StartLine, fmt.Sprintf("%s %s %s", strings.ToUpper(n.Value), src, why),
							"name sources relative to the build context, inside it")
					}
					e.Sources = append(e.Sources, src)
				}
			}
		}
	}
	switch normalizeRef(lastFrom) {
	case FoundationImage:
	case BaseAliasImage:
		e.BaseAlias = true
	default:
		return refuse(path, lastFromLine, fmt.Sprintf("the final stage is FROM %q", lastFrom),
			"extensions build on the foundation: use FROM aishell:foundation (aishell:base still works)")
	}
	return nil
}

func refuse(path string, line int, why, hint string) error {
	where := path
	if line > 0 {
		where = fmt.Sprintf("%s:%d", path, line)
	}
	return errs.WithHint(fmt.Errorf("%s: %s; not building", where, why), hint)
}

// commandSeparators split a shell line into simple commands.
var commandSeparators = regexp.MustCompile(`&&|\|\||[;&|()\n` + "`" + `]|\$\(`)

var assignment = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=`)

// launchers run the command that follows them.
var launchers = map[string]bool{"sudo": true, "exec": true, "env": true, "npx": true, "time": true, "nohup": true,
	"then": true, "do": true, "else": true, "!": true, "xargs": true, "sh": true, "bash": true}

// harnessCommand returns the harness a shell line runs as a command (not merely names), or "".
func harnessCommand(line string) string {
	bins := map[string]bool{}
	for _, h := range harness.Catalog {
		bins[h.Bin] = true
	}
	for _, cmd := range commandSeparators.Split(line, -1) {
		for _, word := range strings.Fields(cmd) {
			word = strings.Trim(word, `'"[],`) // sh -c 'claude …' and the JSON form
			if word == "" || assignment.MatchString(word) {
				continue // VAR=value before the command
			}
			base := filepath.Base(word)
			if launchers[base] || strings.HasPrefix(word, "-") {
				continue
			}
			if bins[base] {
				return base
			}
			break // the command word is something else
		}
	}
	return ""
}

func nodeArgs(n *parser.Node) []string {
	var args []string
	for a := n.Next; a != nil; a = a.Next {
		args = append(args, a.Value)
	}
	return args
}

func hasFlag(flags []string, name string) bool {
	for _, f := range flags {
		if f == name || strings.HasPrefix(f, name+"=") {
			return true
		}
	}
	return false
}

// normalizeRef expands a short image name the way Docker does (aishell:base ->
// docker.io/library/aishell:base).
func normalizeRef(ref string) string {
	name := ref
	if !strings.Contains(name, "/") {
		name = "library/" + name
	}
	first, _, _ := strings.Cut(name, "/")
	if !strings.ContainsAny(first, ".:") && first != "localhost" {
		name = "docker.io/" + name
	}
	return name
}

// contextMount says why a RUN's --mount flags would read the build context unseen (a bind
// mount, the default type, without from= mounts the context), or "".
func contextMount(flags []string) string {
	for _, f := range flags {
		spec, ok := strings.CutPrefix(f, "--mount=")
		if !ok {
			continue
		}
		typ, from := "bind", false
		for _, kv := range strings.Split(spec, ",") {
			k, v, _ := strings.Cut(kv, "=")
			switch strings.ToLower(k) {
			case "type":
				typ = strings.ToLower(v)
			case "from":
				from = v != ""
			}
		}
		if typ == "bind" && !from {
			return "RUN --mount=" + spec + " mounts the build context, which aishell cannot hash for your approval"
		}
	}
	return ""
}

// outsideContext says why a COPY or ADD source names something outside the build context
// (an absolute path, or one through ..), or "".
func outsideContext(src string) string {
	if filepath.IsAbs(src) {
		return "is an absolute path"
	}
	for _, part := range strings.Split(filepath.ToSlash(src), "/") {
		if part == ".." {
			return "goes up with .."
		}
	}
	return ""
}

// Hash is the first 12 hex digits of Digest: the label an extension image records. An
// approved extension's is that of the content approved, hashed once when it was approved.
func (e *Extension) Hash() (string, error) {
	d, err := e.currentDigest()
	if err != nil {
		return "", err
	}
	return hashOf(d), nil
}

// currentDigest is the approved digest, or, before an approval, Digest.
func (e *Extension) currentDigest() (string, error) {
	if e.approvedDigest != "" {
		return e.approvedDigest, nil
	}
	return e.Digest()
}

// hashOf is the 12 hex digits of a "sha256:<hex>" digest that label an image.
func hashOf(digest string) string { return strings.TrimPrefix(digest, "sha256:")[:12] }

// Digest is "sha256:<hex>" of the Dockerfile and the context files its COPY and ADD read (path,
// mode, size and content; and .dockerignore), read inside the context only: a symbolic link is
// hashed as its target's name, never followed, only regular files are opened, and .git and
// what the context's .dockerignore excludes are never part of it. A source that is itself a
// link is refused.
func (e *Extension) Digest() (string, error) { return e.digest("") }

// stage copies what Digest reads into dir, the build context buildkitd is then given, and
// returns the digest of what it copied: what is built is exactly what was hashed, whatever
// changes in the project meanwhile.
func (e *Extension) stage(dir string) (string, error) { return e.digest(dir) }

// dockerignore is read by buildkitd from the context, so it is hashed and staged too.
const dockerignore = ".dockerignore"

func (e *Extension) digest(stageDir string) (string, error) {
	root, err := contextRoot(e.Project, e.ContextDir)
	if err != nil {
		return "", fmt.Errorf("build context %s: %w", e.ContextDir, err)
	}
	defer root.Close()
	var stage *os.Root
	if stageDir != "" {
		if stage, err = os.OpenRoot(stageDir); err != nil {
			return "", err
		}
		defer stage.Close()
	}
	h := sha256.New()
	h.Write(e.Content)
	paths := []string{}
	ignored, err := readIgnore(root)
	if err != nil {
		return "", fmt.Errorf("%s: %w", filepath.Join(e.ContextDir, dockerignore), err)
	}
	if ignored != nil {
		paths = append(paths, dockerignore)
	}
	for _, src := range e.Sources {
		pattern := path.Clean(filepath.ToSlash(src))
		if err := linkedSource(root, e.Path, pattern); err != nil {
			return "", err
		}
		matches, err := fs.Glob(root.FS(), pattern)
		if err != nil || len(matches) == 0 {
			fmt.Fprintf(h, "\x00missing %s", src)
			continue
		}
		paths = append(paths, matches...)
	}
	sort.Strings(paths)
	seen := map[string]bool{}
	for _, p := range paths {
		if err := linkedSource(root, e.Path, p); err != nil {
			return "", err
		}
		if err := fs.WalkDir(root.FS(), p, func(name string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.Name() == ".git" {
				return skipEntry(d)
			}
			if skip, err := ignored.skip(name, d); skip || err != nil {
				return err
			}
			if seen[name] {
				return nil
			}
			seen[name] = true
			return hashEntry(h, root, stage, name, d)
		}); err != nil {
			return "", fmt.Errorf("hash build context %s: %w", p, err)
		}
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

// linkedSource refuses a COPY source (a name, or what a pattern matched) that is a symbolic
// link: what it points to is outside what is hashed and approved.
func linkedSource(root *os.Root, dockerfile, src string) error {
	if fi, err := root.Lstat(src); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		return errs.WithHint(fmt.Errorf("%s: COPY source %s is a symbolic link", dockerfile, src), "copy what it points to, inside the build context")
	}
	return nil
}

// contextRoot opens the context directory through the project, so that a .aishell replaced by
// a link cannot lead out of the project.
func contextRoot(project, dir string) (*os.Root, error) {
	proj, err := os.OpenRoot(project)
	if err != nil {
		return nil, err
	}
	defer proj.Close()
	rel, err := filepath.Rel(project, dir)
	if err != nil {
		return nil, err
	}
	return proj.OpenRoot(rel)
}

func skipEntry(d fs.DirEntry) error {
	if d.IsDir() {
		return fs.SkipDir
	}
	return nil
}

// hashEntry adds one context entry to h (its path, mode and size, then a link's target name or
// a regular file's content) and, with stage, copies it there.
func hashEntry(h io.Writer, root, stage *os.Root, name string, d fs.DirEntry) error {
	info, err := d.Info()
	if err != nil {
		return err
	}
	fmt.Fprintf(h, "\x00%s %v %d", name, info.Mode(), info.Size())
	if stage != nil && name != "." {
		if err := stage.MkdirAll(path.Dir(name), 0o755); err != nil {
			return err
		}
	}
	switch {
	case info.IsDir():
		if stage != nil && name != "." {
			return stage.MkdirAll(name, info.Mode().Perm()|0o700)
		}
		return nil
	case info.Mode()&fs.ModeSymlink != 0:
		target, err := root.Readlink(name)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, " -> %s", target)
		if stage != nil {
			return stage.Symlink(target, name)
		}
		return nil
	case !info.Mode().IsRegular():
		return nil
	}
	f, err := root.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	var w io.Writer = h
	if stage != nil {
		out, err := stage.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, info.Mode().Perm())
		if err != nil {
			return err
		}
		defer out.Close()
		w = io.MultiWriter(h, out)
	}
	_, err = io.Copy(w, f)
	return err
}

// ExtensionStatus says whether a project's extension image can be used as it is.
type ExtensionStatus struct {
	Ref, Project string
	Exists       bool
	Fresh        bool
	Reason       string // why it is stale
	Hash         string // the Dockerfile's current hash
	Digest       string // the digest Hash is the start of
}

// CheckExtension decides, without buildkitd, whether the extension (or the user base) is
// fresh: it exists, its recorded Dockerfile hash is the current one, and the current top
// snapshot of the image it builds on (the person's user base, or the foundation) is in its
// snapshot parent chain and is the one it was built on. An extension on a stale user base is
// stale too.
func (b *Builder) CheckExtension(ctx context.Context, e *Extension) (ExtensionStatus, error) {
	st := ExtensionStatus{Ref: e.Ref(), Project: e.Project}
	digest, err := e.currentDigest()
	if err != nil {
		return st, err
	}
	st.Digest, st.Hash = digest, hashOf(digest)
	img, err := b.Images.ImageService().Get(ctx, st.Ref)
	if err != nil {
		st.Reason = "not built yet"
		return st, nil
	}
	st.Exists = true
	if got := img.Labels[labels.DockerfileHash]; got != st.Hash {
		st.Reason = "its Dockerfile or build context changed"
		return st, nil
	}
	base, under := b.baseOf(ctx, e)
	if u := b.UserBase; u != nil && !e.user {
		ust, err := b.CheckExtension(ctx, u)
		if err != nil {
			return st, err
		}
		if !ust.Fresh {
			st.Reason = fmt.Sprintf("your base %s is stale (%s)", u.Path, ust.Reason)
			return st, nil
		}
	}
	baseChain, err := snapshot.ChainID(ctx, b.Images, base)
	if err != nil {
		return st, errs.WithHint(fmt.Errorf("no foundation image yet: %w", err), "run `aishell build` first")
	}
	top, err := snapshot.ChainID(ctx, b.Images, st.Ref)
	if err != nil {
		return st, err
	}
	ok, err := snapshot.ChainContains(ctx, b.Images, b.snapshotter(), top, baseChain)
	if err != nil {
		st.Reason = "its snapshots are incomplete (" + err.Error() + ")"
		return st, nil
	}
	if !ok {
		st.Reason = under + " changed under it"
		return st, nil
	}
	if recorded := img.Labels[labels.BaseChain]; recorded != "" && recorded != baseChain {
		st.Reason = "it was built on another base; its base is now " + under
		return st, nil
	}
	st.Fresh = true
	return st, nil
}

// baseOf is the image e builds on and what to call it: the foundation (RunFoundation) for the
// user base and when the person has none, else the person's user base.
func (b *Builder) baseOf(ctx context.Context, e *Extension) (ref, name string) {
	if b.UserBase == nil || e.user {
		return b.RunFoundation(ctx), "the foundation"
	}
	return b.UserBase.Ref(), "your base " + b.UserBase.Path
}

// EnsureExtension builds the project's extension (or the user base) when it is missing or
// stale (or when force is set) and returns its ref and whether it was built; an extension's
// user base is brought up to date first. A failed build leaves the previous image tagged.
func (b *Builder) EnsureExtension(ctx context.Context, e *Extension, force bool) (string, bool, error) {
	if !e.approved {
		return "", false, errNotApproved(e)
	}
	if u := b.UserBase; u != nil && !e.user {
		if _, _, err := b.EnsureExtension(ctx, u, false); err != nil {
			return "", false, err
		}
	}
	st, err := b.CheckExtension(ctx, e)
	if err != nil {
		return "", false, err
	}
	if st.Fresh && !force {
		return st.Ref, false, nil
	}
	// Under the person's build lock; another command of theirs may have built it meanwhile.
	built := false
	err = b.Exclusive(ctx, func() error {
		if !force {
			if st, err = b.CheckExtension(ctx, e); err != nil || st.Fresh {
				return err
			}
		}
		built = true
		return b.buildExtension(ctx, e, st, force)
	})
	if err != nil {
		return "", false, err
	}
	return st.Ref, built, nil
}

// buildExtension builds e, whose status is st, for EnsureExtension.
func (b *Builder) buildExtension(ctx context.Context, e *Extension, st ExtensionStatus, force bool) error {
	reason := st.Reason
	if force {
		reason = "rebuild asked for"
	}
	foundation, err := snapshot.ChainID(ctx, b.Images, b.RunFoundation(ctx))
	if err != nil {
		return errs.WithHint(errors.New("no foundation image yet"), "run `aishell build` first")
	}
	base, _ := b.baseOf(ctx, e)
	baseChain, err := snapshot.ChainID(ctx, b.Images, base)
	if err != nil {
		return fmt.Errorf("look up %s: %w", base, err)
	}
	staged, err := os.MkdirTemp("", "aishell-context-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(staged)
	digest, err := e.stage(staged)
	if err != nil {
		return err
	}
	if digest != e.approvedDigest {
		return errs.WithHint(fmt.Errorf("%s or a file it copies changed after it was approved; not building", e.Path),
			"run aishell again to review the new content")
	}
	st.Hash = hashOf(digest)
	req := solveRequest{
		Name:       st.Ref,
		Title:      fmt.Sprintf("extension %s for %s (%s)", st.Ref, e.Project, reason),
		Dockerfile: e.Content,
		ContextDir: staged,
		Bases:      e.Bases,
		Untrusted:  !e.user,
		Labels: map[string]string{
			labels.Tier:            labels.TierExtension,
			labels.DockerfileHash:  st.Hash,
			labels.Project:         e.Project,
			labels.FoundationChain: foundation,
			labels.BaseChain:       baseChain,
		},
	}
	if e.user {
		req.Title = fmt.Sprintf("user base %s from %s (%s)", st.Ref, e.Path, reason)
		req.Labels[labels.Tier] = labels.TierUserBase
		delete(req.Labels, labels.Project)
		req.Labels[labels.UserDockerfile] = e.Path
	}
	if base != FoundationImage {
		// FROM aishell:foundation and FROM aishell:base both build on base: in an extension the
		// person's base (the project cannot know the user has one, and the user wants it under
		// every project); in the user base, this aishell's own foundation, whatever build of
		// another aishell moved the shared tags since.
		req.Contexts = map[string]string{shortFoundation: base, shortBase: base}
		req.Bases = append(append([]string{}, e.Bases...), base)
	}
	return b.solve(ctx, req)
}

// RunImage is the rootfs image of a run in project: the person's base (their user base, built
// first when missing or stale, or the foundation) when the project has no extension; else its
// extension, built first when it is missing or stale. A fresh extension costs no buildkitd
// call. With noRebuild the image is used as it is, stale or not (and said so), and never
// built. Either way the extension must have been approved (Consent).
func (b *Builder) RunImage(ctx context.Context, ext *Extension, noRebuild bool) (string, error) {
	if ext == nil {
		if b.UserBase == nil {
			return b.RunFoundation(ctx), nil
		}
		ext = b.UserBase
	}
	if !ext.approved {
		return "", errNotApproved(ext)
	}
	if !noRebuild {
		ref, _, err := b.EnsureExtension(ctx, ext, false)
		return ref, err
	}
	st, err := b.CheckExtension(ctx, ext)
	if err != nil {
		return "", err
	}
	if !st.Exists {
		return "", errs.WithHint(fmt.Errorf("--no-rebuild: %s has no image yet", ext.Path), "run without --no-rebuild to build it")
	}
	if !st.Fresh {
		what := "extension"
		if ext.user {
			what = "user base"
		}
		fmt.Fprintf(b.Log, "aishell: using the stale %s %s (%s) as asked\n", what, st.Ref, st.Reason)
	}
	return st.Ref, nil
}

// ExtensionImage is one extension image in the store and its state.
type ExtensionImage struct {
	Ref, Project string // for the person's user base, Project is its Dockerfile's path
	UserBase     bool   // the person's own base (~/.config/aishell/Dockerfile), not a project's
	State        string // fresh, stale, orphaned (its project or Dockerfile is gone) or unknown
	Reason       string // why it is not fresh
	Size         int64  // bytes of its snapshots
}

// Extensions lists the extension images in the namespace with the state of each, checked as
// a run would check it (no buildkitd call).
func (b *Builder) Extensions(ctx context.Context) ([]ExtensionImage, error) {
	imgs, err := b.Images.ImageService().List(ctx, labels.Equals(labels.Tier, labels.TierExtension))
	if err != nil {
		return nil, fmt.Errorf("list extensions: %w", err)
	}
	var out []ExtensionImage
	if u := b.UserBase; u != nil {
		// The person's own base heads the list, by its Dockerfile.
		x := ExtensionImage{Ref: u.Ref(), Project: u.Path, UserBase: true, State: "fresh"}
		if st, err := b.CheckExtension(ctx, u); err != nil {
			x.State, x.Reason = "unknown", err.Error()
		} else if !st.Fresh {
			x.State, x.Reason = "stale", st.Reason
		}
		if i, err := b.Images.GetImage(ctx, x.Ref); err == nil {
			x.Size, _ = i.Usage(ctx, containerd.WithSnapshotUsage())
		}
		out = append(out, x)
	}
	for _, img := range imgs {
		x := ExtensionImage{Ref: img.Name, Project: img.Labels[labels.Project], State: "fresh"}
		ext, err := LoadExtension(x.Project)
		switch {
		case err != nil:
			x.State, x.Reason = "stale", strings.SplitN(err.Error(), ";", 2)[0]
		case ext == nil:
			x.State, x.Reason = "orphaned", "no "+filepath.Join(x.Project, ExtensionDockerfile)+" (aishell gc removes it)"
		default:
			st, err := b.CheckExtension(ctx, ext)
			if err != nil {
				x.State, x.Reason = "unknown", err.Error()
			} else if !st.Fresh {
				x.State, x.Reason = "stale", st.Reason
			}
		}
		if i, err := b.Images.GetImage(ctx, img.Name); err == nil {
			x.Size, _ = i.Usage(ctx, containerd.WithSnapshotUsage())
		}
		out = append(out, x)
	}
	return out, nil
}

// ProjectAlive reports whether an extension's project may still use it: only a project whose
// Dockerfile is certainly gone is dead; an unreadable or unmounted path counts as alive.
func ProjectAlive(project string) bool {
	_, err := os.Stat(filepath.Join(project, ExtensionDockerfile))
	return project == "" || !errors.Is(err, fs.ErrNotExist)
}
