//go:build !linux

package main

import "errors"

// lowerPriority is Linux-only: elsewhere nice values are per process and
// this program has no portable way to set its own.
func lowerPriority(int) error {
	return errors.New("lowering the CPU priority is supported on Linux only")
}
