package sensitive

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/aishell/aishell/config"
)

// bigProject lays out a project of 10,000 files under root: 4,800 of source, tests, docs and
// translations (.json, which the check opens) in nested directories, 5,000 in node_modules
// (skipped), 190 under .git (skipped), and 10 secrets. It returns how many files it made.
func bigProject(b testing.TB, root string) int {
	b.Helper()
	n := 0
	put := func(rel, content string) {
		full := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			b.Fatal(err)
		}
		n++
	}
	exts := []string{".go", ".ts", ".tsx", ".py", ".md", ".css", "_test.go", ".yaml"}
	for d := 0; d < 160; d++ {
		dir := fmt.Sprintf("src/mod%02d/pkg%03d", d%16, d)
		for f := 0; f < 28; f++ {
			put(fmt.Sprintf("%s/file%02d%s", dir, f, exts[f%len(exts)]), "package x\n")
		}
	}
	for l := 0; l < 320; l++ {
		put(fmt.Sprintf("web/i18n/%02d/messages%03d.json", l%20, l), `{"hello": "Hello", "bye": "Bye"}`)
	}
	for f := 0; f < 4800-160*28-320; f++ {
		put(fmt.Sprintf("docs/section%d/page%03d.md", f%8, f), "# page\n")
	}
	for p := 0; p < 500; p++ {
		for f := 0; f < 10; f++ {
			put(fmt.Sprintf("node_modules/pkg%03d/lib/f%d.js", p, f), "module.exports = 1\n")
		}
	}
	for o := 0; o < 190; o++ {
		put(fmt.Sprintf(".git/objects/%02x/%038d", o, o), "x")
	}
	for rel, c := range map[string]string{
		".env": "API_KEY=x", "deploy/id_rsa": sshKey, "infra/terraform.tfstate": "{}", "infra/prod.tfvars": "a=1",
		"infra/sa-key.json": `{"type": "service_account", "private_key": "x"}`, ".npmrc": "_authToken=npm_abc\n",
		"config/master.key": "abc", "tls/server.pem": pemKey, "services/api/.env.production": "A=1", ".kube/config": "clusters: []\nusers: []\n",
	} {
		put(rel, c)
	}
	return n
}

// BenchmarkFind is the check's walk of a 10,000-file project (the goal: well under 100 ms).
func BenchmarkFind(b *testing.B) {
	root := b.TempDir()
	if n := bigProject(b, root); n != 10000 {
		b.Fatalf("%d files, want 10000", n)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		found, err := Find(root, config.SensitiveConfig{})
		if err != nil || len(found) != 10 {
			b.Fatalf("%d found, %v; want 10", len(found), err)
		}
	}
}

// BenchmarkCheck is the whole check before a run on the same project as a git work tree:
// the walk, git check-ignore for what it found, the report.
func BenchmarkCheck(b *testing.B) {
	root := b.TempDir()
	bigProject(b, root)
	os.RemoveAll(filepath.Join(root, ".git"))
	if out, err := exec.Command("git", "init", "-q", root).CombinedOutput(); err != nil {
		b.Skipf("git init: %v %s", err, out)
	}
	opts := CheckOptions{Out: io.Discard, Unsafe: true, Person: config.Person{Mode: config.ModeRoot}}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := Check(root, config.SensitiveConfig{}, opts); err != nil {
			b.Fatal(err)
		}
	}
}
