package run

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/leases"
	"github.com/containerd/errdefs"

	"github.com/aishell/aishell/errs"
	"github.com/aishell/aishell/labels"
	"github.com/aishell/aishell/owner"
)

// A session is a live run as ps, attach and stop see it: everything here is read from
// containerd (the container's labels and its task), never from a file of aishell's own.
type Session struct {
	ID       string    `json:"id"`
	Name     string    `json:"name"`
	Project  string    `json:"project"`
	Purpose  string    `json:"purpose"` // shell, exec or the harness
	Version  string    `json:"version"`
	User     string    `json:"user"`
	Started  time.Time `json:"started"`
	State    string    `json:"state"` // running, created, stopped, paused, unknown
	Detached bool      `json:"detached"`
	// OwnerPID is the aishell process that owns the run and removes it when it ends (the
	// keeper of a detached session); OwnerAlive is false once that process is gone, and the
	// run then waits for `aishell stop` or `aishell gc`.
	OwnerPID   int  `json:"owner_pid"`
	OwnerAlive bool `json:"owner_alive"`
}

// Uptime is how long the session has run, at now.
func (s Session) Uptime(now time.Time) time.Duration { return now.Sub(s.Started).Truncate(time.Second) }

// nameRule is what a session name may be: a containerd ID segment, short enough that the
// container's ID stays within containerd's 76 characters.
var nameRule = regexp.MustCompile(`^[A-Za-z0-9]+([._-][A-Za-z0-9]+)*$`)

const maxNameLen = 32

// generatedName is the shape of the names runs without --name get (the purpose and six hex
// digits), which a chosen name may not take.
var generatedName = regexp.MustCompile(`-[0-9a-f]{6}$`)

// CheckName refuses a session name that containerd could not carry in an ID, or that looks like
// one aishell makes up.
func CheckName(name string) error {
	if len(name) > maxNameLen || !nameRule.MatchString(name) {
		return errs.Usage(fmt.Errorf("--name %q: a session name is up to %d letters, digits and single . _ - between them", name, maxNameLen), "e.g. --name review")
	}
	if generatedName.MatchString(name) {
		return errs.Usage(fmt.Errorf("--name %q: names ending in - and six hex digits are the ones aishell makes up", name), "e.g. --name review")
	}
	return nil
}

// runID is the ID of a run's container and lease, and its session name. A named run's ID is
// the same for each run of that name in one project, so containerd itself refuses a second
// one while the first lives (creating its lease fails); an unnamed run gets a random suffix,
// which is also its name after the purpose.
func runID(project, purpose, name string) (id, session string) {
	base := sanitize(filepath.Base(project))
	if name != "" {
		if len(base) > 24 {
			base = sanitize(base[:24])
		}
		return fmt.Sprintf("aishell-%s-%s-%s", base, name, labels.ProjectKey(project)[:6]), name
	}
	b := make([]byte, 3)
	rand.Read(b)
	suffix := hex.EncodeToString(b)
	return fmt.Sprintf("aishell-%s-%s-%s", base, sanitize(purpose), suffix), sanitize(purpose) + "-" + suffix
}

// claimName makes room for a named run: a run of that name whose aishell is gone is removed
// first (its leftovers must not hold the name until its lease expires), one whose reaper is removing it is
// waited for, and a live one is refused with the way to reach it.
func claimName(ctx context.Context, c *containerd.Client, snapshotter, id, name string) error {
	deadline := time.Now().Add(CleanupTimeout)
	for {
		ctr, lease, l, err := findRun(ctx, c, id)
		switch {
		case err != nil:
			return fmt.Errorf("look up the session %s: %w", name, err)
		case ctr == nil && lease == nil:
			return nil
		case owner.Reaping(l): // the run of a script's previous line, whose aishell has just returned
			if time.Now().After(deadline) {
				return errs.WithHint(fmt.Errorf("the last session named %s is still being removed", name), "try again in a moment, or aishell stop "+name)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(20 * time.Millisecond):
			}
			continue // its reaper may also die meanwhile: then it is a dead owner's
		case !owner.Gone(l):
			return nameTaken(name)
		case ctr != nil:
			if err := removeRun(ctx, c, snapshotter, ctr, l); err != nil {
				return fmt.Errorf("remove the dead session %s: %w", name, err)
			}
			return nil
		default: // a lease without a container: its aishell died while the run was assembled
			if err := removeAssembled(ctx, c, snapshotter, *lease); err != nil {
				return fmt.Errorf("remove the dead session %s: %w", name, err)
			}
			return nil
		}
	}
}

// findRun is run id's container, or else its lease, with the labels of the one found; neither
// when there is none.
func findRun(ctx context.Context, c *containerd.Client, id string) (containerd.Container, *leases.Lease, map[string]string, error) {
	ctr, err := c.LoadContainer(ctx, id)
	if err == nil {
		l, err := ctr.Labels(ctx)
		if err == nil {
			return ctr, nil, l, nil
		}
		if !errdefs.IsNotFound(err) {
			return nil, nil, nil, err
		}
	} else if !errdefs.IsNotFound(err) {
		return nil, nil, nil, err
	}
	lease, err := leaseByID(ctx, c, id)
	if err != nil || lease == nil {
		return nil, nil, nil, err
	}
	return nil, lease, lease.Labels, nil
}

// leaseByID is the lease under id, or nil when there is none.
func leaseByID(ctx context.Context, c *containerd.Client, id string) (*leases.Lease, error) {
	ls, err := c.LeasesService().List(ctx, "id=="+id)
	if err != nil || len(ls) == 0 {
		return nil, err
	}
	return &ls[0], nil
}

func nameTaken(name string) error {
	return errs.WithHint(fmt.Errorf("a session named %s is already running in this project", name),
		"aishell attach "+name+" (or aishell stop "+name+", or pick another --name)")
}

// Sessions are the live runs in the namespace, of one project (all of them when project is
// ""), oldest first. A run whose aishell has returned, and whose reaper is removing it, is
// none.
func Sessions(ctx context.Context, c *containerd.Client, project string) ([]Session, error) {
	ctrs, err := c.Containers(ctx, labels.HasKey(labels.PID))
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	var out []Session
	for _, ctr := range ctrs {
		info, err := ctr.Info(ctx, containerd.WithoutRefreshedMetadata)
		if err != nil {
			continue // removed meanwhile
		}
		l := info.Labels
		if l[labels.PID] == "" || l[labels.Purpose] == labels.PurposeInstall || (project != "" && l[labels.Project] != project) || owner.Reaping(l) {
			continue // not aishell's, a harness install, another project's, or a run that has ended and is being removed
		}
		s := Session{
			ID: info.ID, Name: l[labels.Name], Project: l[labels.Project], Purpose: l[labels.Purpose],
			Version: l[labels.Version], User: l[labels.User], Started: info.CreatedAt,
			Detached: l[labels.Detached] != "", State: "created", OwnerAlive: !owner.Gone(l),
		}
		if s.Name == "" {
			s.Name = info.ID // a run of an older aishell
		}
		s.OwnerPID, _ = strconv.Atoi(l[labels.PID])
		if task, err := ctr.Task(ctx, nil); err == nil {
			if st, err := task.Status(ctx); err == nil {
				s.State = string(st.Status)
			} else {
				s.State = "unknown"
			}
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Started.Before(out[j].Started) })
	return out, nil
}

// Find is the session name (or container ID) names: in project, or, when anywhere is set and
// no session there has that name, in the one other project that has it. A container ID names
// its session in any project.
func Find(ctx context.Context, c *containerd.Client, project, name string, anywhere bool) (Session, error) {
	all, err := Sessions(ctx, c, "")
	if err != nil {
		return Session{}, err
	}
	var here, elsewhere []Session
	for _, s := range all {
		switch {
		case s.ID == name:
			return s, nil
		case s.Name != name:
		case s.Project == project:
			here = append(here, s)
		default:
			elsewhere = append(elsewhere, s)
		}
	}
	switch {
	case len(here) == 1:
		return here[0], nil
	case len(here) > 1:
		return Session{}, errs.WithHint(fmt.Errorf("%d sessions of this project are named %s", len(here), name), "name one by its ID (aishell ps --json shows them)")
	case len(elsewhere) == 1 && anywhere:
		return elsewhere[0], nil
	case len(elsewhere) > 0 && !anywhere:
		return Session{}, errs.WithHint(fmt.Errorf("no session named %s in this project (%s runs in %s)", name, name, elsewhere[0].Project),
			"run the command in that project, or name the session by its ID (aishell ps --all --json shows it)")
	case len(elsewhere) > 1:
		return Session{}, errs.WithHint(fmt.Errorf("%d sessions in other projects are named %s", len(elsewhere), name),
			"run the command in the session's project, or name it by its ID (aishell ps --all --json shows them)")
	}
	where := "in this project"
	if project == "" {
		where = "running"
	}
	return Session{}, errs.WithHint(fmt.Errorf("no session named %s %s", name, where), "aishell ps --all lists the running sessions")
}

// errGone is a session that ended while a command was reaching it.
var errGone = errors.New("the session has ended")

// gone reports whether err says the container or task no longer exists.
func gone(err error) bool { return errdefs.IsNotFound(err) || errors.Is(err, errGone) }
