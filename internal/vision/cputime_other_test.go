//go:build !linux

package vision_test

import "time"

// threadCPU is unavailable outside Linux; benchmarks report 0.
func threadCPU() time.Duration { return 0 }

func lockThread() (unlock func()) { return func() {} }
