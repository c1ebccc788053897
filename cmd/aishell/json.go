package main

import (
	"encoding/json"
	"os"

	"github.com/alecthomas/kong"
)

// JSONOutput is the --json flag of the commands that can print one JSON document on stdout
// for scripts instead of their text. With it, an error is a JSON document on stderr too
// (errs.ReportJSON), with the same exit code.
type JSONOutput struct {
	JSON bool `name:"json" help:"Print one JSON document on stdout instead of text (errors as JSON on stderr)."`
}

// printJSON writes v to stdout as one indented JSON document.
func printJSON(v any) error {
	enc := json.NewEncoder(os.Stdout)
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
