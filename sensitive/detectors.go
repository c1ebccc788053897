package sensitive

import (
	"bytes"
	"regexp"
	"strings"
)

// detector is one kind of secret file, found by its name or place (classify), and, when
// content is set, confirmed by a look at its first headMax bytes.
type detector struct {
	kind     string
	severity Severity
	// content returns the severity to report for a file whose first bytes are head (0: it is
	// not what the name suggested), and a kind that replaces the detector's when not "".
	content func(head []byte) (Severity, string)
}

// headMax is how much of a file a content check reads.
const headMax = 8 << 10

func has(head []byte, words ...string) bool {
	for _, w := range words {
		if !bytes.Contains(head, []byte(w)) {
			return false
		}
	}
	return true
}

// privateKeyPEM is in every PEM private key: RSA, EC, OPENSSH, ENCRYPTED, PGP's "PRIVATE KEY BLOCK".
const privateKeyPEM = "PRIVATE KEY"

// whenPrivateKey is High, as kind (the detector's when ""), for a PEM private key, else otherwise.
func whenPrivateKey(otherwise Severity, kind string) func([]byte) (Severity, string) {
	return func(head []byte) (Severity, string) {
		if has(head, "-----BEGIN", privateKeyPEM) {
			return High, kind
		}
		return otherwise, ""
	}
}

func whenAny(sev Severity, words ...string) func([]byte) (Severity, string) {
	return func(head []byte) (Severity, string) {
		for _, w := range words {
			if bytes.Contains(head, []byte(w)) {
				return sev, ""
			}
		}
		return 0, ""
	}
}

var (
	// A token or password given literally in .npmrc (not a ${VARIABLE}), or in .yarnrc.yml.
	npmToken  = regexp.MustCompile(`(?m)(?:_authToken|_auth|_password|npmAuthToken|npmAuthIdent)\s*[=:]\s*["']?[^\s"'$]`)
	dockerAut = regexp.MustCompile(`"(?:auth|identitytoken|registrytoken)"\s*:\s*"[^"]`)
	// user:password@ in a URL.
	urlCreds = regexp.MustCompile(`[a-zA-Z][a-zA-Z0-9+.-]*://[^/@\s:]+:[^/@\s]+@`)
)

var (
	dSSHKey      = &detector{kind: "SSH private key", severity: High}
	dSSHKeyMaybe = &detector{kind: "SSH private key", severity: High, content: whenPrivateKey(0, "")}
	dPEM         = &detector{kind: "private key (PEM)", severity: High, content: whenPrivateKey(0, "")}
	dKeyFile     = &detector{kind: "key file (*.key)", severity: Medium, content: whenPrivateKey(Medium, "private key (PEM)")}
	dPKCS12      = &detector{kind: "PKCS#12 key store (*.p12, *.pfx)", severity: High}
	dPPK         = &detector{kind: "PuTTY private key (*.ppk)", severity: High}
	dP8          = &detector{kind: "private key (*.p8)", severity: High}
	dPGP         = &detector{kind: "PGP private key", severity: High, content: whenAny(High, "PRIVATE KEY BLOCK")}
	dSecring     = &detector{kind: "PGP private key", severity: High}
	dAWS         = &detector{kind: "AWS credentials (.aws/credentials)", severity: High}
	dS3cfg       = &detector{kind: "S3 tool credentials (.s3cfg, .boto)", severity: High, content: whenAny(High, "secret_key", "aws_secret_access_key")}
	dGcloud      = &detector{kind: "Google Cloud credentials", severity: High}
	dAzure       = &detector{kind: "Azure credentials (.azure/)", severity: High}
	dPublish     = &detector{kind: "Azure publish settings (*.publishsettings)", severity: High}
	dKube        = &detector{kind: "kubeconfig", severity: Medium, content: func(head []byte) (Severity, string) {
		if !has(head, "clusters") && !has(head, "users") {
			return 0, ""
		}
		for _, w := range []string{"client-key-data", "token:", "password:", "client-key:"} {
			if has(head, w) {
				return High, "kubeconfig with credentials"
			}
		}
		return Medium, ""
	}}
	dTfstate  = &detector{kind: "terraform state (*.tfstate)", severity: High}
	dTfToken  = &detector{kind: "Terraform Cloud token", severity: High}
	dTfrc     = &detector{kind: "Terraform Cloud token", severity: High, content: whenAny(High, "token")}
	dGitCreds = &detector{kind: "git credentials (.git-credentials)", severity: High, content: func(head []byte) (Severity, string) {
		if urlCreds.Match(head) {
			return High, ""
		}
		return 0, ""
	}}
	dGitRemote = &detector{kind: "credentials in a git remote URL (.git/config)", severity: High, content: func(head []byte) (Severity, string) {
		if urlCreds.Match(head) {
			return High, ""
		}
		return 0, ""
	}}
	dNetrc = &detector{kind: "netrc with a password", severity: High, content: whenAny(High, "password")}
	dNpmrc = &detector{kind: "npm/yarn token (.npmrc, .yarnrc.yml)", severity: High, content: func(head []byte) (Severity, string) {
		if npmToken.Match(head) {
			return High, ""
		}
		return 0, ""
	}}
	dPypirc = &detector{kind: "PyPI password (.pypirc)", severity: High, content: whenAny(High, "password")}
	dPgpass = &detector{kind: "PostgreSQL passwords (.pgpass)", severity: High}
	dVault  = &detector{kind: "Vault token (.vault-token)", severity: High}
	dDocker = &detector{kind: "Docker registry credentials (config.json)", severity: High, content: func(head []byte) (Severity, string) {
		if has(head, `"auths"`) && dockerAut.Match(head) {
			return High, ""
		}
		return 0, ""
	}}
	dDockercfg = &detector{kind: "Docker registry credentials (config.json)", severity: High}
	dRails     = &detector{kind: "Rails master key", severity: High}
	dKeychain  = &detector{kind: "macOS keychain", severity: High}
	dJSONCreds = &detector{kind: "Google service-account key or OAuth token (JSON)", severity: High, content: jsonCredentials(0)}
	dCredsJSON = &detector{kind: "credentials.json", severity: Medium, content: jsonCredentials(Medium)}
	dOvpn      = &detector{kind: "OpenVPN profile (*.ovpn)", severity: Medium, content: func(head []byte) (Severity, string) {
		if has(head, "<key>") || has(head, privateKeyPEM) {
			return High, "OpenVPN profile with its private key"
		}
		return Medium, ""
	}}
	dHtpasswd = &detector{kind: "password hashes (.htpasswd)", severity: Medium}
	dEnv      = &detector{kind: "environment file (.env)", severity: Medium}
	dTfvars   = &detector{kind: "terraform variables (*.tfvars)", severity: Medium}
	dKeystore = &detector{kind: "Java key store (*.jks, *.keystore)", severity: Medium}
	dSecrets  = &detector{kind: "secrets file (secrets.yml…)", severity: Medium}
	dMyCnf    = &detector{kind: "MySQL password (.my.cnf)", severity: Medium, content: whenAny(Medium, "password")}
	dKeePass  = &detector{kind: "password database (*.kdbx)", severity: Low}
	dHistory  = &detector{kind: "shell history", severity: Low}
)

// jsonCredentials finds a Google service-account key, an authorized-user credential or an
// OAuth token in a JSON file.
func jsonCredentials(otherwise Severity) func([]byte) (Severity, string) {
	return func(head []byte) (Severity, string) {
		switch {
		case has(head, `"service_account"`, `"private_key"`):
			return High, "Google service-account key (JSON)"
		case has(head, `"refresh_token"`) && (has(head, `"client_secret"`) || has(head, `"authorized_user"`)):
			return High, "OAuth refresh token (JSON)"
		}
		return otherwise, ""
	}
}

var byName = map[string]*detector{
	"id_rsa": dSSHKey, "id_dsa": dSSHKey, "id_ecdsa": dSSHKey, "id_ed25519": dSSHKey, "id_ecdsa_sk": dSSHKey, "id_ed25519_sk": dSSHKey,
	"secring.gpg": dSecring, "secring.pgp": dSecring,
	".s3cfg": dS3cfg, ".boto": dS3cfg,
	"application_default_credentials.json": dGcloud,
	".git-credentials":                     dGitCreds, ".netrc": dNetrc, "_netrc": dNetrc,
	".npmrc": dNpmrc, ".yarnrc.yml": dNpmrc, ".pypirc": dPypirc, ".pgpass": dPgpass, ".vault-token": dVault,
	"config.json": dDocker, ".dockercfg": dDockercfg,
	"credentials.tfrc.json": dTfToken, ".terraformrc": dTfrc, "terraform.rc": dTfrc,
	"master.key":       dRails,
	"credentials.json": dCredsJSON,
	".htpasswd":        dHtpasswd, ".envrc": dEnv,
	"secrets.yml": dSecrets, "secrets.yaml": dSecrets, "secrets.json": dSecrets, "secrets.toml": dSecrets,
	".my.cnf":       dMyCnf,
	"kubeconfig":    dKube,
	".bash_history": dHistory, ".zsh_history": dHistory, ".sh_history": dHistory, ".psql_history": dHistory,
	".mysql_history": dHistory, ".python_history": dHistory, ".node_repl_history": dHistory, ".rediscli_history": dHistory,
}

// inDir are files known by their directory and name.
var inDir = map[[2]string]*detector{
	{".aws", "credentials"}:      dAWS,
	{".kube", "config"}:          dKube,
	{"gcloud", "credentials.db"}: dGcloud, {"gcloud", "access_tokens.db"}: dGcloud,
	{".azure", "accesstokens.json"}: dAzure, {".azure", "msal_token_cache.json"}: dAzure,
	{".azure", "msal_token_cache.bin"}: dAzure, {".azure", "service_principal_entries.json"}: dAzure,
	{".azure", "service_principal_entries.bin"}: dAzure,
}

// underDir are directories every file under which is a secret, at any depth.
var underDir = map[string]*detector{
	"legacy_credentials": dGcloud,  // gcloud's
	"private-keys-v1.d":  dSecring, // GnuPG's
}

// bySuffix is matched against the lower-cased name, in order.
var bySuffix = []struct {
	suffix string
	d      *detector
}{
	{".tfstate", dTfstate}, {".tfstate.backup", dTfstate},
	{".tfvars", dTfvars}, {".tfvars.json", dTfvars},
	{".pem", dPEM}, {".key", dKeyFile},
	{".p12", dPKCS12}, {".pfx", dPKCS12}, {".ppk", dPPK}, {".p8", dP8},
	{".asc", dPGP},
	{".jks", dKeystore}, {".keystore", dKeystore}, {".bks", dKeystore},
	{".ovpn", dOvpn},
	{".kubeconfig", dKube},
	{".publishsettings", dPublish},
	{".keychain", dKeychain}, {".keychain-db", dKeychain},
	{".kdbx", dKeePass}, {".kdb", dKeePass},
	{"_rsa", dSSHKeyMaybe}, {"_dsa", dSSHKeyMaybe}, {"_ecdsa", dSSHKeyMaybe}, {"_ed25519", dSSHKeyMaybe},
	{".env", dEnv},
	{".json", dJSONCreds},
}

// envTemplates are the .env variants that hold no values, only the names to set.
var envTemplates = map[string]bool{"example": true, "sample": true, "template": true, "tpl": true, "dist": true, "defaults": true, "schema": true, "default": true}

// jsonSkip are JSON files so common, and never credentials, that they are not opened.
var jsonSkip = map[string]bool{"package.json": true, "package-lock.json": true, "composer.json": true, "tsconfig.json": true,
	"jsconfig.json": true, "manifest.json": true, "bower.json": true, "lerna.json": true, "angular.json": true,
	"tslint.json": true, ".eslintrc.json": true, ".prettierrc.json": true, "renovate.json": true, "app.json": true}

// classify is the detector for the file at rel, called name, in a directory called dir, or nil.
func classify(rel, dir, name string) *detector {
	lower := strings.ToLower(name)
	for under, d := range underDir {
		if strings.HasPrefix(rel, under+"/") || strings.Contains(rel, "/"+under+"/") {
			return d
		}
	}
	if d := inDir[[2]string{dir, lower}]; d != nil {
		return d
	}
	if d := byName[lower]; d != nil {
		return d
	}
	switch {
	case lower == ".env":
		return dEnv
	case strings.HasPrefix(lower, ".env."):
		if envTemplates[strings.SplitN(lower[len(".env."):], ".", 2)[0]] {
			return nil
		}
		return dEnv
	case strings.HasPrefix(lower, "kubeconfig"):
		return dKube
	case strings.HasPrefix(lower, "gha-creds-") && strings.HasSuffix(lower, ".json"):
		return dGcloud
	}
	for _, s := range bySuffix {
		if strings.HasSuffix(lower, s.suffix) && len(lower) > len(s.suffix) {
			switch s.d {
			case dEnv:
				if envTemplates[strings.TrimSuffix(lower, ".env")] {
					return nil
				}
			case dJSONCreds:
				if jsonSkip[lower] || strings.HasPrefix(lower, "tsconfig") {
					return nil
				}
			}
			return s.d
		}
	}
	return nil
}
