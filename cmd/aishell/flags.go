package main

import (
	"fmt"
	"reflect"

	"github.com/alecthomas/kong"

	"github.com/aishell/aishell/build"
	"github.com/aishell/aishell/harness"
)

// HarnessFlags are the harness-set flags of build and update. Besides the generic --with,
// --without and --harness-version, each catalog entry gets its own --with-NAME, --without-NAME
// and --NAME-version: they are fields of a struct type made from the catalog at start-up and
// embedded as a kong plugin, so adding a harness to the catalog adds its flags, and kong parses
// them like any other (no argv rewriting).
type HarnessFlags struct {
	With           []string          `name:"with" placeholder:"HARNESS" help:"Add harnesses to the set by name (or with the --with-NAME flags below)."`
	Without        []string          `name:"without" placeholder:"HARNESS" help:"Take harnesses out of the set by name (or with the --without-NAME flags below)."`
	HarnessVersion map[string]string `name:"harness-version" placeholder:"HARNESS=VERSION" help:"Pin harness versions by name, exact or a dist-tag such as latest (or with the --NAME-version flags below)."`

	Catalog kong.Plugins  `embed:""`
	perName reflect.Value // the struct in Catalog: per harness, With, Without and Version fields
}

// Field names in the generated struct, by catalog index.
func withField(i int) string    { return fmt.Sprintf("With%d", i) }
func withoutField(i int) string { return fmt.Sprintf("Without%d", i) }
func versionField(i int) string { return fmt.Sprintf("Version%d", i) }

// newHarnessFlags makes the per-harness flags for one command.
func newHarnessFlags() HarnessFlags {
	var fields []reflect.StructField
	for i, h := range harness.Catalog {
		fields = append(fields,
			reflect.StructField{Name: withField(i), Type: reflect.TypeOf(false),
				Tag: reflect.StructTag(fmt.Sprintf(`name:"with-%s" group:"Harnesses" help:"Add %s (%s) to the harness set."`, h.Name, h.Name, h.Package))},
			reflect.StructField{Name: withoutField(i), Type: reflect.TypeOf(false),
				Tag: reflect.StructTag(fmt.Sprintf(`name:"without-%s" group:"Harnesses" help:"Take %s out of the harness set."`, h.Name, h.Name))},
			reflect.StructField{Name: versionField(i), Type: reflect.TypeOf((*string)(nil)),
				Tag: reflect.StructTag(fmt.Sprintf(`name:"%s-version" group:"Harnesses" placeholder:"VERSION" help:"Build %s at this version (exact, or a dist-tag such as latest); implies --with-%s."`, h.Name, h.Name, h.Name))},
		)
	}
	v := reflect.New(reflect.StructOf(fields))
	return HarnessFlags{Catalog: kong.Plugins{v.Interface()}, perName: v.Elem()}
}

// request merges the generic and the per-harness flags into what build and update were asked.
func (f HarnessFlags) request() build.Request {
	req := build.Request{Add: f.With, Remove: f.Without, Versions: map[string]string{}}
	for k, v := range f.HarnessVersion {
		req.Versions[k] = v
	}
	if !f.perName.IsValid() {
		return req
	}
	for i, h := range harness.Catalog {
		if f.perName.FieldByName(withField(i)).Bool() {
			req.Add = append(req.Add, h.Name)
		}
		if f.perName.FieldByName(withoutField(i)).Bool() {
			req.Remove = append(req.Remove, h.Name)
		}
		// Given, even empty (the configured version or latest), it names the harness.
		if v := f.perName.FieldByName(versionField(i)); !v.IsNil() {
			req.Versions[h.Name] = v.Elem().String()
		}
	}
	return req
}

// BuildOutput are the flags shared by the commands that may build.
type BuildOutput struct {
	Progress string `enum:"auto,plain,tty,quiet" default:"auto" help:"Build progress, on stderr: auto (live display on a terminal, plain lines otherwise and with --json), plain, tty or quiet."`
	NoCache  bool   `help:"Run every build step again instead of reusing buildkitd's cache."`
}

func (o BuildOutput) options() build.Options {
	return build.Options{Progress: o.Progress, NoCache: o.NoCache}
}
