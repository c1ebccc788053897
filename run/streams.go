package run

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"
)

// streams connect the container's process to aishell's terminal, or to its standard streams.
type streams struct {
	creator cio.Creator
	term    *terminal      // nil without a TTY
	stdin   *closingReader // nil with a TTY, or without stdin
	// broken is closed when a reader of aishell's output went away (aishell exec yes | head -1):
	// the process then ends as it would outside, with SIGPIPE.
	broken <-chan struct{}
}

// newStreams wires o's streams: with a TTY, the host terminal in and the process's terminal
// out; otherwise stdin, stdout and stderr, each passed through. FIFOs are made under the user's
// runtime directory in rootless mode.
func newStreams(o Options) (*streams, error) {
	pipe := &pipeState{broken: make(chan struct{})}
	st := &streams{broken: pipe.broken}
	out, errOut := o.Stdout, stderrOf(o)
	if o.Keeper != nil {
		out, errOut = o.Keeper.stdout(out), o.Keeper.stderr(errOut)
	}
	stdout, stderr := &pipeWriter{w: out, st: pipe}, &pipeWriter{w: errOut, st: pipe}
	var ioOpts []cio.Opt
	if dir := o.Runtime.FIFODir(); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("FIFO directory: %w", err)
		}
		ioOpts = append(ioOpts, cio.WithFIFODir(dir))
	}
	if o.TTY {
		term, err := newTerminal()
		if err != nil {
			return nil, err
		}
		st.term = term
		st.creator = cio.NewCreator(append(ioOpts, cio.WithStreams(term.in, stdout, nil), cio.WithTerminal)...)
		return st, nil
	}
	var in io.Reader
	if o.Stdin != nil {
		st.stdin = &closingReader{r: o.Stdin, eof: make(chan struct{})}
		in = st.stdin
	}
	st.creator = cio.NewCreator(append(ioOpts, cio.WithStreams(in, stdout, stderr))...)
	return st, nil
}

// attach puts the host terminal in raw mode, so keys (Ctrl-C included) go to the container;
// detach restores it.
func (s *streams) attach() error {
	if s.term == nil {
		return nil
	}
	return s.term.raw()
}

func (s *streams) detach() {
	if s.term != nil {
		s.term.reset()
	}
}

// closeStdinAtEOF closes the process's stdin when aishell's ends: `echo x | aishell exec cat`
// ends.
func (s *streams) closeStdinAtEOF(ctx context.Context, task containerd.Process) {
	if s.stdin == nil {
		return
	}
	go func() {
		select {
		case <-s.stdin.eof:
			task.CloseIO(context.WithoutCancel(ctx), containerd.WithStdinCloser)
		case <-ctx.Done():
		}
	}()
}

// pipeState is shared by a run's output writers: broken closes at the first write error.
type pipeState struct {
	once   sync.Once
	broken chan struct{}
}

// pipeWriter passes output through. After a write error it drops later writes, so the copy goes
// on draining the container; a broken pipe (the reader went away) is reported once.
type pipeWriter struct {
	w      io.Writer
	st     *pipeState
	failed bool
}

func (p *pipeWriter) Write(b []byte) (int, error) {
	if p.failed {
		return len(b), nil
	}
	if _, err := p.w.Write(b); err != nil {
		p.failed = true
		if errors.Is(err, syscall.EPIPE) {
			p.st.once.Do(func() { close(p.st.broken) })
		}
	}
	return len(b), nil
}

// closingReader passes stdin through and closes eof at its end.
type closingReader struct {
	r    io.Reader
	eof  chan struct{}
	once sync.Once
}

func (c *closingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if err != nil {
		c.once.Do(func() { close(c.eof) })
	}
	return n, err
}
