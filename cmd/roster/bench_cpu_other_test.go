//go:build !unix

package main

import "time"

// selfCPU is not measured here: the benchmark's CPU figures need Linux.
func selfCPU() time.Duration { return 0 }
