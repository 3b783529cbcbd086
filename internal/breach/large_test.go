//go:build unix

package breach

import (
	"bufio"
	"encoding/hex"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// TestBuildLarge builds a filter from CREDSHIELD_BREACH_LARGE random
// hashes, generated on the fly into a FIFO so the input never touches the
// disk, and logs time, size and peak RSS: the memory figure of a corpus
// slice. It is skipped unless the variable is set (not in CI).
// CREDSHIELD_BREACH_SHARDS sets the shard count (default 256), to measure
// a shard the size of a full-corpus one (about 4 million keys):
//
//	CREDSHIELD_BREACH_LARGE=100000000 go test -run TestBuildLarge -v -timeout 1h ./internal/breach/
//	CREDSHIELD_BREACH_LARGE=16000000 CREDSHIELD_BREACH_SHARDS=4 go test -run TestBuildLarge -v ./internal/breach/
func TestBuildLarge(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("CREDSHIELD_BREACH_LARGE"))
	shards, _ := strconv.Atoi(os.Getenv("CREDSHIELD_BREACH_SHARDS"))
	if n <= 0 {
		t.Skip("set CREDSHIELD_BREACH_LARGE to a number of hashes")
	}
	dir := t.TempDir()
	fifo := filepath.Join(dir, "pwned.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	go func() {
		f, err := os.OpenFile(fifo, os.O_WRONLY, 0)
		if err != nil {
			t.Error(err)
			return
		}
		defer f.Close()
		w := bufio.NewWriterSize(f, 1<<20)
		rng := rand.New(rand.NewPCG(7, 8))
		var sum [20]byte
		line := make([]byte, 0, 64)
		for range n {
			for j := 0; j < 20; j += 8 {
				v := rng.Uint64()
				for k := 0; k < 8 && j+k < 20; k++ {
					sum[j+k] = byte(v >> (8 * k))
				}
			}
			line = hex.AppendEncode(line[:0], sum[:])
			line = append(line, ':')
			line = strconv.AppendInt(line, int64(1+rng.IntN(20)), 10)
			w.Write(append(line, '\n'))
		}
		w.Flush()
	}()
	start := time.Now()
	st, err := Build(t.Context(), filepath.Join(dir, "breached.filter"), []string{fifo}, BuildOptions{Shards: shards})
	if err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	t.Logf("%d hashes, %d entries in %v; file %d bytes (%.2f bits per entry); largest shard %d keys; peak RSS %d MiB",
		st.Lines, st.Entries, took.Round(time.Second), st.Size, float64(st.Size*8)/float64(st.Entries), st.MaxShard, ru.Maxrss/1024)
}
