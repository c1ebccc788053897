package errs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
)

func TestReportAndReportJSONAgree(t *testing.T) {
	for _, tc := range []struct {
		err      error
		code     int
		msg      string
		hint     string
		printsIt bool
	}{
		{nil, CodeOK, "", "", false},
		{errors.New("boom"), CodeError, "boom", "", true},
		{WithHint(errors.New("no socket"), "start it"), CodeError, "no socket", "start it", true},
		{fmt.Errorf("wrapped: %w", Usage(errors.New("bad flag"), "aishell --help")), CodeUsage, "wrapped: bad flag", "aishell --help", true},
		{Exit(7), 7, "", "", false},
	} {
		var text, js bytes.Buffer
		if got := Report(&text, tc.err); got != tc.code {
			t.Errorf("Report(%v) = %d, want %d", tc.err, got, tc.code)
		}
		if got := ReportJSON(&js, tc.err); got != tc.code {
			t.Errorf("ReportJSON(%v) = %d, want %d", tc.err, got, tc.code)
		}
		if !tc.printsIt {
			if text.Len() != 0 || js.Len() != 0 {
				t.Errorf("%v printed %q / %q, want nothing", tc.err, text.String(), js.String())
			}
			continue
		}
		want := "aishell: " + tc.msg + "\n"
		if tc.hint != "" {
			want += "hint: " + tc.hint + "\n"
		}
		if text.String() != want {
			t.Errorf("Report(%v) printed %q, want %q", tc.err, text.String(), want)
		}
		var doc struct {
			Error struct {
				Message, Hint string
				Code          int
			}
		}
		if err := json.Unmarshal(js.Bytes(), &doc); err != nil || doc.Error.Message != tc.msg || doc.Error.Hint != tc.hint || doc.Error.Code != tc.code {
			t.Errorf("ReportJSON(%v) printed %q (%v)", tc.err, js.String(), err)
		}
		if bytes.Count(js.Bytes(), []byte("\n")) != 1 {
			t.Errorf("ReportJSON(%v) is not one line: %q", tc.err, js.String())
		}
	}
}
