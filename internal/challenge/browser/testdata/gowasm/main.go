// Command gowasm times x/crypto/argon2 compiled to WebAssembly, in a Web Worker:
// TestCompareGoWasm runs it beside hash-wasm to choose the browser solver.
//go:build js && wasm

package main

import (
	"fmt"
	"syscall/js"
	"time"

	"golang.org/x/crypto/argon2"
)

func main() {
	salt := make([]byte, 32)
	pw := make([]byte, 24)
	for i := 0; i < 20; i++ {
		argon2.IDKey(pw, salt, 1, 1024, 1, 32)
	}
	n := 200
	t0 := time.Now()
	for i := 0; i < n; i++ {
		pw[23] = byte(i)
		argon2.IDKey(pw, salt, 1, 1024, 1, 32)
	}
	one := float64(time.Since(t0).Microseconds()) / 1000 / float64(n)
	n = 20
	t0 = time.Now()
	for i := 0; i < n; i++ {
		argon2.IDKey(pw, salt, 10, 1024, 1, 32)
	}
	ten := float64(time.Since(t0).Microseconds()) / 1000 / float64(n)
	js.Global().Call("postMessage", fmt.Sprintf("go wasm: t=1 %.2f ms per call, t=10 %.2f ms per call", one, ten))
}
