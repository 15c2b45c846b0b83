//go:build unix

package scimhttp_test

import (
	"syscall"
	"testing"
)

// cpuTime is the process's CPU time so far, user and system (getrusage(2)).
func cpuTime(b *testing.B) (int64, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return ru.Utime.Nano() + ru.Stime.Nano(), true
}
