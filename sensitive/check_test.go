package sensitive

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aishell/aishell/config"
	"github.com/aishell/aishell/errs"
)

func isUsage(err error) bool {
	var u *errs.UsageError
	return errors.As(err, &u)
}

func TestGrouping(t *testing.T) {
	var found []Finding
	for i := 0; i < 5; i++ {
		found = append(found, Finding{Path: fmt.Sprintf("svc%d/.env", i), Kind: "environment file (.env)", Severity: Medium, Unignored: i%2 == 0})
	}
	found = append([]Finding{{Path: "a/id_rsa", Kind: "SSH private key", Severity: High, Unignored: true}, {Path: "b/id_rsa", Kind: "SSH private key", Severity: High}}, found...)
	found = append(found, Finding{Path: "h/.bash_history", Kind: "shell history", Severity: Low})
	var b bytes.Buffer
	writeReport(&b, found)
	want := `  high    SSH private key: a/id_rsa (not in .gitignore)
  high    SSH private key: b/id_rsa
  medium  environment file (.env): 5 files, e.g. svc0/.env, svc1/.env, svc2/.env, … (3 not in .gitignore)
  low     shell history: h/.bash_history
`
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

func gitInit(t *testing.T, dir string) {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git on this host")
	}
	for _, args := range [][]string{{"init", "-q"}, {"config", "user.email", "t@example.com"}, {"config", "user.name", "T"}} {
		if out, err := exec.Command("git", append([]string{"-C", dir}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v %s", args, err, out)
		}
	}
}

func git(t *testing.T, dir string, args ...string) {
	t.Helper()
	if out, err := exec.Command("git", append([]string{"-C", dir}, args...)...).CombinedOutput(); err != nil {
		t.Fatalf("git %v: %v %s", args, err, out)
	}
}

func TestGitignoreNote(t *testing.T) {
	root := t.TempDir()
	gitInit(t, root)
	write(t, root, map[string]string{".gitignore": ".env\n*.pem\n!keep.pem\n", "sub/.gitignore": "id_rsa\n",
		".env": "A=1", "tls/k.pem": pemKey, "keep.pem": pemKey, "sub/id_rsa": sshKey, "secrets.yml": "a: b", "tracked.pem": pemKey})
	// A file already tracked is not ignored, whatever .gitignore says.
	git(t, root, "add", "-f", "tracked.pem")
	// The caller's GIT_* variables do not reach git: this one would point it at another repository.
	t.Setenv("GIT_DIR", t.TempDir())
	found, err := Find(root, config.SensitiveConfig{})
	if err != nil {
		t.Fatal(err)
	}
	markUnignored(t.Context(), root, config.Person{Mode: config.ModeRoot}, found)
	got := map[string]bool{}
	for _, f := range found {
		got[f.Path] = f.Unignored
	}
	want := map[string]bool{".env": false, "tls/k.pem": false, "keep.pem": true, "sub/id_rsa": false, "secrets.yml": true, "tracked.pem": true}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("not ignored: got %v, want %v", got, want)
	}
	// Outside a git work tree nothing is said about git.
	plain := t.TempDir()
	write(t, plain, map[string]string{".env": "A=1"})
	found, _ = Find(plain, config.SensitiveConfig{})
	markUnignored(t.Context(), plain, config.Person{Mode: config.ModeRoot}, found)
	if len(found) != 1 || found[0].Unignored {
		t.Errorf("outside git: %v", found)
	}
}

// check runs Check on a project with files, as a terminal with answer typed (tty) or not.
func check(t *testing.T, files map[string]string, opts CheckOptions, answer string) (string, error) {
	t.Helper()
	root := t.TempDir()
	write(t, root, files)
	var out bytes.Buffer
	opts.Out, opts.In = &out, strings.NewReader(answer)
	err := Check(root, config.SensitiveConfig{}, opts)
	return out.String(), err
}

func TestCheckPolicy(t *testing.T) {
	high := map[string]string{"id_rsa": sshKey, ".env": "A=1"}
	out, err := check(t, high, CheckOptions{}, "")
	if err == nil || !strings.Contains(err.Error(), "refusing to run without a terminal") || isUsage(err) {
		t.Errorf("high without a terminal: %v", err)
	}
	if h := errs.HintOf(err); !strings.Contains(h, "--unsafe") || !strings.Contains(h, "allow: [id_rsa]") {
		t.Errorf("hint %q: want --unsafe and the allow list", h)
	}
	if errs.Report(&bytes.Buffer{}, err) != errs.CodeError {
		t.Error("a refusal should exit 1")
	}
	if !strings.Contains(out, "high    SSH private key: id_rsa") || !strings.Contains(out, "medium  environment file (.env): .env") {
		t.Errorf("report:\n%s", out)
	}
	if out, err = check(t, high, CheckOptions{Unsafe: true}, ""); err != nil || !strings.Contains(out, "--unsafe") {
		t.Errorf("--unsafe: %v\n%s", err, out)
	}
	for answer, ok := range map[string]bool{"y\n": true, "YES\n": true, "n\n": false, "\n": false, "": false, "maybe\n": false} {
		out, err := check(t, high, CheckOptions{TTY: true}, answer)
		if (err == nil) != ok || !strings.Contains(out, "continue? [y/N] ") {
			t.Errorf("answer %q: %v\n%s", answer, err, out)
		}
	}
	out, err = check(t, map[string]string{".env": "A=1", "x.tfvars": "a=1"}, CheckOptions{}, "")
	if err != nil || !strings.Contains(out, "warning") || strings.Contains(out, "continue?") {
		t.Errorf("medium only: %v\n%s", err, out)
	}
	out, err = check(t, map[string]string{"main.go": "package main"}, CheckOptions{}, "")
	if err != nil || out != "" {
		t.Errorf("clean: %v %q", err, out)
	}
}

func TestScanRecordAndReminder(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "aishell", "config.yaml")
	p := config.Person{Mode: config.ModeRoot}
	root := "/src/project"
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	if _, ok := LastScan(cfg, root); ok {
		t.Fatal("a scan recorded before any")
	}
	if r := reminder(cfg, root, p, now); !strings.Contains(r, "never scanned") {
		t.Errorf("first run: %q", r)
	}
	if r := reminder(cfg, root, p, now); r != "" {
		t.Errorf("the never-scanned notice came twice: %q", r)
	}
	if r := reminder(cfg, "/src/other", p, now); !strings.Contains(r, "never scanned") {
		t.Errorf("another project: %q", r)
	}
	if err := RecordScan(cfg, root, p, now.Add(-3*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if last, ok := LastScan(cfg, root); !ok || !last.Equal(now.Add(-3*24*time.Hour)) {
		t.Errorf("LastScan: %v %v", last, ok)
	}
	if r := reminder(cfg, root, p, now); r != "" {
		t.Errorf("3 days after a scan: %q", r)
	}
	RecordScan(cfg, root, p, now.Add(-12*24*time.Hour))
	for i := 0; i < 2; i++ {
		if r := reminder(cfg, root, p, now); !strings.Contains(r, "12 days ago") {
			t.Errorf("12 days after a scan, run %d: %q", i, r)
		}
	}
	// The record names its project: another path with the same file name is not it.
	os.WriteFile(recordPath(cfg, root), []byte(now.Format(time.RFC3339)+"\n/src/elsewhere\n"), 0o644)
	if _, ok := LastScan(cfg, root); ok {
		t.Error("a record of another path counted")
	}
	// Check shows the reminder on a terminal only.
	dir := t.TempDir()
	var out bytes.Buffer
	Check(dir, config.SensitiveConfig{}, CheckOptions{Out: &out, ConfigPath: cfg, Person: p})
	if out.Len() != 0 {
		t.Errorf("without a terminal: %q", out.String())
	}
	Check(dir, config.SensitiveConfig{}, CheckOptions{TTY: true, Out: &out, ConfigPath: cfg, Person: p})
	if !strings.Contains(out.String(), "never scanned") {
		t.Errorf("on a terminal: %q", out.String())
	}
}

// TestGitCommandUnderSudo: under sudo git runs as the person, with their HOME.
func TestGitCommandUnderSudo(t *testing.T) {
	t.Setenv("HOME", "/root")
	p := config.Person{Mode: config.ModeSudo, UID: 4321, GID: 8765, Home: "/home/someone"}
	cmd := gitCommand(t.Context(), "/src/x", p, "log")
	if c := cmd.SysProcAttr; c == nil || c.Credential == nil || c.Credential.Uid != 4321 || c.Credential.Gid != 8765 {
		t.Errorf("credential %+v, want 4321:8765", cmd.SysProcAttr)
	}
	var homes []string
	for _, kv := range cmd.Env {
		if strings.HasPrefix(kv, "HOME=") {
			homes = append(homes, kv)
		}
	}
	if strings.Join(homes, " ") != "HOME=/home/someone" {
		t.Errorf("HOME: %v", homes)
	}
	if cmd := gitCommand(t.Context(), "/src/x", config.Person{Mode: config.ModeRoot}, "log"); cmd.SysProcAttr != nil {
		t.Errorf("as root: %+v", cmd.SysProcAttr)
	}
}

func TestPlainIgnoreFiles(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "a", "b"), 0o755)
	os.WriteFile(filepath.Join(root, ".gitignore"), []byte("x\n"), 0o644)
	found := []Finding{{Path: "a/b/.env"}}
	if !plainIgnoreFiles(root, found) {
		t.Error("regular .gitignore files refused")
	}
	// A FIFO that git would block on, planted in a directory on the way.
	if err := syscall.Mkfifo(filepath.Join(root, "a", ".gitignore"), 0o644); err != nil {
		t.Fatal(err)
	}
	if plainIgnoreFiles(root, found) {
		t.Error("a FIFO .gitignore would be read by git check-ignore")
	}
}
