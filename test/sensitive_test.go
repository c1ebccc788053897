package test

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aishell/aishell/config"
	"github.com/aishell/aishell/errs"
)

// A private key and tokens shaped as gitleaks' default rules know them (made up), cut into
// pieces that no rule matches in this file, so that a scan of aishell's own history stays clean.
const (
	testSSHKey    = "-----BEGIN OPENSSH PRIVATE" + " KEY-----\n" + "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n" + "-----END OPENSSH PRIVATE" + " KEY-----\n"
	testAWSID     = "AKIA" + "QWERTYUI" + "OPASDFGH"
	testAWSSecret = "Tr9hGx2k" + "P4mQvL8s" + "Z1wN6bYc" + "3dF7jA0e" + "R5uI2oKp"
	testGHToken   = "ghp_" + "R8xKq2Lm" + "5Nv7Pw3Y" + "s9Tz1Ab4" + "Cd6Ef0Gh" + "JkMn"
)

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// editConfig changes the user config of env (its XDG_CONFIG_HOME) with edit.
func editConfig(t *testing.T, env []string, edit func(*config.File)) {
	t.Helper()
	path := userConfigPath(env)
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	edit(&cfg)
	if err := config.Save(path, cfg, config.Person{Mode: config.ModeRoot}); err != nil {
		t.Fatal(err)
	}
}

// TestSensitiveCheckBeforeRun: a high-severity file stops a run without a terminal (exit 1, a
// hint naming --unsafe and the allow list); --unsafe runs it; a medium one warns and runs; an
// allowed one is not mentioned.
func TestSensitiveCheckBeforeRun(t *testing.T) {
	needEnv(t)
	env := runEnv(t)
	proj := project(t, "secrets")
	writeFile(t, filepath.Join(proj, "deploy", "id_ed25519"), testSSHKey)

	r := aishell(t, proj, env, "exec", "--", "sh", "-c", "echo ran")
	lines := strings.Split(strings.TrimSpace(r.Stderr), "\n")
	last := lines[len(lines)-1]
	if r.Code != errs.CodeError || r.Stdout != "" || !strings.Contains(r.Stderr, "high    SSH private key: deploy/id_ed25519 (not in .gitignore)") ||
		!strings.Contains(lines[len(lines)-2], "refusing to run without a terminal") ||
		!strings.HasPrefix(last, "hint: ") || !strings.Contains(last, "--unsafe") || !strings.Contains(last, "allow: [deploy/id_ed25519]") {
		t.Errorf("a high-severity file without a terminal: exit %d, stdout %q, stderr:\n%s\nwant exit 1, the file listed, one line of refusal and a hint", r.Code, r.Stdout, r.Stderr)
	}

	r = aishell(t, proj, env, "--unsafe", "exec", "--", "sh", "-c", "echo ran")
	if r.Code != 0 || r.Stdout != "ran\n" || !strings.Contains(r.Stderr, "deploy/id_ed25519") {
		t.Errorf("--unsafe: exit %d %q %q; want it to run, the file still listed", r.Code, r.Stdout, r.Stderr)
	}

	// Medium: a warning, and the run goes on. Git-ignored: no note.
	med := project(t, "medium")
	writeFile(t, filepath.Join(med, ".env"), "DATABASE_URL=postgres://u:p@db/x\n")
	writeFile(t, filepath.Join(med, "infra", "prod.tfvars"), "password = \"x\"\n")
	writeFile(t, filepath.Join(med, ".gitignore"), ".env\n")
	r = aishell(t, med, env, "exec", "--", "sh", "-c", "echo ran")
	if r.Code != 0 || r.Stdout != "ran\n" || !strings.Contains(r.Stderr, "warning") ||
		!strings.Contains(r.Stderr, "medium  environment file (.env): .env\n") ||
		!strings.Contains(r.Stderr, "medium  terraform variables (*.tfvars): infra/prod.tfvars (not in .gitignore)\n") {
		t.Errorf("medium: exit %d %q, stderr:\n%s", r.Code, r.Stdout, r.Stderr)
	}

	// The user's allow list: nothing said, the run goes on.
	editConfig(t, env, func(f *config.File) { f.Sensitive.Allow = []string{"deploy/id_ed25519"} })
	r = aishell(t, proj, env, "exec", "--", "sh", "-c", "echo ran")
	if r.Code != 0 || r.Stdout != "ran\n" || strings.Contains(r.Stderr, "id_ed25519") {
		t.Errorf("allowed: exit %d %q %q; want a silent run", r.Code, r.Stdout, r.Stderr)
	}
	// ...which the project's own .aishell/config.yaml cannot say.
	writeFile(t, filepath.Join(med, ".aishell", "config.yaml"), "sensitive:\n  allow: [\"*.tfvars\", .env, deploy/]\n")
	writeFile(t, filepath.Join(med, "deploy", "id_rsa"), testSSHKey)
	if r = aishell(t, med, env, "exec", "--", "true"); r.Code != errs.CodeError || !strings.Contains(r.Stderr, "deploy/id_rsa") {
		t.Errorf("allowed by the project's config: exit %d %q; want a refusal", r.Code, r.Stderr)
	}
}

// TestSensitivePromptOnTerminal: on a terminal a high-severity file is asked about, default no;
// the first run that goes on in a project never scanned says so, once.
func TestSensitivePromptOnTerminal(t *testing.T) {
	needEnv(t)
	env := runEnv(t)
	proj := project(t, "prompt")
	writeFile(t, filepath.Join(proj, ".aws", "credentials"), "[default]\naws_access_key_id = "+testAWSID+"\n")
	session := func(answer string) (string, int) {
		t.Helper()
		cmd := aishellCmd(proj, append(env, "TERM=xterm"), "exec", "--", "sh", "-c", "echo ran-$((40+2))")
		ptmx, s := onTerminal(t, cmd, 40, 200)
		defer ptmx.Close()
		s.waitFor(t, `continue\? \[y/N\] `, 0)
		ptmx.Write([]byte(answer + "\r"))
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(2 * time.Minute):
			cmd.Process.Kill()
			t.Fatalf("aishell did not end after the answer %q:\n%s", answer, s.buf.String())
		}
		time.Sleep(100 * time.Millisecond) // the last output
		return s.buf.String(), cmd.ProcessState.ExitCode()
	}
	out, code := session("n")
	if code != errs.CodeError || strings.Contains(out, "ran-42") || !strings.Contains(out, "not running") || !strings.Contains(out, "high    AWS credentials (.aws/credentials): .aws/credentials") {
		t.Errorf("answered no: exit %d:\n%s", code, out)
	}
	// A run that goes on says, once, that the project was never scanned.
	for i, notice := range []bool{true, false} {
		out, code = session("y")
		if code != 0 || !strings.Contains(out, "ran-42") || strings.Contains(out, "never scanned for secrets") != notice {
			t.Errorf("answered yes, run %d: exit %d, want 0 and the never-scanned notice %v:\n%s", i, code, notice, out)
		}
	}
}

// commitAll commits everything in dir with message and returns the commit.
func commitAll(t *testing.T, dir, message string) string {
	t.Helper()
	for _, args := range [][]string{{"add", "-A"}, {"commit", "-q", "-m", message}} {
		if out, err := exec.Command("git", append([]string{"-C", dir}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v %s", args, err, out)
		}
	}
	out, err := exec.Command("git", "-C", dir, "rev-parse", "HEAD").Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

// needBinary skips an integration test that needs the binary and git, but no daemon, under -short.
func needBinary(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: skipped with -short")
	}
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git on this host")
	}
}

// TestScanHistory: a key committed, then deleted in a later commit, is found in the history,
// its commit named and its secret not shown; a clean repository exits 0; the scan is recorded.
func TestScanHistory(t *testing.T) {
	needBinary(t)
	env := userEnv(t)
	proj := project(t, "leaky")
	writeFile(t, filepath.Join(proj, "README.md"), "# leaky\n")
	commitAll(t, proj, "readme")
	writeFile(t, filepath.Join(proj, "deploy", "settings.py"), "REGION = 'eu-west-1'\nAWS_ACCESS_KEY_ID = '"+testAWSID+"'\nGITHUB_TOKEN = '"+testGHToken+"'\n")
	leak := commitAll(t, proj, "settings")
	os.RemoveAll(filepath.Join(proj, "deploy"))
	commitAll(t, proj, "oops, remove the keys")

	r := aishell(t, proj, env, "scan")
	if r.Code != errs.CodeError {
		t.Errorf("exit %d, want 1", r.Code)
	}
	for _, want := range []string{leak[:12] + ":deploy/settings.py:2: aws-access-token: ", leak[:12] + ":deploy/settings.py:3: github-pat: ", "0 in the working tree, 2 in the history", "3 commits"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, r.Stdout)
		}
	}
	if strings.Contains(r.Stdout+r.Stderr, testAWSID) || strings.Contains(r.Stdout+r.Stderr, testGHToken) {
		t.Error("a secret is shown as it is")
	}
	cfgDir := strings.TrimPrefix(env[0], "XDG_CONFIG_HOME=")
	sum := sha256.Sum256([]byte(proj))
	if _, err := os.Stat(filepath.Join(cfgDir, "aishell", "scans", hex.EncodeToString(sum[:])[:12])); err != nil {
		t.Errorf("the scan is not recorded: %v", err)
	}
	// The working tree too, and --json.
	writeFile(t, filepath.Join(proj, "notes.txt"), "token "+testGHToken+"\n")
	r = aishell(t, proj, env, "scan", "--json")
	if r.Code != errs.CodeError || !strings.Contains(r.Stdout, `"file": "notes.txt"`) || !strings.Contains(r.Stdout, `"commit": "`+leak+`"`) {
		t.Errorf("--json: exit %d\n%s", r.Code, r.Stdout)
	}

	clean := project(t, "clean")
	writeFile(t, filepath.Join(clean, "main.go"), "package main\n\nfunc main() {}\n")
	commitAll(t, clean, "main")
	r = aishell(t, filepath.Join(clean), env, "scan")
	if r.Code != 0 || !strings.Contains(r.Stdout, "no secrets found in 1 file and 1 commit") {
		t.Errorf("a clean repository: exit %d %q", r.Code, r.Stdout)
	}
}

// TestScanDoesNotRunProjectGit is the abuse test: a project's .git/config that makes git run
// programs (core.fsmonitor when the index is read, a textconv driver and diff.external when
// diffs are made, gpg.program for signed commits, a pager), or hides history from it
// (log.showRoot, diff.noprefix, core.bigFileThreshold), neither runs anything nor hides the
// secret from `aishell scan` or from the check before a run. A plain git in the same repository
// shows the traps are live.
func TestScanDoesNotRunProjectGit(t *testing.T) {
	needBinary(t)
	env := userEnv(t)
	proj := project(t, "trap")
	writeFile(t, filepath.Join(proj, "creds.txt"), "AWS_ACCESS_KEY_ID="+testAWSID+"\n")
	writeFile(t, filepath.Join(proj, ".gitattributes"), "* diff=evil\n")
	root := commitAll(t, proj, "first")
	writeFile(t, filepath.Join(proj, ".env"), "A=1\n") // for the check before a run

	marks := t.TempDir()
	trap := func(name string) string {
		p := filepath.Join(marks, name+".sh")
		writeFile(t, p, "#!/bin/sh\ntouch "+filepath.Join(marks, name+"-ran")+"\ncat >/dev/null\n")
		os.Chmod(p, 0o755)
		return p
	}
	// A signed commit on top, for gpg.program (the signature need not be good: git asks gpg).
	tree, _ := exec.Command("git", "-C", proj, "rev-parse", "HEAD^{tree}").Output()
	obj := "tree " + strings.TrimSpace(string(tree)) + "\nparent " + root + "\nauthor a <a@example.com> 1700000000 +0000\ncommitter a <a@example.com> 1700000000 +0000\n" +
		"gpgsig -----BEGIN PGP SIGNATURE-----\n \n iQEzBAABCAAdFiEE\n -----END PGP SIGNATURE-----\n\nsigned\n"
	hash := exec.Command("git", "-C", proj, "hash-object", "-t", "commit", "-w", "--stdin")
	hash.Stdin = strings.NewReader(obj)
	signed, err := hash.Output()
	if err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("git", "-C", proj, "update-ref", "HEAD", strings.TrimSpace(string(signed))).CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}
	for k, v := range map[string]string{
		"core.fsmonitor": trap("fsmonitor"), "diff.evil.textconv": trap("textconv"), "diff.evil.command": trap("diffcommand"),
		"diff.external": trap("external"), "core.pager": trap("pager"), "gpg.program": trap("gpg"), "log.showSignature": "true",
		"log.showRoot": "false", "diff.noprefix": "true", "core.bigFileThreshold": "1",
	} {
		if out, err := exec.Command("git", "-C", proj, "config", k, v).CombinedOutput(); err != nil {
			t.Fatalf("git config %s: %v %s", k, err, out)
		}
	}
	ran := func() []string {
		var names []string
		m, _ := filepath.Glob(filepath.Join(marks, "*-ran"))
		for _, p := range m {
			names = append(names, strings.TrimSuffix(filepath.Base(p), "-ran"))
			os.Remove(p)
		}
		return names
	}
	// The control: plain git runs them (past the settings that hide the first commit's diff).
	exec.Command("git", "-C", proj, "-c", "log.showRoot=true", "-c", "core.bigFileThreshold=512m", "log", "-p").Run()
	exec.Command("git", "-C", proj, "status").Run()
	if got := strings.Join(ran(), " "); !strings.Contains(got, "fsmonitor") || !strings.Contains(got, "textconv") || !strings.Contains(got, "gpg") {
		t.Fatalf("the traps are not live: plain git ran %q", got)
	}

	r := aishell(t, proj, env, "scan")
	if got := ran(); len(got) > 0 {
		t.Errorf("aishell scan ran the project's programs: %v", got)
	}
	if r.Code != errs.CodeError || !strings.Contains(r.Stdout, root[:12]+":creds.txt:1: aws-access-token") {
		t.Errorf("the secret in the first commit was not found: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	// The check before a run asks git which files it ignores (reading the index).
	r = aishell(t, proj, append(env, "CONTAINERD_ADDRESS=/nonexistent/containerd.sock"), "exec", "true")
	if got := ran(); len(got) > 0 {
		t.Errorf("the check before a run ran the project's programs: %v", got)
	}
	if !strings.Contains(r.Stderr, ".env (not in .gitignore)") {
		t.Errorf("the check did not run, or git said nothing: %q", r.Stderr)
	}
}

// TestScanUnderSudo: `sudo aishell scan` runs git as the user (git would refuse their
// repository as root), and the record belongs to them.
func TestScanUnderSudo(t *testing.T) {
	needBinary(t)
	u, _ := needRootless(t)
	proj := u.project(t, "sudoscan")
	writeFile(t, filepath.Join(proj, "k.txt"), "token "+testGHToken+"\n")
	os.Chown(filepath.Join(proj, "k.txt"), u.UID, u.GID)
	for _, args := range [][]string{{"add", "-A"}, {"commit", "-q", "-m", "k"}} {
		if out, err := u.command(proj, nil, "git", append([]string{"-C", proj}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v %s", args, err, out)
		}
	}
	cfg := u.dir(t, "sudoscancfg")
	r := runCmd(t, sudoCmd(proj, sudoEnv(u, t.TempDir(), "XDG_CONFIG_HOME="+cfg), "scan"), "sudo aishell scan")
	if r.Code != errs.CodeError || !strings.Contains(r.Stdout, "1 in the working tree, 1 in the history") {
		t.Errorf("sudo aishell scan: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
	scans := filepath.Join(cfg, "aishell", "scans")
	m, _ := filepath.Glob(filepath.Join(scans, "*"))
	for _, p := range append(m, scans) {
		if uid, _ := owner(t, p); uid != u.UID {
			t.Errorf("%s owned by %d, want the user's %d", p, uid, u.UID)
		}
	}
	if len(m) != 1 {
		t.Errorf("records: %v", m)
	}
	// And as the user themself (rootless mode: scan needs no daemon, nor rootlesskit).
	r = u.aishell(t, proj, []string{"XDG_CONFIG_HOME=" + cfg, "XDG_RUNTIME_DIR=" + u.dir(t, "norun")}, "scan")
	if r.Code != errs.CodeError || !strings.Contains(r.Stdout, "1 in the history") {
		t.Errorf("aishell scan as the user: exit %d\n%s%s", r.Code, r.Stdout, r.Stderr)
	}
}
