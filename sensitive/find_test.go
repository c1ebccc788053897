package sensitive

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aishell/aishell/config"
)

// write creates files under root: path -> content.
func write(t testing.TB, root string, files map[string]string) {
	t.Helper()
	for p, c := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

const (
	// Cut so that gitleaks' rules do not match this file: a scan of aishell's own history stays clean.
	pemKey  = "-----BEGIN RSA PRIVATE" + " KEY-----\nMIIEpAIBAAKCAQEA7x\n-----END RSA PRIVATE" + " KEY-----\n"
	sshKey  = "-----BEGIN OPENSSH PRIVATE" + " KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE" + " KEY-----\n"
	pemCert = "-----BEGIN CERTIFICATE-----\nMIIDdzCCAl+gAwIBAgIE\n-----END CERTIFICATE-----\n"
)

// positives are one file per detector (and per content variant): path, content, severity and a
// word of the kind reported.
var positives = []struct {
	path, content string
	sev           Severity
	kind          string
}{
	{"keys/id_rsa", sshKey, High, "SSH private key"},
	{"deploy/id_ed25519", "", High, "SSH private key"},
	{"ci/deploy_rsa", sshKey, High, "SSH private key"},
	{"tls/server.pem", pemKey, High, "private key (PEM)"},
	{"tls/server.key", pemKey, High, "private key (PEM)"},
	{"tls/other.key", "\x30\x82\x04\xa4binary DER", Medium, "key file"},
	{"tls/bundle.p12", "\x30\x82", High, "PKCS#12"},
	{"tls/bundle.pfx", "\x30\x82", High, "PKCS#12"},
	{"putty/me.ppk", "PuTTY-User-Key-File-3: ssh-ed25519", High, "PuTTY"},
	{"apple/AuthKey_ABC.p8", pemKey, High, "*.p8"},
	{"gpg/me.asc", "-----BEGIN PGP PRIVATE" + " KEY BLOCK-----\nxx\n", High, "PGP"},
	{"gpg/secring.gpg", "\x95\x01", High, "PGP"},
	{".gnupg/private-keys-v1.d/ABCD.key", "(protected-private-key", High, "PGP"},
	{".aws/credentials", "[default]\naws_access_key_id = AKIA\n", High, "AWS"},
	{".s3cfg", "[default]\nsecret_key = abc\n", High, "S3"},
	{".config/gcloud/application_default_credentials.json", `{"type": "authorized_user"}`, High, "Google Cloud"},
	{".config/gcloud/credentials.db", "SQLite format 3", High, "Google Cloud"},
	{".config/gcloud/legacy_credentials/me@example.com/adc.json", "{}", High, "Google Cloud"},
	{"gha-creds-1234abcd.json", "{}", High, "Google Cloud"},
	{"infra/sa-prod-3f2a.json", `{"type": "service_account", "project_id": "p", "private_key": "-----BEGIN PRIVATE KEY-----"}`, High, "service-account"},
	{"token.json", `{"token": "ya29", "refresh_token": "1//0g", "client_secret": "x"}`, High, "OAuth refresh token"},
	{".azure/msal_token_cache.json", "{}", High, "Azure"},
	{".azure/accessTokens.json", "[]", High, "Azure"},
	{"azure/prod.PublishSettings", "<publishData>", High, "publish settings"},
	{".kube/config", "apiVersion: v1\nclusters: []\nusers:\n- name: a\n  user:\n    token: abc\n", High, "kubeconfig with credentials"},
	{"k8s/kubeconfig-staging", "apiVersion: v1\nclusters: []\nusers:\n- name: a\n  user:\n    exec: {command: aws}\n", Medium, "kubeconfig"},
	{"k8s/prod.kubeconfig", "clusters: []\nusers:\n- user:\n    client-key-data: LS0t\n", High, "kubeconfig with credentials"},
	{"tf/terraform.tfstate", `{"version": 4}`, High, "terraform state"},
	{"tf/terraform.tfstate.backup", `{"version": 4}`, High, "terraform state"},
	{"tf/prod.tfvars", `db_password = "x"`, Medium, "terraform variables"},
	{"tf/prod.tfvars.json", `{}`, Medium, "terraform variables"},
	{".terraform.d/credentials.tfrc.json", `{"credentials": {}}`, High, "Terraform Cloud"},
	{".terraformrc", `credentials "app.terraform.io" { token = "x" }`, High, "Terraform Cloud"},
	{".git-credentials", "https://me:ghp_abc@github.com\n", High, "git credentials"},
	{".netrc", "machine api.example.com login me password hunter2\n", High, "netrc"},
	{"win/_netrc", "machine a login b password c\n", High, "netrc"},
	{".npmrc", "//registry.npmjs.org/:_authToken=npm_abcdef\n", High, "npm"},
	{".yarnrc.yml", "npmAuthToken: npm_abcdef\n", High, "npm"},
	{".pypirc", "[pypi]\nusername = __token__\npassword = pypi-abc\n", High, "PyPI"},
	{".pgpass", "db:5432:*:me:pw\n", High, "PostgreSQL"},
	{".vault-token", "s.abcdef", High, "Vault"},
	{".docker/config.json", `{"auths": {"ghcr.io": {"auth": "bWU6dG9rZW4="}}}`, High, "Docker"},
	{".dockercfg", `{"ghcr.io": {"auth": "x"}}`, High, "Docker"},
	{"config/master.key", "c0ffee", High, "Rails"},
	{"mac/login.keychain-db", "kych", High, "keychain"},
	{"mac/old.keychain", "kych", High, "keychain"},
	{"creds/credentials.json", `{"installed": {"client_id": "x"}}`, Medium, "credentials.json"},
	{"vpn/office.ovpn", "client\nremote vpn.example.com\n", Medium, "OpenVPN"},
	{"vpn/home.ovpn", "client\n<key>\n" + pemKey + "</key>\n", High, "OpenVPN profile with its private key"},
	{"web/.htpasswd", "me:$apr1$x", Medium, ".htpasswd"},
	{".env", "API_KEY=x", Medium, "environment file"},
	{"app/.env.production", "API_KEY=x", Medium, "environment file"},
	{"app/.env.local", "API_KEY=x", Medium, "environment file"},
	{"docker/prod.env", "API_KEY=x", Medium, "environment file"},
	{".envrc", "export API_KEY=x", Medium, "environment file"},
	{"android/release.jks", "\xfe\xed\xfe\xed", Medium, "Java key store"},
	{"android/debug.keystore", "\xfe\xed\xfe\xed", Medium, "Java key store"},
	{"android/app.bks", "\x00", Medium, "Java key store"},
	{"config/secrets.yml", "production:\n  secret_key_base: x\n", Medium, "secrets file"},
	{"config/secrets.yaml", "a: b", Medium, "secrets file"},
	{"secrets.json", "{}", Medium, "secrets file"},
	{"secrets.toml", "a = 1", Medium, "secrets file"},
	{".my.cnf", "[client]\npassword=x\n", Medium, "MySQL"},
	{"vault/db.kdbx", "\x03\xd9\xa2\x9a", Low, "password database"},
	{"vault/old.kdb", "\x03\xd9\xa2\x9a", Low, "password database"},
	{"home/.bash_history", "export TOKEN=x\n", Low, "shell history"},
	{"home/.zsh_history", ": 1:0;ls\n", Low, "shell history"},
	{"home/.psql_history", "\\q\n", Low, "shell history"},
}

// negatives look like secrets by name but are not (templates, certificates, variables, public
// keys), or are in trees the walk skips.
var negatives = map[string]string{
	".env.example":                     "API_KEY=",
	".env.sample":                      "API_KEY=",
	".env.template":                    "API_KEY=",
	"app/.env.dist":                    "API_KEY=",
	"example.env":                      "API_KEY=",
	"tls/ca.pem":                       pemCert,
	"keys/id_rsa.pub":                  "ssh-rsa AAAA",
	"ci/notes_rsa":                     "not a key",
	"web/.npmrc":                       "//registry.npmjs.org/:_authToken=${NPM_TOKEN}\nsave-exact=true\n",
	"docs/.netrc":                      "machine a login b\n",
	"app/config.json":                  `{"port": 8080, "auths": {}}`,
	"package.json":                     `{"name": "x"}`,
	"i18n/en.json":                     `{"hello": "Hello"}`,
	"k8s/kubeconfig.md":                "# how to get a kubeconfig",
	"node_modules/pkg/id_rsa":          sshKey,
	"node_modules/pkg/.env":            "A=1",
	"a/b/node_modules/c/key.pem":       pemKey,
	".venv/lib/site/x.pem":             pemKey,
	"venv2/pyvenv.cfg":                 "home = /usr/bin",
	"venv2/lib/test.pem":               pemKey,
	"target/CACHEDIR.TAG":              "Signature: 8a477f597d28d172789f06886806bc55",
	"target/debug/.env":                "A=1",
	"vendor/modules.txt":               "# github.com/x/y v1",
	"vendor/github.com/x/y/id_rsa":     sshKey,
	"__pycache__/.env":                 "A=1",
	"src/main.go":                      "package main",
	".git-credentials.d/README":        "x",
	".gnupg/pubring.kbx":               "x",
	"third_party/README.md":            "copied code",
	"credentials.json.example":         "{}",
	".aws/config":                      "[default]\nregion = eu-west-1\n",
	".kube/cache/discovery/x.json":     "{}",
	"infra/sa-template.json":           `{"type": "service_account"}`,
	".docker/daemon.json":              `{"auths": "no"}`,
	"web/.htpasswd.example/README.txt": "x",
}

func fixture(t testing.TB) string {
	t.Helper()
	root := t.TempDir()
	files := map[string]string{}
	for _, p := range positives {
		files[p.path] = p.content
	}
	for p, c := range negatives {
		files[p] = c
	}
	write(t, root, files)
	return root
}

func TestEveryDetector(t *testing.T) {
	root := fixture(t)
	found, err := Find(root, config.SensitiveConfig{})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Finding{}
	for _, f := range found {
		got[f.Path] = f
	}
	covered := map[*detector]bool{}
	for _, p := range positives {
		f, ok := got[p.path]
		if !ok {
			t.Errorf("%s: not reported", p.path)
			continue
		}
		if f.Severity != p.sev || !strings.Contains(f.Kind, p.kind) {
			t.Errorf("%s: %s %q, want %s and a kind with %q", p.path, f.Severity, f.Kind, p.sev, p.kind)
		}
		covered[classify(p.path, filepath.Base(filepath.Dir(p.path)), filepath.Base(p.path))] = true
		delete(got, p.path)
	}
	for p, f := range got {
		t.Errorf("%s: reported (%s, %s), but it is not a secret or is in a skipped tree", p, f.Severity, f.Kind)
	}
	// Every detector of the tables has a file above.
	var all []*detector
	for _, d := range byName {
		all = append(all, d)
	}
	for _, d := range inDir {
		all = append(all, d)
	}
	for _, d := range underDir {
		all = append(all, d)
	}
	for _, s := range bySuffix {
		all = append(all, s.d)
	}
	for _, d := range all {
		if !covered[d] {
			t.Errorf("detector %q has no fixture in positives", d.kind)
		}
	}
}

func TestCleanProject(t *testing.T) {
	root := t.TempDir()
	files := map[string]string{"go.mod": "module x", "README.md": "# x", ".gitignore": ".env\n"}
	for p, c := range negatives {
		files[p] = c
	}
	write(t, root, files)
	found, err := Find(root, config.SensitiveConfig{})
	if err != nil || len(found) != 0 {
		t.Fatalf("a clean project: %v, %v; want nothing", found, err)
	}
}

func TestGitRemoteWithCredentials(t *testing.T) {
	root := t.TempDir()
	write(t, root, map[string]string{".git/config": "[remote \"origin\"]\n\turl = https://me:ghp_secret@github.com/me/x.git\n", ".git/HEAD": "ref: x"})
	found, _ := Find(root, config.SensitiveConfig{})
	if len(found) != 1 || found[0].Path != ".git/config" || found[0].Severity != High {
		t.Fatalf("got %v, want .git/config as high", found)
	}
	write(t, root, map[string]string{".git/config": "[remote \"origin\"]\n\turl = https://github.com/me/x.git\n"})
	if found, _ := Find(root, config.SensitiveConfig{}); len(found) != 0 {
		t.Fatalf("a remote without credentials: %v", found)
	}
}

func TestUserPatternsAndAllow(t *testing.T) {
	root := t.TempDir()
	write(t, root, map[string]string{
		"certs/dev/server.key": pemKey, "certs/prod/server.key": pemKey, "fixtures/a/b/.env": "A=1",
		".env": "A=1", "app/.env": "A=1", "ops/vault.secret": "x", "ops/notes.txt": "x", "deploy/keys/id_rsa": sshKey,
	})
	cfg := config.SensitiveConfig{
		Patterns: []config.SensitivePattern{{Glob: "*.secret", Severity: "high", Description: "our vault exports"}, {Glob: "ops/notes.txt", Severity: "low"}},
		Allow:    []string{"certs/dev/", "fixtures/**", "/.env", "deploy/**/id_rsa"},
	}
	found, err := Find(root, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range found {
		got = append(got, f.Severity.String()+" "+f.Path+" "+f.Kind)
	}
	want := []string{"high certs/prod/server.key private key (PEM)", "high ops/vault.secret our vault exports",
		"medium app/.env environment file (.env)", "low ops/notes.txt matches ops/notes.txt"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, bad := range []config.SensitiveConfig{
		{Patterns: []config.SensitivePattern{{Glob: "*.x", Severity: "critical"}}},
		{Patterns: []config.SensitivePattern{{Glob: "[", Severity: "high"}}},
		{Allow: []string{"../outside"}},
		{Allow: []string{""}},
	} {
		if _, err := Find(root, bad); err == nil || !isUsage(err) {
			t.Errorf("%+v: %v, want a config (usage) error", bad, err)
		}
	}
}

func TestGlob(t *testing.T) {
	for _, c := range []struct {
		pat, path string
		want      bool
	}{
		{"*.pem", "a/b/c.pem", true},
		{"*.pem", "c.pem", true},
		{"*.pem", "c.pem.txt", false},
		{"secrets", "secrets/a/b", true}, // a directory named so, at any depth
		{"secrets", "x/secrets", true},
		{"secrets/", "secrets", false}, // directories only
		{"secrets/", "x/secrets/y", true},
		{"/.env", ".env", true},
		{"/.env", "app/.env", false},
		{"certs/*.key", "certs/a.key", true},
		{"certs/*.key", "x/certs/a.key", false},
		{"test/**/fixtures", "test/fixtures/k.pem", true},
		{"test/**/fixtures", "test/a/b/fixtures/k.pem", true},
		{"test/**/fixtures", "test/a/b/k.pem", false},
		{"**/id_rsa", "a/b/id_rsa", true},
		{"./deploy/id_rsa", "deploy/id_rsa", true},
	} {
		g, err := compileGlob(c.pat)
		if err != nil {
			t.Fatalf("%s: %v", c.pat, err)
		}
		if got := g.match(c.path); got != c.want {
			t.Errorf("%q matches %q: %v, want %v", c.pat, c.path, got, c.want)
		}
	}
}

// TestSpecialFiles: a symbolic link is never followed, in or out of the project, and a FIFO or
// device named like a secret neither blocks the walk nor is reported.
func TestSpecialFiles(t *testing.T) {
	outside := t.TempDir()
	write(t, outside, map[string]string{"id_rsa": sshKey, "keys/server.pem": pemKey, ".npmrc": "_authToken=npm_x\n"})
	root := t.TempDir()
	for link, target := range map[string]string{"keys": filepath.Join(outside, "keys"), "id_rsa": filepath.Join(outside, "id_rsa"),
		".npmrc": filepath.Join(outside, ".npmrc"), "loop": "."} {
		if err := os.Symlink(target, filepath.Join(root, link)); err != nil {
			t.Fatal(err)
		}
	}
	for _, fifo := range []string{"server.pem", ".aws/credentials", "kubeconfig"} {
		os.MkdirAll(filepath.Dir(filepath.Join(root, fifo)), 0o755)
		if err := syscall.Mkfifo(filepath.Join(root, fifo), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan []Finding)
	go func() {
		found, err := Find(root, config.SensitiveConfig{})
		if err != nil {
			t.Error(err)
		}
		done <- found
	}()
	select {
	case found := <-done:
		if len(found) != 0 {
			t.Errorf("reported %v: links were followed or special files reported", found)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the walk blocked (on a FIFO?)")
	}
	// readHead itself does not block on a FIFO (as it would on a file swapped for one after the
	// walk listed it), and says it is not a regular file.
	read := make(chan error)
	go func() {
		_, err := readHead(filepath.Join(root, "server.pem"), headMax)
		read <- err
	}()
	select {
	case err := <-read:
		if err == nil {
			t.Error("readHead read a FIFO")
		}
	case <-time.After(20 * time.Second):
		t.Fatal("readHead blocked on a FIFO")
	}
}
