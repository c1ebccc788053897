package sensitive

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"syscall"

	"github.com/aishell/aishell/config"
)

// gitSafe are the settings every git that aishell runs on a project gets first on its command
// line, where they win over the project's .git/config (and anything it includes): each
// switches off a way that file could make git start a program, or hide part of the history.
// The commands add --no-ext-diff, --no-textconv and --no-show-signature where they diff.
var gitSafe = []string{
	"-c", "core.fsmonitor=false", // a hook run whenever the index is read
	"-c", "core.hooksPath=/dev/null",
	"-c", "core.pager=cat", "-c", "pager.log=false",
	"-c", "log.showSignature=false", "-c", "gpg.program=false", "-c", "gpg.ssh.program=false", "-c", "gpg.x509.program=false",
	"-c", "protocol.allow=never", // no fetch of missing objects in a partial clone (its ssh command, its helpers)
	"-c", "credential.helper=",
	"-c", "core.sshCommand=false",
	"-c", "log.showRoot=true", // the first commit's diff
	"-c", "core.bigFileThreshold=512m", // git's default: smaller would turn text into "binary files differ"
	"-c", "core.quotePath=false",
	"-c", "diff.noprefix=false", "-c", "diff.mnemonicPrefix=false", "-c", "diff.relative=false",
	"-c", "color.ui=false",
	"--no-pager",
}

// gitCommand is git running args in the project at root, with gitSafe first, no system
// config, no pager, no prompt, and none of the caller's GIT_* variables (GIT_DIR,
// GIT_EXTERNAL_DIFF…). Under sudo it runs as the person, with their HOME: git would refuse a
// repository that is not root's anyway, and nothing in it is run as root.
func gitCommand(ctx context.Context, root string, p config.Person, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "git", append(append(append([]string{}, gitSafe...), "-C", root), args...)...)
	env := []string{"GIT_CONFIG_NOSYSTEM=1", "GIT_PAGER=cat", "PAGER=cat", "GIT_TERMINAL_PROMPT=0",
		"GIT_OPTIONAL_LOCKS=0", "GIT_NO_LAZY_FETCH=1", "LC_ALL=C"}
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "GIT_") || strings.HasPrefix(kv, "LC_ALL=") || strings.HasPrefix(kv, "PAGER=") ||
			(p.Mode == config.ModeSudo && strings.HasPrefix(kv, "HOME=")) {
			continue
		}
		env = append(env, kv)
	}
	if p.Mode == config.ModeSudo {
		env = append(env, "HOME="+p.Home)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(p.UID), Gid: uint32(p.GID)}}
	}
	cmd.Env = env
	cmd.Dir = root
	return cmd
}

// isGitRepo reports whether root is the top of a git work tree (a .git directory or file).
func isGitRepo(root string) bool {
	_, err := os.Lstat(root + "/.git")
	return err == nil
}
