// Package labels holds every string contract between aishell's packages and the records it
// leaves in containerd: label keys and values on images, containers and leases, the marker of a
// build's temporary tag, and containerd's garbage-collection reference labels. One side writes
// and another reads each of them (build writes what snapshot's gc reads, run writes what its
// reaper reads), so both sides use these names and a rename cannot silently break gc.
//
// It imports nothing but the standard library.
package labels

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
)

// Prefix starts every label aishell sets.
const Prefix = "dev.aishell."

// Image labels, set by build and read by snapshot (gc, harness ls) and by build itself.
const (
	// Tier is foundation, harness or extension (the values below).
	Tier = Prefix + "tier"
	// DockerfileHash is the hash of the Dockerfile (and build args or context) an image was
	// built from: the foundation's tag and an extension's freshness are derived from it.
	DockerfileHash = Prefix + "dockerfile-hash"
	// Harness, HarnessVersion and HarnessPackage name the harness a harness image holds.
	Harness        = Prefix + "harness"
	HarnessVersion = Prefix + "harness.version"
	HarnessPackage = Prefix + "harness.package"
	// HarnessExtras are the npm packages installed with the harness (pi_packages), space-separated.
	HarnessExtras = Prefix + "harness.extras"
	// AliasOf is set on aishell:foundation and aishell:base: the content-addressed tag they
	// point at. gc never removes either side.
	AliasOf = Prefix + "alias-of"
	// FoundationChain is the chain ID of the foundation an extension was built on.
	FoundationChain = Prefix + "foundation-chain"
	// BaseChain is the chain ID of the image an extension (or a user base) was built on: the
	// person's user base, or the foundation. Another one under it makes it stale.
	BaseChain = Prefix + "base-chain"
	// UserDockerfile is, on a user base image, the Dockerfile it was built from.
	UserDockerfile = Prefix + "user-dockerfile"
	// FoundationDockerfile is, on a foundation image, the hash12 of the embedded Dockerfile
	// alone (without build args): an aishell whose Dockerfile differs says the foundation is
	// older than itself.
	FoundationDockerfile = Prefix + "foundation-dockerfile"
)

// keptByPrefix starts the label by which a person's config keeps an image: KeptBy.
const keptByPrefix = Prefix + "kept-by."

// KeptBy is the image label by which the person whose config file is configPath, on the host
// whose view is view (config.View: the machine's id, or "" when it has none), keeps an image (a
// harness version their config names, the foundation their builds use): its key is
// dev.aishell.kept-by.<view>.<hash12 of the path>, its value the path. Every person's gc sees
// every person's labels in the shared namespace, and removes no image anybody keeps; only an
// aishell of the same view can tell that a config file is gone.
func KeptBy(view, configPath string) string {
	if view == "" {
		view = "-"
	}
	return keptByPrefix + view + "." + shortHash(configPath)
}

// KeptByView is the view of a KeptBy label key ("" for none), and whether the key is one.
func KeptByView(key string) (string, bool) {
	rest, ok := strings.CutPrefix(key, keptByPrefix)
	if !ok {
		return "", false
	}
	view, _, _ := strings.Cut(rest, ".")
	if view == "-" {
		view = ""
	}
	return view, true
}

// IsKeptBy reports whether a label key is a KeptBy label.
func IsKeptBy(key string) bool { return strings.HasPrefix(key, keptByPrefix) }

// GCLease is the ID of the lease that `aishell gc` holds while it decides and removes: one gc
// at a time in a namespace, and a run that starts meanwhile waits until it is done before it
// looks at its images (its own lease, made first, names what it uses: labels.Uses).
const GCLease = "aishell-gc"

// Building marks the lease an aishell holds while it builds (snapshot.HoldBuild): gc leaves
// harness and foundation images alone while a live one exists.
const Building = Prefix + "building"

// PurposeInstall is the Purpose of a harness install's container (build.Harness): it has the
// owner labels of a run, so the reapers and gc remove it when its aishell dies, but it is no
// session.
const PurposeInstall = "harness-install"

// sharedViewPrefix starts the key of a harness snapshot's shared view: a '/' no run's or
// install's ID (letters, digits and '-') has.
const sharedViewPrefix = "aishell/harness-view/"

// SharedViewKey is the key of the read-only view of committed harness snapshot chain that
// every run shares.
func SharedViewKey(chain string) string { return sharedViewPrefix + chain }

// IsSharedView reports whether a snapshot key is a harness snapshot's shared view, which no
// run owns: a run's removal leaves it to containerd's collector.
func IsSharedView(key string) bool { return strings.HasPrefix(key, sharedViewPrefix) }

// GCRefSharedView is the label by which a committed harness snapshot holds its shared view.
func GCRefSharedView(snapshotter string) string { return gcRefSnapshot + snapshotter + "/aishell-view" }

// NPMCache marks the snapshot that holds a person's npm download cache across harness installs
// (its value is the person's config path; it carries their KeptBy label too, by which gc
// removes it once their config is gone).
const NPMCache = Prefix + "npm-cache"

// Values of Tier.
const (
	TierFoundation = "foundation"
	TierHarness    = "harness"
	TierExtension  = "extension"
	// TierUserBase is the person's own base image, from the Dockerfile beside their config.
	TierUserBase = "user-base"
)

// Project is the project directory: on an extension image, the project it was built for; on a
// container, the project it mounts.
const Project = Prefix + "project"

// Container and lease labels, set by run and read by its reaper and by snapshot (in-use counts).
const (
	// Purpose is shell, exec or the harness a container runs, or PurposeInstall.
	Purpose = Prefix + "purpose"
	// Uses is the comma-separated image refs whose snapshots a container uses (its rootfs image
	// and each harness); gc keeps those images. A run's lease carries it too, from before the
	// run looks at any image: what it may use (every configured harness, its rootfs candidates).
	Uses = Prefix + "uses"
	// PID, PIDNS and PIDStart identify the aishell process that owns a container: its pid, pid
	// namespace (e.g. pid:[4026531836]) and start time in clock ticks since boot, so a reused
	// pid is not mistaken for the owner.
	PID      = Prefix + "pid"
	PIDNS    = Prefix + "pidns"
	PIDStart = Prefix + "pid-start"
	// ReaperPID and ReaperStart identify a run's reaper (in the owner's pid namespace): the
	// process aishell starts beside a foreground run, which removes the run once aishell has
	// returned the exit code, or at once when aishell dies. While it lives the run is not
	// anybody else's to remove.
	ReaperPID   = Prefix + "reaper-pid"
	ReaperStart = Prefix + "reaper-start"
	// Name is a run's session name, unique among the live runs of its project (`--name`, or
	// the purpose and a random suffix); ps, attach and stop find sessions by it.
	Name = Prefix + "name"
	// Detached is "tmux" on a run started with --detach: its process lives in a tmux session
	// inside the container, which attach joins.
	Detached = Prefix + "detached"
	// Version is the version of the harness a run runs (empty for shell and exec).
	Version = Prefix + "version"
	// User is the name of the person who started a run.
	User = Prefix + "user"
	// HostDirs are the comma-separated host files and directories a run made for itself (its
	// passwd and group files, its wrappers, its private harness config copies, a detached
	// session's log), each named after the run's ID: whoever removes a run whose aishell is
	// gone removes them too.
	HostDirs = Prefix + "host-dirs"
)

// HasKey is a containerd filter matching objects that carry the label key.
func HasKey(key string) string { return fmt.Sprintf("labels.%q", key) }

// Equals is a containerd filter matching objects whose label key is value.
func Equals(key, value string) string { return fmt.Sprintf("labels.%q==%s", key, value) }

// buildingMarker sits between the real name and a random suffix in the temporary tag a build
// exports to before its result is complete and takes the real tag.
const buildingMarker = "-building-"

// TempTag is the temporary tag a build of name exports to.
func TempTag(name, suffix string) string { return name + buildingMarker + suffix }

// IsTempTag reports whether an image name is a build's temporary tag.
func IsTempTag(name string) bool { return strings.Contains(name, buildingMarker) }

// gcRefSnapshot is containerd's label prefix through which a container (or any object) keeps
// a snapshot from the garbage collector: containerd.io/gc.ref.snapshot.<snapshotter>/<n>.
const gcRefSnapshot = "containerd.io/gc.ref.snapshot."

// GCRefSnapshot is the label key by which an object holds its n-th extra snapshot in the
// snapshotter; its value is the snapshot key.
func GCRefSnapshot(snapshotter string, n int) string {
	return fmt.Sprintf("%s%s/%d", gcRefSnapshot, snapshotter, n)
}

// RefSnapshots returns the snapshot keys a label set holds through GCRefSnapshot labels.
func RefSnapshots(l map[string]string) []string {
	var keys []string
	for k, v := range l {
		if strings.HasPrefix(k, gcRefSnapshot) {
			keys = append(keys, v)
		}
	}
	return keys
}

// ProjectKey names a project in image tags and file names: the first 12 hex digits of the
// SHA-256 of its path (aishell:ext-<key>, and the scan record scans/<key>).
func ProjectKey(path string) string { return shortHash(path) }

// shortHash is the first 12 hex digits of the SHA-256 of s.
func shortHash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])[:12]
}
