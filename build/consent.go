package build

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/aishell/aishell/errs"
	"github.com/aishell/aishell/project"
)

// A project's .aishell/Dockerfile arrives with `git clone`, and building it runs its RUN steps
// as root in buildkitd, on the host's network, before the agent starts; the image it makes then
// runs the harness with its keys. So an extension is built and run only once the user approved
// that exact content: the Dockerfile and every file it copies, by digest.

// TrustCommand records the approval of the current project's extension.
const TrustCommand = "aishell ext trust"

// Consent is how an approval is looked up, asked for and given once.
type Consent struct {
	Approved  map[string]string          // project path -> approved digest (the user's config)
	TrustOnce bool                       // --trust: approve for this command only
	Ask       func(question string) bool // asks on the terminal; nil without one
	Out       io.Writer                  // where the Dockerfile is shown before asking
}

// Check marks e approved when its digest is the one the user approved for its project, when
// this command trusts it once, or when the user says yes at the terminal (then record is true:
// the caller keeps the digest in the user's config). Without a terminal an unapproved
// extension is refused with how to approve it.
func (c Consent) Check(e *Extension) (digest string, record bool, err error) {
	digest, err = e.Digest()
	if err != nil {
		return "", false, err
	}
	if c.Approved[e.Project] == digest || c.TrustOnce {
		e.approved, e.approvedDigest = true, digest
		return digest, false, nil
	}
	why := "is not approved yet"
	if c.Approved[e.Project] != "" {
		why = "changed since you approved it"
	}
	if c.Ask == nil {
		return "", false, errs.WithHint(fmt.Errorf("%s %s: building it would run its RUN steps as root with the host's network", e.Path, why),
			"read it, then run `"+TrustCommand+"` in the project to approve it (or pass --trust for this command only)")
	}
	fmt.Fprint(c.Out, e.Review(why))
	if !c.Ask("Build and use this extension? [y/N] ") {
		return "", false, errs.WithHint(errors.New(e.Path+" not approved; nothing was built"), "edit it, or approve it with `"+TrustCommand+"`")
	}
	e.approved, e.approvedDigest = true, digest
	return digest, true, nil
}

// Approve marks e approved without asking: `aishell ext trust`, after showing it.
func (e *Extension) Approve() (digest string, err error) {
	digest, err = e.Digest()
	if err == nil {
		e.approved, e.approvedDigest = true, digest
	}
	return digest, err
}

// Review is what the user reads before approving: where the Dockerfile is, what building it
// does, its content, and the context files it copies.
func (e *Extension) Review(why string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s. Building it runs its RUN steps as root in buildkitd, with the host's network,\n", e.Path, why)
	fmt.Fprintf(&b, "and the image it makes runs the agent with its API keys. It reads:\n")
	content := project.Visible(string(e.Content))
	fmt.Fprintf(&b, "----- %s -----\n%s", e.Path, content)
	if !strings.HasSuffix(content, "\n") {
		b.WriteByte('\n')
	}
	fmt.Fprintf(&b, "-----\n")
	if len(e.Sources) > 0 {
		fmt.Fprintf(&b, "It copies from %s: %s\n", e.ContextDir, project.Visible(strings.Join(e.Sources, ", ")))
	}
	return b.String()
}

// errNotApproved stops a build or run of an extension nobody approved (a caller that skipped
// Consent.Check).
func errNotApproved(e *Extension) error {
	return errs.WithHint(fmt.Errorf("%s is not approved; not building or using it", e.Path), "run `"+TrustCommand+"` in the project")
}
