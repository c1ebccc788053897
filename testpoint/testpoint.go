// Package testpoint lets the integration tests stop aishell at a named point of its work, to
// do something there that is otherwise a matter of milliseconds of luck: kill it before its
// container exists, run a gc while a run has looked at its images but not yet mounted them, or
// while a build has tagged an image that its config does not name yet.
//
// With AISHELL_TEST_PAUSE=NAME=FILE in the environment, Reached(NAME) creates FILE (a new file:
// never one that exists) holding aishell's pid and waits until the file is removed. Without it, Reached does nothing. The variable is
// read once; a run's reaper never gets it (it gets no variable of aishell's).
//
// It imports nothing but the standard library.
package testpoint

import (
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Env is the variable that names the point and the file.
const Env = "AISHELL_TEST_PAUSE"

var (
	once        sync.Once
	point, file string
)

// Reached pauses at the point name when the environment asks for it (see the package doc).
func Reached(name string) {
	once.Do(func() {
		point, file, _ = strings.Cut(os.Getenv(Env), "=")
	})
	if point == "" || point != name || file == "" {
		return
	}
	// A new file only: never one that exists, nor through a link.
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return
	}
	f.WriteString(strconv.Itoa(os.Getpid()) + "\n")
	f.Close()
	for {
		if _, err := os.Stat(file); os.IsNotExist(err) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}
