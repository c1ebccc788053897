package run

import "golang.org/x/sys/unix"

func hostMemory() int64 {
	var info unix.Sysinfo_t
	if unix.Sysinfo(&info) == nil {
		return int64(info.Totalram) * int64(info.Unit)
	}
	return 0
}
