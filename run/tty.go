package run

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/containerd/console"
	containerd "github.com/containerd/containerd/v2/client"
	"golang.org/x/term"
)

// IsTerminal reports whether both standard input and output are terminals: only then does a
// run get a TTY.
func IsTerminal() bool {
	return term.IsTerminal(int(os.Stdin.Fd())) && term.IsTerminal(int(os.Stdout.Fd()))
}

// terminal is the host's terminal while a TTY session runs.
type terminal struct {
	con console.Console
	in  io.Reader
}

func newTerminal() (*terminal, error) {
	con, err := console.ConsoleFromFile(os.Stdin)
	if err != nil {
		return nil, fmt.Errorf("terminal: %w", err)
	}
	return &terminal{con: con, in: os.Stdin}, nil
}

// raw puts the terminal in raw mode: keys, Ctrl-C included, go to the container.
func (t *terminal) raw() error { return t.con.SetRaw() }

func (t *terminal) reset() { t.con.Reset() }

// resize gives the container's terminal the host terminal's size.
func (t *terminal) resize(ctx context.Context, task containerd.Process) {
	if ws, err := t.con.Size(); err == nil && ws.Width > 0 {
		task.Resize(ctx, uint32(ws.Width), uint32(ws.Height))
	}
}
