package sensitive

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/aishell/aishell/config"
)

func TestRedact(t *testing.T) {
	for _, c := range []struct{ secret, want string }{
		{"AKIA" + "QWERTYUI" + "OPASDFGH", "AKIA*****"},
		{"hunter2x", "hu*****"},
		{"pw", "*****"},
		{"ghp_0123456789abcdefghijklmnopqrstuvwxyz", "ghp_*****"},
		{pemKey, "-----BEGIN RSA PRIVATE" + " KEY----- *****"},
		{`-----BEGIN EC PRIVATE` + ` KEY-----\nMHcCAQEEI`, "-----BEGIN EC PRIVATE KEY----- *****"}, // as a string literal writes it
		{"-----BEGIN-----", "-----BEGIN----- *****"},
		{"-----BEGINxxxxxxxxxxxxxxxx", "----*****"}, // no header: as any secret
	} {
		if got := redact(c.secret); got != c.want {
			t.Errorf("redact(%q) = %q, want %q", c.secret, got, c.want)
		}
	}
	secret := "Tr9hGx2k" + "P4mQvL8s" + "Z1wN6bYc" + "3dF7jA0e" + "R5uI2oKp"
	for _, c := range []struct{ match, want string }{
		{`aws_secret_access_key = "` + secret + `"`, `aws_secret_access_key = "Tr9h*****"`},
		{"key:\n\t" + secret + "\n", "key: Tr9h*****"},
		{"decoded elsewhere", "Tr9h*****"},                                 // the secret is not in the match: only it, redacted
		{strings.Repeat("x", 200) + secret, strings.Repeat("x", 99) + "…"}, // long: cut
	} {
		got := redactMatch(c.match, secret)
		if got != c.want || strings.Contains(got, secret[4:12]) {
			t.Errorf("redactMatch(%q) = %q, want %q", c.match, got, c.want)
		}
	}
}

// A log as `git log -p -U0 --format='commit %H'` prints it, with content that looks like
// headers inside hunks, a quoted name, a context line, a binary file and a deletion.
const sampleLog = `commit 1111111111111111111111111111111111111111

diff --git a/a.txt b/a.txt
new file mode 100644
index 0000000..e69de29
--- /dev/null
+++ b/a.txt
@@ -0,0 +1,3 @@
+first
+commit 2222222222222222222222222222222222222222
+diff --git a/x b/x
diff --git "a/sp ace\tq.txt" "b/sp ace\tq.txt"
--- "a/sp ace\tq.txt"
+++ "b/sp ace\tq.txt"
@@ -4,3 +10,3 @@ func x
-old
+new10
 context11
-old2
+new12
\ No newline at end of file
diff --git a/k.p12 b/k.p12
new file mode 100644
Binary files /dev/null and b/k.p12 differ
commit 3333333333333333333333333333333333333333

diff --git a/gone.txt b/gone.txt
deleted file mode 100644
--- a/gone.txt
+++ /dev/null
@@ -1 +0,0 @@
-gone
`

func TestParseLog(t *testing.T) {
	var got []string
	commits, err := parseLog(strings.NewReader(sampleLog), func(f fragment) bool {
		got = append(got, fmt.Sprintf("%s %q %q %v", f.commit[:1], f.file, f.text, f.lines))
		return true
	})
	if err != nil || commits != 2 {
		t.Fatalf("commits %d, %v; want 2 (the commit line in a hunk is content)", commits, err)
	}
	want := []string{
		`1 "a.txt" "first\ncommit 2222222222222222222222222222222222222222\ndiff --git a/x b/x" [1 2 3]`,
		`1 "sp ace\tq.txt" "new10\nnew12" [10 12]`,
		`1 "k.p12" "" []`,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// Made up, and cut into pieces that no rule matches here: a scan of aishell's own history stays clean.
const (
	awsID     = "AKIA" + "QWERTYUI" + "OPASDFGH"
	awsSecret = "Tr9hGx2k" + "P4mQvL8s" + "Z1wN6bYc" + "3dF7jA0e" + "R5uI2oKp"
	ghToken   = "ghp_" + "R8xKq2Lm" + "5Nv7Pw3Y" + "s9Tz1Ab4" + "Cd6Ef0Gh" + "JkMn"
)

func TestScanWorkingTree(t *testing.T) {
	root := t.TempDir()
	write(t, root, map[string]string{
		"src/config.py":       "import os\n\nAWS_ACCESS_KEY_ID = \"" + awsID + "\"\n",
		"docs/notes.md":       "# notes\nno secret here\n",
		"allowed/token.txt":   "token = " + ghToken + "\n",
		"node_modules/x/t.js": "var t = '" + ghToken + "'\n",
		"lib/ignored.go":      "var k = \"" + ghToken + "\" // gitleaks:allow\n",
	})
	res, err := Scan(context.Background(), root, ScanOptions{Config: config.SensitiveConfig{Allow: []string{"allowed/"}}})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range res.Leaks {
		got = append(got, fmt.Sprintf("%s:%d %s", l.File, l.Line, l.Rule))
		if strings.Contains(l.Match, awsID) || strings.Contains(l.Match, ghToken) {
			t.Errorf("a secret shown as it is: %q", l.Match)
		}
	}
	// A project's gitleaks:allow comment does not silence a finding; the user's allow list does.
	want := "lib/ignored.go:1 github-pat\nsrc/config.py:3 aws-access-token"
	if strings.Join(got, "\n") != want || res.History || res.Files != 3 {
		t.Errorf("got %d files, history %v:\n%s\nwant 3 files, no history:\n%s", res.Files, res.History, strings.Join(got, "\n"), want)
	}
}
