package main

import (
	"encoding/json"
	"io"
	"os"
	"strings"

	"github.com/alecthomas/kong"
)

// JSONOutput is the --json flag of the commands that can print one JSON document on stdout
// for scripts instead of their text. With it, an error is a JSON document on stderr too
// (errs.ReportJSON), with the same exit code, and nothing is printed on stdout.
type JSONOutput struct {
	JSON bool `name:"json" help:"Print one JSON document on stdout instead of text (errors as JSON on stderr, same exit code)."`
}

// print writes the command's result to stdout: doc as JSON with --json, else text's lines.
// doc and text render the same value, so the two say the same thing.
func (o JSONOutput) print(doc any, text func(w io.Writer) error) error {
	if o.JSON {
		return printJSON(doc)
	}
	return text(os.Stdout)
}

// printJSON writes v to stdout as one indented JSON document.
func printJSON(v any) error { return writeJSON(os.Stdout, v) }

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// wantsJSON reports whether the parsed command line asked for --json.
func wantsJSON(kctx *kong.Context) bool {
	for _, f := range kctx.Flags() {
		if f.Name == "json" {
			if v, ok := kctx.FlagValue(f).(bool); ok && v {
				return true
			}
		}
	}
	return false
}

// argsWantJSON reports whether a command line that did not parse holds --json (before a
// "--", after which arguments belong to a command), so its usage error is JSON too.
func argsWantJSON(args []string) bool {
	for _, a := range args {
		if a == "--" {
			return false
		}
		if v, ok := strings.CutPrefix(a, "--json"); ok && (v == "" || v == "=true" || v == "=1") {
			return true
		}
	}
	return false
}
