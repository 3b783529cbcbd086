package main

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"syscall"
)

// lowerPriority sets the nice value of every thread of this process to n
// (1-19: a lower CPU priority than the default 0). Linux keeps a nice value per thread, and new threads inherit their
// creator's, so the loop repeats until a pass finds no thread left at the
// old priority. Raising one's own nice value needs no privilege.
func lowerPriority(n int) error {
	seen := map[int]bool{}
	for changed := true; changed; {
		changed = false
		tasks, err := os.ReadDir("/proc/self/task")
		if err != nil {
			return fmt.Errorf("lower priority: %w", err)
		}
		for _, t := range tasks {
			tid, err := strconv.Atoi(t.Name())
			if err != nil || seen[tid] {
				continue
			}
			if err := syscall.Setpriority(syscall.PRIO_PROCESS, tid, n); err != nil && !errors.Is(err, syscall.ESRCH) {
				return fmt.Errorf("lower priority of thread %d: %w", tid, err)
			}
			seen[tid], changed = true, true
		}
	}
	return nil
}
