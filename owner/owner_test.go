package owner

import (
	"maps"
	"os"
	"strconv"
	"testing"

	"github.com/aishell/aishell/labels"
)

func TestGone(t *testing.T) {
	own := Self()
	if Gone(own) {
		t.Error("this process judged gone")
	}
	gone := maps.Clone(own)
	gone[labels.PID] = "999999999"
	if !Gone(gone) {
		t.Error("a pid that does not exist judged alive")
	}
	reused := maps.Clone(own)
	reused[labels.PIDStart] = "1"
	if !Gone(reused) {
		t.Error("a reused pid judged the owner")
	}
	other := maps.Clone(gone)
	other[labels.PIDNS] = "pid:[1]"
	if Gone(other) || Judged(other) {
		t.Error("a record of another pid namespace judged")
	}
	// A run whose aishell is gone while its reaper (here: this process) lives is being
	// removed by the reaper: nobody else's to remove.
	withReaper := maps.Clone(gone)
	withReaper[labels.ReaperPID], withReaper[labels.ReaperStart] = own[labels.PID], own[labels.PIDStart]
	if Gone(withReaper) || !Reaping(withReaper) {
		t.Error("a run with a live reaper judged gone, or not being reaped")
	}
	withReaper[labels.ReaperStart] = "1"
	if !Gone(withReaper) || Reaping(withReaper) {
		t.Error("a run whose reaper's pid was reused judged alive")
	}
	if Reaping(own) {
		t.Error("a run with a live owner judged being reaped")
	}
}

// A process that exists but whose /proc/PID/stat cannot be read (another user's, under
// hidepid) is never taken for gone, whatever start time the record holds.
func TestProcessGoneUnreadable(t *testing.T) {
	me := os.Getpid()
	if processGone(me, "1", nil) {
		t.Error("a live process whose stat is unreadable judged gone")
	}
	if processGone(me, "1", []string{"S", "1"}) {
		t.Error("a live process whose stat is cut short judged gone")
	}
	stat := statFields(me)
	if len(stat) <= 19 {
		t.Fatalf("stat of this process: %v", stat)
	}
	zombie := append([]string{"Z"}, stat[1:]...)
	if !processGone(me, stat[19], zombie) {
		t.Error("a zombie judged alive")
	}
	if processGone(me, stat[19], stat) {
		t.Error("this process judged gone")
	}
	if !ProcessGone(strconv.Itoa(999999999), "1") || !ProcessGone("", "") {
		t.Error("no process judged alive")
	}
}
