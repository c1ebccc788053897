// Package vm is the host-side VM forwarder. A Mac has no containerd; Lima and colima give it a
// Linux VM with one, and the home directory mounted at the same path. On such a host aishell
// runs itself inside the VM, in the same working directory, with the terminal, the streams,
// the exit code and the signals passed through: `limactl shell --workdir DIR INSTANCE aishell
// ARGS...` for Lima (rootless containerd), `colima ssh -- sudo aishell ARGS...` for colima
// (rootful containerd, reached through sudo so files stay the user's). Lima's own nerdctl.lima
// works the same way.
//
// When: on darwin (and any host but Linux) always; on Linux only when asked for explicitly
// (AISHELL_LIMA_INSTANCE, AISHELL_COLIMA_PROFILE or AISHELL_VM), since a Linux host usually has
// its own containerd. Never inside the VM: the forwarder sets AISHELL_IN_VM there, and a Lima
// guest (it has /mnt/lima-cidata) never forwards.
package vm

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/aishell/aishell/config"
	"github.com/aishell/aishell/errs"
)

// The variables that choose and guard forwarding.
const (
	EnvVM            = "AISHELL_VM"             // lima, colima or none: overrides the choice
	EnvLimaInstance  = "AISHELL_LIMA_INSTANCE"  // the Lima instance (default aishell)
	EnvColimaProfile = "AISHELL_COLIMA_PROFILE" // the colima profile (default: COLIMA_PROFILE, else default)
	EnvInVM          = "AISHELL_IN_VM"          // set by the forwarder inside the VM: never forward again
	EnvEnvFile       = "AISHELL_VM_ENV_FILE"    // the file of variables the host left for the VM's aishell
	EnvHome          = "AISHELL_VM_HOME"        // the host's home as the VM sees it (for sudo mode, which ignores HOME)
)

// DefaultLimaInstance is the instance `limactl start --name=aishell ./lima.yaml` creates.
const DefaultLimaInstance = "aishell"

// Kind is the VM manager.
type Kind string

const (
	Lima   Kind = "lima"
	Colima Kind = "colima"
)

// Target is the VM aishell runs in.
type Target struct {
	Kind Kind
	Name string // the Lima instance, or the colima profile
}

func (t Target) String() string {
	if t.Kind == Colima {
		return fmt.Sprintf("colima profile %q", t.Name)
	}
	return fmt.Sprintf("Lima instance %q", t.Name)
}

// limaInstance is the Lima instance behind the target: colima names its own "colima" or
// "colima-PROFILE" (under its own LIMA_HOME).
func (t Target) limaInstance() string {
	if t.Kind == Lima {
		return t.Name
	}
	if t.Name == "default" || t.Name == "" {
		return "colima"
	}
	return "colima-" + t.Name
}

// Host is what the decision reads of the host; tests replace it.
type Host struct {
	Getenv   func(string) string
	GOOS     string
	LookPath func(string) (string, error)
	// LimaExists says whether limactl knows the instance (only asked when both managers are on PATH).
	LimaExists func(name string) bool
	// InGuest is true inside a Lima guest.
	InGuest bool
}

// ThisHost is the real host.
func ThisHost() Host {
	_, err := os.Stat("/mnt/lima-cidata")
	return Host{Getenv: os.Getenv, GOOS: runtime.GOOS, LookPath: exec.LookPath, InGuest: runtime.GOOS == "linux" && err == nil,
		LimaExists: func(name string) bool {
			inst, err := limaList(context.Background(), Target{Kind: Lima, Name: name})
			return err == nil && inst != nil
		}}
}

// Decide says whether aishell runs itself in a VM, and in which.
func Decide(h Host) (Target, bool, error) {
	get := h.Getenv
	if get(EnvInVM) != "" || h.InGuest {
		return Target{}, false, nil
	}
	lima := Target{Kind: Lima, Name: or(get(EnvLimaInstance), DefaultLimaInstance)}
	colima := Target{Kind: Colima, Name: or(get(EnvColimaProfile), get("COLIMA_PROFILE"), "default")}
	switch v := get(EnvVM); v {
	case "none", "off":
		return Target{}, false, nil
	case "lima":
		return lima, true, nil
	case "colima":
		return colima, true, nil
	case "":
	default:
		return Target{}, false, errs.Usage(fmt.Errorf("%s=%q: not a VM manager aishell knows", EnvVM, v),
			"set it to lima, colima or none")
	}
	switch {
	case get(EnvLimaInstance) != "" && get(EnvColimaProfile) != "":
		return Target{}, false, errs.Usage(fmt.Errorf("both %s and %s are set", EnvLimaInstance, EnvColimaProfile),
			fmt.Sprintf("unset one, or choose with %s=lima or %s=colima", EnvVM, EnvVM))
	case get(EnvLimaInstance) != "":
		return lima, true, nil
	case get(EnvColimaProfile) != "":
		return colima, true, nil
	case h.GOOS == "linux":
		return Target{}, false, nil
	}
	_, limaErr := h.LookPath("limactl")
	_, colimaErr := h.LookPath("colima")
	switch {
	case limaErr == nil && colimaErr == nil:
		if h.LimaExists != nil && !h.LimaExists(lima.Name) {
			return colima, true, nil
		}
		return lima, true, nil
	case limaErr == nil:
		return lima, true, nil
	case colimaErr == nil:
		return colima, true, nil
	}
	return Target{}, false, errs.WithHint(fmt.Errorf("no containerd on this %s host, and neither limactl nor colima on PATH to run it in a VM", h.GOOS),
		"install Lima (brew install lima) and run `limactl start --name=aishell ./lima.yaml` from aishell's repository (README: On a Mac)")
}

func or(v ...string) string {
	for _, s := range v {
		if s != "" {
			return s
		}
	}
	return ""
}

// Local says whether a command runs on the host even when aishell forwards: what needs no
// daemon (version, scan, config) reads the same files on the host as in the VM. doctor runs
// on the host too, and checks the VM from there (doctor.VM).
func Local(command string) bool {
	first, _, _ := strings.Cut(command, " ")
	switch first {
	case "version", "scan", "config", "doctor":
		return true
	}
	return false
}

// Mount is a host directory the VM sees, and where.
type Mount struct {
	Location   string // on the host
	MountPoint string // in the VM (the same path unless the template says otherwise)
}

// limaInstanceJSON is the part of `limactl list --json` aishell reads (Lima's
// pkg/limatype.Instance: name, status, config.mounts[].location and mountPoint).
type limaInstanceJSON struct {
	Name   string `json:"name"`
	Status string `json:"status"`
	Config *struct {
		Mounts []struct {
			Location   string  `json:"location"`
			MountPoint *string `json:"mountPoint"`
		} `json:"mounts"`
	} `json:"config"`
}

// limaList reads `limactl list --json NAME`; nil without an error when there is no such instance.
// For colima the instance lives under colima's LIMA_HOME, which only colima knows: nil.
func limaList(ctx context.Context, t Target) (*limaInstanceJSON, error) {
	if t.Kind != Lima {
		return nil, nil
	}
	cmd := exec.CommandContext(ctx, "limactl", "list", "--json", t.Name)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		if strings.Contains(stderr.String(), "No instance matching") || strings.Contains(stderr.String(), "not found") {
			return nil, nil
		}
		return nil, fmt.Errorf("limactl list --json %s: %v: %s", t.Name, err, strings.TrimSpace(stderr.String()))
	}
	// JSON Lines when stdout is not a terminal; a decoder reads the indented form too.
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var inst limaInstanceJSON
		if err := dec.Decode(&inst); err == io.EOF {
			break
		} else if err != nil {
			return nil, fmt.Errorf("limactl list --json %s: %w", t.Name, err)
		}
		if inst.Name == t.Name {
			return &inst, nil
		}
	}
	return nil, nil
}

// Mounts are the host directories the VM sees (and, for Lima, an error unless it runs): from `limactl list --json` for Lima; from the
// profile's colima.yaml for colima, whose empty list means the home directory (colima's default).
func Mounts(ctx context.Context, t Target, home string) ([]Mount, error) {
	var ms []Mount
	add := func(loc string, point *string) {
		loc = config.ExpandHome(loc, home)
		m := Mount{Location: filepath.Clean(loc), MountPoint: filepath.Clean(loc)}
		if point != nil && *point != "" {
			m.MountPoint = filepath.Clean(config.ExpandHome(*point, home))
		}
		ms = append(ms, m)
	}
	if t.Kind == Lima {
		inst, err := limaList(ctx, t)
		if err != nil {
			return nil, err
		}
		if inst == nil {
			return nil, notCreated(t)
		}
		if inst.Status != "Running" {
			return nil, errs.WithHint(fmt.Errorf("%s is %s", t, strings.ToLower(or(inst.Status, "not running"))), "limactl start "+t.Name)
		}
		if inst.Config != nil {
			for _, m := range inst.Config.Mounts {
				add(m.Location, m.MountPoint)
			}
		}
		return ms, nil
	}
	var cfg struct {
		Mounts []struct {
			Location   string  `yaml:"location"`
			MountPoint *string `yaml:"mountPoint"`
		} `yaml:"mounts"`
	}
	b, err := os.ReadFile(colimaConfig(t.Name, home))
	if err == nil {
		if err := yaml.Unmarshal(b, &cfg); err != nil {
			return nil, fmt.Errorf("%s: %w", colimaConfig(t.Name, home), err)
		}
	}
	for _, m := range cfg.Mounts {
		add(m.Location, m.MountPoint)
	}
	if len(ms) == 0 {
		add(home, nil)
	}
	return ms, nil
}

// colimaConfig is the profile's colima.yaml ($COLIMA_HOME, else ~/.colima).
func colimaConfig(profile, home string) string {
	dir := or(os.Getenv("COLIMA_HOME"), filepath.Join(home, ".colima"))
	if profile == "" {
		profile = "default"
	}
	return filepath.Join(dir, strings.TrimPrefix(profile, "colima-"), "colima.yaml")
}

// GuestPath is where the VM sees a host path, if it does.
func GuestPath(ms []Mount, hostPath string) (string, bool) {
	p := filepath.Clean(hostPath)
	if r, err := filepath.EvalSymlinks(p); err == nil {
		p = r
	}
	for _, m := range ms {
		loc := m.Location
		if r, err := filepath.EvalSymlinks(loc); err == nil {
			loc = r
		}
		if p == loc {
			return m.MountPoint, true
		}
		if rel, ok := strings.CutPrefix(p, strings.TrimSuffix(loc, "/")+"/"); ok {
			return filepath.Join(m.MountPoint, rel), true
		}
	}
	return "", false
}

// notVisible is the one line for a project outside what the VM mounts.
func notVisible(t Target, cwd string, ms []Mount) error {
	var locs []string
	for _, m := range ms {
		locs = append(locs, m.Location)
	}
	seen := "nothing"
	if len(locs) > 0 {
		seen = strings.Join(locs, ", ")
	}
	hint := fmt.Sprintf("work in a project under one of them, or add a mount: `limactl edit %s --mount %s:w` (or `mounts:` in lima.yaml), then restart it", t.Name, cwd)
	if t.Kind == Colima {
		hint = fmt.Sprintf("work in a project under one of them, or add it to `mounts:` with `colima start --profile %s --edit`", t.Name)
	}
	return errs.WithHint(fmt.Errorf("%s is outside what the %s sees of this host (%s)", cwd, t, seen), hint)
}

func notCreated(t Target) error {
	if t.Kind == Colima {
		return errs.WithHint(fmt.Errorf("%s is not running", t), fmt.Sprintf("colima start --profile %s --runtime containerd", t.Name))
	}
	return errs.WithHint(fmt.Errorf("%s does not exist", t),
		fmt.Sprintf("create it from aishell's repository: limactl start --name=%s ./lima.yaml (or choose another with %s)", t.Name, EnvLimaInstance))
}

// Status says whether the VM exists and runs.
func Status(ctx context.Context, t Target) (exists, running bool, err error) {
	if t.Kind == Colima {
		err := exec.CommandContext(ctx, "colima", "status", "--profile", t.Name).Run()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return true, false, nil
		}
		return err == nil, err == nil, err
	}
	inst, err := limaList(ctx, t)
	if err != nil || inst == nil {
		return false, false, err
	}
	return true, inst.Status == "Running", nil
}

// Command is the host command that runs argv (aishell and its arguments, with env in front) in
// the VM's directory dir. limactl quotes each argument for the guest's shell itself
// (shellescape in `limactl shell`), so argv goes as it is; colima ssh hands it to limactl.
func Command(t Target, dir string, argv []string) []string {
	if t.Kind == Colima {
		// colima ssh cds to the host's working directory when it is mounted (as limactl shell
		// would), and has no --workdir of its own: the cd is done by `sh -c` below for
		// certainty, with the directory as an argument, never spliced into the script.
		inner := append([]string{"sudo", "sh", "-c", `cd "$1" || exit 1; shift; exec "$@"`, "aishell-cd", dir}, argv...)
		return append([]string{"colima", "ssh", "--profile", t.Name, "--"}, inner...)
	}
	return append([]string{"limactl", "shell", "--workdir", dir, t.Name}, argv...)
}
