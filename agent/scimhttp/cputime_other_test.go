//go:build !unix

package scimhttp_test

import "testing"

// cpuTime is not measured here: the benchmarks report no cpu-ns/op.
func cpuTime(*testing.B) (int64, bool) { return 0, false }
