package test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/pelletier/go-toml/v2"
	"gopkg.in/yaml.v3"
)

// limaKeys are the key paths Lima documents for a template ("[]" for a list's entries; a key
// ending in "*" takes any keys below it). Source: lima-vm/lima templates/default.yaml (Lima
// v2.x, commit 183a60d, 2026-08-21), its keys and the commented-out examples in it.
var limaKeys = keySet(`
minimumLimaVersion base base[] base[].url base[].digest
vmType arch cpus memory disk os osOpts* cpuType* timezone message env* param*
images images[] images[].location images[].arch images[].digest images[].variant images[].archVariant
images[].kernel images[].kernel.location images[].kernel.digest images[].kernel.cmdline
images[].initrd images[].initrd.location images[].initrd.digest
mounts mounts[] mounts[].location mounts[].mountPoint mounts[].writable
mounts[].sshfs mounts[].sshfs.cache mounts[].sshfs.followSymlinks mounts[].sshfs.sftpDriver
mounts[].9p mounts[].9p.securityModel mounts[].9p.protocolVersion mounts[].9p.msize mounts[].9p.cache
mountTypesUnsupported mountTypesUnsupported[] mountType mountInotify
additionalDisks additionalDisks[] additionalDisks[].name additionalDisks[].format additionalDisks[].fsType
ssh ssh.localPort ssh.loadDotSSHPubKeys ssh.forwardAgent ssh.forwardX11 ssh.forwardX11Trusted ssh.overVsock
caCerts caCerts.removeDefaults caCerts.files caCerts.files[] caCerts.certs caCerts.certs[]
upgradePackages
containerd containerd.system containerd.user containerd.archives containerd.archives[]
containerd.archives[].location containerd.archives[].arch containerd.archives[].digest
provision provision[] provision[].mode provision[].script provision[].file provision[].file.url provision[].file.digest
provision[].skipDefaultDependencyResolution provision[].playbook provision[].path provision[].content
provision[].owner provision[].permissions provision[].overwrite provision[].expression provision[].format
probes probes[] probes[].mode probes[].description probes[].script probes[].file probes[].file.url
probes[].file.digest probes[].hint
user user.name user.comment user.uid user.home user.shell user.passwordlessSudo
vmOpts vmOpts.qemu vmOpts.qemu.minimumVersion vmOpts.qemu.cpuType*
vmOpts.vz vmOpts.vz.diskImageFormat vmOpts.vz.rosetta vmOpts.vz.rosetta.enabled vmOpts.vz.rosetta.binfmt
rosetta rosetta.enabled rosetta.binfmt
firmware firmware.legacyBIOS firmware.images firmware.images[] firmware.images[].location
firmware.images[].arch firmware.images[].digest firmware.images[].vmType
audio audio.device audio.interface video video.display video.vnc video.vnc.display
networks networks[] networks[].lima networks[].macAddress networks[].interface networks[].metric
networks[].socket networks[].vzNAT
portForwards portForwards[] portForwards[].guestPort portForwards[].guestPortRange portForwards[].guestPortRange[]
portForwards[].hostPort portForwards[].hostPortRange portForwards[].hostPortRange[] portForwards[].hostIP
portForwards[].guestIP portForwards[].guestIPMustBeZero portForwards[].proto portForwards[].ignore
portForwards[].guestSocket portForwards[].hostSocket portForwards[].reverse
copyToHost copyToHost[] copyToHost[].guest copyToHost[].host copyToHost[].skipIfMissing copyToHost[].deleteOnStop
propagateProxyEnv hostResolver hostResolver.enabled hostResolver.ipv6 hostResolver.hosts*
dns dns[] guestInstallPrefix plain nestedVirtualization tpm
`)

type keys struct {
	exact, open map[string]bool
}

func keySet(s string) keys {
	k := keys{exact: map[string]bool{}, open: map[string]bool{}}
	for _, f := range strings.Fields(s) {
		if p, ok := strings.CutSuffix(f, "*"); ok {
			k.open[p] = true
		}
		k.exact[strings.TrimSuffix(f, "*")] = true
	}
	return k
}

// undocumented lists the key paths of a template that Lima does not document.
func undocumented(t *testing.T, doc []byte, known keys) []string {
	t.Helper()
	var root yaml.Node
	if err := yaml.Unmarshal(doc, &root); err != nil {
		t.Fatalf("lima.yaml does not parse: %v", err)
	}
	var bad []string
	var walk func(n *yaml.Node, path string)
	walk = func(n *yaml.Node, path string) {
		if path != "" && known.open[path] {
			return
		}
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(c, path)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				p := n.Content[i].Value
				if path != "" {
					p = path + "." + p
				}
				if !known.exact[p] {
					bad = append(bad, fmt.Sprintf("%s (line %d)", p, n.Content[i].Line))
					continue
				}
				walk(n.Content[i+1], p)
			}
		case yaml.SequenceNode:
			for _, c := range n.Content {
				walk(c, path+"[]")
			}
		}
	}
	walk(&root, "")
	sort.Strings(bad)
	return bad
}

func readLimaYAML(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile("../lima.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The template parses, every key in it is one Lima documents, and what it refers to is there:
// the provisioning script it names (relative to the template), the base templates, the param
// the script reads, and readiness probes that run aishell doctor.
func TestLimaTemplate(t *testing.T) {
	doc := readLimaYAML(t)
	if bad := undocumented(t, doc, limaKeys); len(bad) > 0 {
		t.Errorf("lima.yaml has keys Lima does not document (templates/default.yaml): %s", strings.Join(bad, ", "))
	}
	var tmpl struct {
		MinimumLimaVersion string `yaml:"minimumLimaVersion"`
		Base               []string
		Containerd         struct{ System, User bool }
		Mounts             []struct {
			Location string
			Writable bool
		}
		Param     map[string]string
		Provision []struct{ Mode, File, Script string }
		Probes    []struct{ Mode, Script string }
	}
	if err := yaml.Unmarshal(doc, &tmpl); err != nil {
		t.Fatal(err)
	}
	// base and provision's file need Lima 2 (file is read relative to the template there).
	if tmpl.MinimumLimaVersion < "2.0.0" {
		t.Errorf("minimumLimaVersion %q: base templates and provision file: need 2.0.0", tmpl.MinimumLimaVersion)
	}
	for _, b := range tmpl.Base {
		if !strings.HasPrefix(b, "template:_images/") {
			t.Errorf("base %q is not one of Lima's image templates", b)
		}
	}
	if tmpl.Containerd.System || !tmpl.Containerd.User {
		t.Errorf("containerd: want rootless only (user: true, system: false), got %+v", tmpl.Containerd)
	}
	if len(tmpl.Mounts) == 0 || tmpl.Mounts[0].Location != "~" || !tmpl.Mounts[0].Writable {
		t.Errorf("mounts: want the home directory writable first, got %+v", tmpl.Mounts)
	}
	modes := map[string]bool{}
	for _, p := range tmpl.Provision {
		modes[p.Mode] = true
		if p.File != "lima/provision.sh" || p.Script != "" {
			t.Errorf("provision %s: want file lima/provision.sh and no inline script, got file %q", p.Mode, p.File)
			continue
		}
		fi, err := os.Stat(filepath.Join("..", p.File))
		if err != nil || fi.Mode()&0o111 == 0 {
			t.Errorf("provision %s: %s is not an executable file beside the template: %v", p.Mode, p.File, err)
		}
	}
	if !modes["system"] || !modes["user"] {
		t.Errorf("provision: want a system and a user step, got %v", modes)
	}
	script, _ := os.ReadFile("../lima/provision.sh")
	for _, k := range []string{"goVersion", "aishellModule", "aishellVersion", "aishellSource"} {
		if _, ok := tmpl.Param[k]; !ok {
			t.Errorf("param %s is missing", k)
		}
		if !bytes.Contains(script, []byte("PARAM_"+k)) {
			t.Errorf("lima/provision.sh does not read PARAM_%s", k)
		}
	}
	ready := false
	for _, p := range tmpl.Probes {
		if p.Mode == "readiness" && strings.HasPrefix(p.Script, "#!") && strings.Contains(p.Script, "aishell doctor") {
			ready = true
		}
	}
	if !ready {
		t.Error("probes: want a readiness probe (starting with #!) that waits for aishell doctor")
	}
	if out, err := exec.Command("sh", "-n", "../lima/provision.sh").CombinedOutput(); err != nil {
		t.Errorf("sh -n lima/provision.sh: %v\n%s", err, out)
	}
}

// A misspelt key fails the check above: each of these edits of the real template is caught.
func TestLimaTemplateMisspeltKey(t *testing.T) {
	doc := string(readLimaYAML(t))
	for _, c := range []struct{ from, to, want string }{
		{"\nmounts:\n", "\nmount:\n", "mount"},
		{"  writable: true", "  writeable: true", "mounts[].writeable"},
		{"  user: true", "  usr: true", "containerd.usr"},
		{"- mode: readiness", "- mode: readiness\n  descripton: x", "probes[].descripton"},
		{"minimumLimaVersion:", "minimumLimaVerison:", "minimumLimaVerison"},
	} {
		if !strings.Contains(doc, c.from) {
			t.Fatalf("lima.yaml has no %q to misspell", c.from)
		}
		bad := undocumented(t, []byte(strings.Replace(doc, c.from, c.to, 1)), limaKeys)
		if len(bad) != 1 || !strings.HasPrefix(bad[0], c.want+" ") {
			t.Errorf("misspelling %q as %q: the check found %v, want %s", c.from, c.to, bad, c.want)
		}
	}
}

// buildkitdConfig is the part of buildkitd's config the provisioning script writes, with
// buildkitd's own TOML keys (moby/buildkit v0.34.2 cmd/buildkitd/config/config.go: Config.Workers,
// OCIConfig, ContainerdConfig with its NetworkConfig inlined). Decoding with unknown fields
// disallowed catches a key buildkitd would silently ignore.
type buildkitdConfig struct {
	Workers struct {
		OCI struct {
			Enabled *bool `toml:"enabled"`
		} `toml:"oci"`
		Containerd struct {
			Enabled     *bool  `toml:"enabled"`
			Address     string `toml:"address"`
			Namespace   string `toml:"namespace"`
			Rootless    bool   `toml:"rootless"`
			NetworkMode string `toml:"networkMode"`
		} `toml:"containerd"`
	} `toml:"worker"`
}

// The buildkitd config the provisioning script writes (for the Lima VM and the rootless test
// environment alike) is one buildkitd reads with no unknown key: the containerd worker alone,
// rootless, in namespace aishell, on the host network.
func TestProvisionBuildkitdConfig(t *testing.T) {
	file := filepath.Join(t.TempDir(), "sub", "buildkitd.toml")
	if out, err := exec.Command("../lima/provision.sh", "buildkitd-config", file).CombinedOutput(); err != nil {
		t.Fatalf("provision.sh buildkitd-config: %v\n%s", err, out)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var c buildkitdConfig
	dec := toml.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		t.Fatalf("buildkitd would not read %s as written: %v\n%s", file, err, b)
	}
	w := c.Workers.Containerd
	if c.Workers.OCI.Enabled == nil || *c.Workers.OCI.Enabled || w.Enabled == nil || !*w.Enabled {
		t.Errorf("want the OCI worker off and the containerd worker on:\n%s", b)
	}
	if w.Namespace != "aishell" || !w.Rootless || w.NetworkMode != "host" || w.Address != "/run/containerd/containerd.sock" {
		t.Errorf("containerd worker: namespace %q rootless %v network %q address %q", w.Namespace, w.Rootless, w.NetworkMode, w.Address)
	}
}

// The provisioning script starts buildkitd in rootlesskit's namespaces as rootless-up.sh and the
// Lima VM need: nsenter into the child named by child_pid, user and mount namespaces (and not
// the network one when the child shares ours, as with rootlesskit --net=host), buildkitd with the
// config, root and socket given. A stand-in nsenter records what it was asked to run.
func TestProvisionBuildkitdCommand(t *testing.T) {
	dir := t.TempDir()
	run := filepath.Join(dir, "run")
	if err := os.MkdirAll(filepath.Join(run, "containerd-rootless"), 0o755); err != nil {
		t.Fatal(err)
	}
	child := exec.Command("sleep", "30")
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	defer child.Process.Kill()
	writeFile(t, filepath.Join(run, "containerd-rootless", "child_pid"), fmt.Sprint(child.Process.Pid))
	bin := filepath.Join(dir, "bin")
	os.Mkdir(bin, 0o755)
	writeFile(t, filepath.Join(bin, "nsenter"), "#!/bin/sh\nfor a in \"$@\"; do printf '%s\\n' \"$a\"; done\n")
	os.Chmod(filepath.Join(bin, "nsenter"), 0o755)
	cmd := exec.Command("../lima/provision.sh", "buildkitd", "/cfg/buildkitd.toml")
	cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"), "XDG_RUNTIME_DIR="+run,
		"AISHELL_BUILDKIT_ROOT="+filepath.Join(dir, "root"), "AISHELL_BUILDKIT_SOCK="+filepath.Join(run, "bk", "buildkitd.sock"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("provision.sh buildkitd: %v\n%s", err, out)
	}
	want := strings.Join([]string{"-U", "--preserve-credentials", "-m", "-t", fmt.Sprint(child.Process.Pid), "--",
		"buildkitd", "--config", "/cfg/buildkitd.toml", "--root", filepath.Join(dir, "root"), "--addr", "unix://" + filepath.Join(run, "bk", "buildkitd.sock")}, "\n") + "\n"
	if string(out) != want {
		t.Errorf("nsenter got:\n%s\nwant:\n%s", out, want)
	}
	if _, err := os.Stat(filepath.Join(run, "bk")); err != nil {
		t.Errorf("the socket's directory was not made: %v", err)
	}
}
