package main

import (
	"reflect"
	"strings"
	"testing"

	"github.com/aishell/aishell/build"
	"github.com/aishell/aishell/harness"
)

// The help texts that list the harnesses and name the default images are written out, not
// kong variables (interpolating four variables into every flag cost each command 1.7 ms of its
// start): they must say what the catalog and the build defaults are.
func TestHelpNamesTheCatalogAndDefaults(t *testing.T) {
	help := func(v any, field string) string {
		f, ok := reflect.TypeOf(v).FieldByName(field)
		if !ok {
			t.Fatalf("%T has no field %s", v, field)
		}
		return f.Tag.Get("help")
	}
	var with []string
	for _, n := range harness.Names() {
		with = append(with, "--with-"+n)
	}
	for _, tc := range []struct{ help, want string }{
		{help(CLI{}, "Build"), "(" + strings.Join(with, ", ") + ")"},
		{help(BuildCmd{}, "BaseImage"), "(default " + build.DefaultBaseImage + ")"},
		{help(BuildCmd{}, "NodeImage"), "(default " + build.DefaultNodeImage + ")"},
		{help(Keys{}, "Keys"), "(" + strings.Join(harness.Names(), ", ") + ", or all)"},
	} {
		if !strings.Contains(tc.help, tc.want) {
			t.Errorf("help %q does not say %q", tc.help, tc.want)
		}
	}
}
