package run

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/errdefs"

	"github.com/aishell/aishell/config"
	"github.com/aishell/aishell/errs"
	"github.com/aishell/aishell/harness"
	"github.com/aishell/aishell/project"
	"github.com/aishell/aishell/protect"
)

// Request is what the user asked to run.
type Request struct {
	Purpose     string // shell, exec, or the harness to run
	Harness     string // the harness to run; empty for shell and exec
	Args        []string
	TTY         bool
	Person      config.Person // who typed the command: their uid (or 0), home, config, git identity
	Runtime     Runtime
	Image       string // the foundation, or the project's extension
	Snapshotter string
	Config      config.File
	Warn        io.Writer // for notices such as a configured harness that is not built
}

// hostCABundle is where the host's CA certificates appear inside, for Node via NODE_EXTRA_CA_CERTS.
const hostCABundle = "/etc/ssl/certs/aishell-host-ca.crt"

// Prepare checks that what the run needs is there and turns the request into Options: the
// rootfs image, the configured harnesses' snapshots, the invoking user, the project, the
// environment that passes through and the harness config paths that exist on the host, with
// what of them is protected from the container.
func Prepare(ctx context.Context, c *containerd.Client, req Request) (Options, error) {
	var o Options
	if _, err := c.ImageService().Get(ctx, req.Image); err != nil {
		if errdefs.IsNotFound(err) {
			first := "aishell build --with-claude"
			if req.Harness != "" {
				first = "aishell build --with-" + req.Harness
			}
			return o, errs.WithHint(errors.New("no foundation image yet"), "run `"+first+"` first")
		}
		return o, fmt.Errorf("look up %s: %w", req.Image, err)
	}
	hs, err := configuredHarnesses(ctx, c, req)
	if err != nil {
		return o, err
	}
	proj, cwd, err := project.Current()
	if err != nil {
		return o, err
	}
	o = Options{
		Snapshotter: req.Snapshotter, Image: req.Image, Harnesses: hs, Args: req.Args, Purpose: req.Purpose,
		Project: proj, Cwd: cwd, User: ContainerUser(req.Person), TTY: req.TTY, Runtime: req.Runtime,
	}
	o.Env = passEnv(req, os.LookupEnv)
	o.Env = append(o.Env, GitIdentity(proj, req.Person)...)
	if o.Protect, err = protect.Prepare(catalogEntries(hs), req.Person, proj); err != nil {
		return o, err
	}
	o.Binds = o.Protect.Binds
	if ca := req.Config.HostCABundle(); ca != "" {
		o.CABundle = ca
		o.Env = append(o.Env, "NODE_EXTRA_CA_CERTS="+hostCABundle)
	}
	return o, nil
}

// configuredHarnesses are the harnesses of the user's config whose images are built. The
// harness asked to run must be among them; any other that is missing is only warned about.
func configuredHarnesses(ctx context.Context, c *containerd.Client, req Request) ([]Harness, error) {
	if req.Harness != "" {
		if _, err := harness.Lookup(req.Harness); err != nil {
			return nil, errs.Usage(err, "")
		}
		if _, ok := req.Config.Harnesses[req.Harness]; !ok {
			return nil, errs.WithHint(fmt.Errorf("%s is not built", req.Harness), "run `aishell build --with-"+req.Harness+"`")
		}
	}
	var hs []Harness
	for _, name := range req.Config.HarnessNames() {
		h, err := harness.Lookup(name)
		if err != nil {
			fmt.Fprintf(req.Warn, "aishell: ignoring %s in the config: %v\n", name, err)
			continue
		}
		ref := h.ImageRef(req.Config.Harnesses[name].Resolved)
		if _, err := c.ImageService().Get(ctx, ref); err != nil {
			if name == req.Harness {
				return nil, errs.WithHint(fmt.Errorf("%s %s is not built (%s missing)", name, req.Config.Harnesses[name].Resolved, ref),
					"run `aishell build --with-"+name+"`")
			}
			fmt.Fprintf(req.Warn, "aishell: %s is configured but %s is missing; run `aishell build` to restore it\n", name, ref)
			continue
		}
		hs = append(hs, Harness{Harness: h, Ref: ref})
	}
	return hs, nil
}

// passEnv is the environment a run gets from the host: TERM, LANG, every harness's keys and
// settings and what the user's pass_env names, when set; a TERM for a TTY; and IS_SANDBOX=1,
// Claude Code's documented switch for running as uid 0 in a sandbox (root and rootless mode),
// where it otherwise refuses some flags.
func passEnv(req Request, lookup func(string) (string, bool)) []string {
	env := []string{}
	keys := append([]string{"TERM", "LANG"}, harness.EnvKeys()...)
	for _, k := range append(keys, req.Config.PassEnv...) {
		if v, ok := lookup(k); ok {
			env = append(env, k+"="+v)
		}
	}
	if _, ok := lookup("TERM"); !ok && req.TTY {
		env = append(env, "TERM=xterm-256color")
	}
	return append(env, "IS_SANDBOX=1")
}

// catalogEntries are the harnesses' catalog entries.
func catalogEntries(hs []Harness) []harness.Harness {
	out := make([]harness.Harness, len(hs))
	for i, h := range hs {
		out[i] = h.Harness
	}
	return out
}
