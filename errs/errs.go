// Package errs owns the kinds of error that decide how aishell ends: a usage or configuration
// mistake (exit code 2), an error that carries the next step for the user (a hint line), and an
// exit code chosen by a command (a container's own). Report turns any error into what the user
// sees: one line, an optional hint, and the exit code.
//
// It imports nothing but the standard library, so every package can return these kinds.
package errs

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Exit codes that are not a container's own.
const (
	CodeOK    = 0
	CodeError = 1 // anything that went wrong
	CodeUsage = 2 // a mistake in the command line or a config file
)

// Hinted is implemented by errors that carry the next step for the user.
type Hinted interface{ ErrorHint() string }

// UsageError is a mistake in what the user asked for or configured: exit code 2.
type UsageError struct {
	Err  error
	Hint string
}

func (e *UsageError) Error() string     { return e.Err.Error() }
func (e *UsageError) Unwrap() error     { return e.Err }
func (e *UsageError) ErrorHint() string { return e.Hint }

// Usage is a UsageError with a next step (hint may be empty).
func Usage(err error, hint string) error { return &UsageError{Err: err, Hint: hint} }

// HintedError is an error with the next step for the user.
type HintedError struct {
	Err  error
	Hint string
}

func (e *HintedError) Error() string     { return e.Err.Error() }
func (e *HintedError) Unwrap() error     { return e.Err }
func (e *HintedError) ErrorHint() string { return e.Hint }

// WithHint attaches a next step to err.
func WithHint(err error, hint string) error { return &HintedError{Err: err, Hint: hint} }

// ExitError ends aishell with Code and prints nothing: the command has said all there is (a
// container exited with its own code, doctor printed its report).
type ExitError struct{ Code int }

func (e ExitError) Error() string { return fmt.Sprintf("exit status %d", e.Code) }

// Exit is the error that ends aishell with code.
func Exit(code int) error { return ExitError{Code: code} }

// HintOf is the next step err carries, or "".
func HintOf(err error) string {
	var h Hinted
	if errors.As(err, &h) {
		return h.ErrorHint()
	}
	return ""
}

// Code is the exit code err ends aishell with, and whether it has been said already (nil and
// an ExitError, whose command printed all there is): 0 for nil, an ExitError's own code, 2 for
// usage errors, 1 otherwise.
func Code(err error) (code int, said bool) {
	if err == nil {
		return CodeOK, true
	}
	var ee ExitError
	if errors.As(err, &ee) {
		return ee.Code, true
	}
	var ue *UsageError
	if errors.As(err, &ue) {
		return CodeUsage, false
	}
	return CodeError, false
}

// Report prints err to w as "aishell: <err>" and "hint: <hint>" (nothing when it is said
// already) and returns its exit code (Code).
func Report(w io.Writer, err error) int {
	code, said := Code(err)
	if said {
		return code
	}
	fmt.Fprintln(w, "aishell:", err)
	if h := HintOf(err); h != "" {
		fmt.Fprintln(w, "hint:", h)
	}
	return code
}

// ReportJSON is Report for a command asked for --json: the error goes to w as one JSON
// document, {"error":{"message":…,"hint":…,"code":…}}, with the same exit code as Report's.
func ReportJSON(w io.Writer, err error) int {
	code, said := Code(err)
	if said {
		return code
	}
	type body struct {
		Message string `json:"message"`
		Hint    string `json:"hint"`
		Code    int    `json:"code"`
	}
	b, _ := json.Marshal(map[string]body{"error": {Message: err.Error(), Hint: HintOf(err), Code: code}})
	fmt.Fprintln(w, string(b))
	return code
}
