package breach

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// corpus writes n random HASH:COUNT lines to a file in dir (gzip when
// gz) and returns the hashes whose count is at least minCount, and those
// below it. Counts run 1..20; upper and lower case hex alternate.
func corpus(t testing.TB, dir string, n, minCount int, gz bool, rng *rand.Rand) (kept, dropped [][20]byte, path string) {
	t.Helper()
	path = filepath.Join(dir, fmt.Sprintf("pwned-%d.txt", n))
	if gz {
		path += ".gz"
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	var w io.Writer = f
	var zw *gzip.Writer
	if gz {
		zw = gzip.NewWriter(f)
		w = zw
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	var sum [20]byte
	line := make([]byte, 0, 64)
	for i := range n {
		for j := 0; j < 20; j += 8 {
			v := rng.Uint64()
			for k := 0; k < 8 && j+k < 20; k++ {
				sum[j+k] = byte(v >> (8 * k))
			}
		}
		line = hex.AppendEncode(line[:0], sum[:])
		if i%2 == 0 {
			line = bytes.ToUpper(line)
		}
		count := 1 + rng.IntN(20)
		line = strconv.AppendInt(append(line, ':'), int64(count), 10)
		if i%7 == 0 {
			line = append(line, '\r')
		}
		bw.Write(append(line, '\n'))
		if count >= minCount {
			kept = append(kept, sum)
		} else {
			dropped = append(dropped, sum)
		}
	}
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
	if zw != nil {
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return kept, dropped, path
}

// TestBuildMillion imports a million hashes in 64 shards and checks the
// library's promise: every kept hash is found, and 1,000,000 random
// non-members are reported at about 2^-16.
func TestBuildMillion(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(1, 2))
	const n, minCount = 1_000_000, 3
	kept, dropped, in := corpus(t, dir, n, minCount, false, rng)
	out := filepath.Join(dir, "breached.filter")
	var reads, builds int
	st, err := Build(t.Context(), out, []string{in}, BuildOptions{
		MinCount: minCount, Shards: 64,
		Progress: func(p Progress) {
			if p.Phase == "read" {
				reads++
			} else {
				builds++
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if st.Lines != n || st.Kept != uint64(len(kept)) || st.Entries != uint64(len(kept)) {
		t.Fatalf("stats %+v; want %d lines, %d kept and entries", st, n, len(kept))
	}
	if reads == 0 || builds != 64 {
		t.Errorf("progress: %d read reports, %d build reports; want some and 64", reads, builds)
	}
	// 16 bits × the library's size factor: 1.24 for these 15,000-key
	// shards, 1.125 from about 4 million keys (a full-corpus shard).
	if bitsPerKey := float64(st.Size*8) / float64(st.Entries); bitsPerKey > 20.5 {
		t.Errorf("%.2f bits per entry; a 16-bit binary fuse filter of this size needs about 20", bitsPerKey)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".breach-spill-*")); len(left) != 0 {
		t.Errorf("spill files left behind: %v", left)
	}
	f, err := Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if f.Entries() != st.Entries || f.MinCount() != minCount || f.Size() != st.Size || f.Digest() != hex.EncodeToString(st.Digest[:]) {
		t.Fatalf("opened filter: entries %d, min count %d, size %d, digest %s; build said %+v", f.Entries(), f.MinCount(), f.Size(), f.Digest(), st)
	}
	for _, sum := range kept {
		if in, err := f.Contains(sum); err != nil || !in {
			t.Fatalf("kept hash %x not found (err %v)", sum, err)
		}
	}
	// Hashes below --min-count are not members: they are found only as
	// false positives.
	var droppedHits int
	for _, sum := range dropped {
		if in, _ := f.Contains(sum); in {
			droppedHits++
		}
	}
	const probes = 1_000_000
	var hits int
	var sum [20]byte
	for range probes {
		for j := 0; j < 20; j += 8 {
			v := rng.Uint64()
			for k := 0; k < 8 && j+k < 20; k++ {
				sum[j+k] = byte(v >> (8 * k))
			}
		}
		if in, _ := f.Contains(sum); in {
			hits++
		}
	}
	// Expected 15.3 (1e6/65536), standard deviation 3.9: 40 is over six
	// deviations away, and an 8-bit filter would give about 3,900.
	rate := float64(hits) / probes
	t.Logf("false positives: %d in %d (%.6f%%; promised %.6f%%); %d of %d dropped hashes", hits, probes, 100*rate, 100*FalsePositiveRate, droppedHits, len(dropped))
	if hits > 40 {
		t.Errorf("false-positive rate %.6f, promised %.6f", rate, FalsePositiveRate)
	}
	if float64(droppedHits) > 40*float64(len(dropped))/probes+5 {
		t.Errorf("%d of %d hashes below --min-count found", droppedHits, len(dropped))
	}
}

func TestBuildInputs(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(3, 4))
	keptA, _, a := corpus(t, dir, 1000, 1, true, rng)
	keptB, _, b := corpus(t, dir, 2000, 1, false, rng)
	out := filepath.Join(dir, "f")
	// Two files, one gzip, with a hash in both: counted once.
	st, err := Build(t.Context(), out, []string{a, b, a}, BuildOptions{Shards: 1})
	if err != nil {
		t.Fatal(err)
	}
	if st.Entries != 3000 || st.Kept != 4000 {
		t.Fatalf("stats %+v: want 3000 entries from 4000 kept lines", st)
	}
	f, err := Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, sum := range append(keptA, keptB...) {
		if in, _ := f.Contains(sum); !in {
			t.Fatalf("%x not found", sum)
		}
	}
}

func TestBuildRefusesBadLines(t *testing.T) {
	tests := []struct {
		name, body, want string
	}{
		{"ntlm", "8846F7EAEE8FB117AD06BDD830B7586C:3\n", "line 1"},
		{"no count", "5BAA61E4C9B93F3F0682250B6CF8331B7EE68FD8\n", "want HASH:COUNT"},
		{"not hex", strings.Repeat("G", 40) + ":1\n", "not hexadecimal"},
		{"bad count", "5BAA61E4C9B93F3F0682250B6CF8331B7EE68FD8:x\n", "count is not a number"},
		{"second line", "5BAA61E4C9B93F3F0682250B6CF8331B7EE68FD8:1\n\nzz\n", "line 3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			in := filepath.Join(dir, "in")
			if err := os.WriteFile(in, []byte(tt.body), 0o600); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(dir, "out")
			_, err := Build(t.Context(), out, []string{in}, BuildOptions{Shards: 4})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Build: %v; want an error containing %q", err, tt.want)
			}
			if _, serr := os.Stat(out); !errors.Is(serr, os.ErrNotExist) {
				t.Errorf("output exists after a failed build")
			}
			if left, _ := filepath.Glob(filepath.Join(dir, ".*")); len(left) != 0 {
				t.Errorf("left behind: %v", left)
			}
		})
	}
}

// TestOpenRejectsCorruption flips bytes in the header and in a shard: the
// header fails at Open, the shard at its first lookup, and neither panics.
func TestOpenRejectsCorruption(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(5, 6))
	kept, _, in := corpus(t, dir, 5000, 1, false, rng)
	good := filepath.Join(dir, "good")
	if _, err := Build(t.Context(), good, []string{in}, BuildOptions{Shards: 4}); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	write := func(b []byte) string {
		p := filepath.Join(dir, "bad")
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tt := range []struct {
		name string
		mod  func([]byte) []byte
	}{
		{"magic", func(b []byte) []byte { b[0] = 'X'; return b }},
		{"version", func(b []byte) []byte { b[8] = 9; return b }},
		{"header byte", func(b []byte) []byte { b[fixedHeaderLen+3] ^= 1; return b }},
		{"truncated", func(b []byte) []byte { return b[:len(b)/2] }},
		{"empty", func(b []byte) []byte { return b[:0] }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.mod(append([]byte(nil), raw...))
			if _, err := Open(write(b)); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Open: %v; want ErrCorrupt", err)
			}
		})
	}
	t.Run("shard data", func(t *testing.T) {
		b := append([]byte(nil), raw...)
		b[len(b)-10] ^= 0xff
		f, err := Open(write(b))
		if err != nil {
			t.Fatalf("Open: %v (shard data is checked lazily)", err)
		}
		defer f.Close()
		var bad int
		for _, sum := range kept {
			if _, err := f.Contains(sum); errors.Is(err, ErrCorrupt) {
				bad++
			}
		}
		if bad == 0 {
			t.Fatal("no lookup reported the damaged shard")
		}
	})
}

func TestScreener(t *testing.T) {
	common, err := NewCommon()
	if err != nil {
		t.Fatal(err)
	}
	if common.Len() < 40000 {
		t.Fatalf("common list has %d passwords", common.Len())
	}
	dir := t.TempDir()
	in := filepath.Join(dir, "in")
	leaked := "correct horse battery staple leaked"
	sum := sha1.Sum([]byte(leaked))
	body := strings.ToUpper(hex.EncodeToString(sum[:])) + ":5\n"
	if err := os.WriteFile(in, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	f := buildOpen(t, in)
	tests := []struct {
		name string
		s    *Screener
		pw   string
		want error
	}{
		{"common", &Screener{Common: common}, "password", ErrCommon},
		{"common any case", &Screener{Common: common}, "PassWord", ErrCommon},
		{"common long", &Screener{Common: common}, "1234567890987654321", ErrCommon},
		{"breached without filter", &Screener{Common: common}, leaked, nil},
		{"breached", &Screener{Common: common, Filter: f}, leaked, ErrBreached},
		{"breached is case-sensitive", &Screener{Common: common, Filter: f}, strings.ToUpper(leaked), nil},
		{"clean", &Screener{Common: common, Filter: f}, "a long and unusual sentence of mine", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.s.Screen(tt.pw); !errors.Is(err, tt.want) {
				t.Fatalf("Screen(%q) = %v; want %v", tt.pw, err, tt.want)
			}
		})
	}
}

// BenchmarkContainsPassword is the cost screening adds where a password is
// set or an imported account first logs in: one SHA-1 and three reads.
func BenchmarkContainsPassword(b *testing.B) {
	dir := b.TempDir()
	_, _, in := corpus(b, dir, 200_000, 1, false, rand.New(rand.NewPCG(9, 10)))
	f := buildOpen(b, in)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.ContainsPassword("a password somebody chose"); err != nil {
			b.Fatal(err)
		}
	}
}

// buildOpen builds a filter of the corpus file in with default options
// and opens it until the test ends.
func buildOpen(t testing.TB, in string) *Filter {
	t.Helper()
	out := filepath.Join(t.TempDir(), "f")
	if _, err := Build(t.Context(), out, []string{in}, BuildOptions{}); err != nil {
		t.Fatal(err)
	}
	f, err := Open(out)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}
