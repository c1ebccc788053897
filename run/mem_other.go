//go:build !linux

package run

func hostMemory() int64 { return 0 }
