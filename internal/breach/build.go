package breach

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/bits"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/FastFilter/xorfilter"
)

// BuildOptions configure Build. The zero value keeps every hash (MinCount
// 0 and 1 are the same: every corpus line has a count of at least 1) in
// DefaultShards shards and spills beside the output file.
type BuildOptions struct {
	// MinCount keeps only hashes seen at least this often.
	MinCount uint64
	// Shards is the number of shards, a power of two in 1..4096 (the
	// build holds one spill file open per shard); 0 means DefaultShards.
	Shards int
	// TempDir holds the spill files (8 bytes per kept hash) while the
	// build runs; "" means the output's directory.
	TempDir string
	// Progress, when set, is called about once a second while input is
	// read and once per shard built. It runs on the building goroutine.
	Progress func(Progress)
	// Now is the clock for progress pacing; nil means time.Now.
	Now func() time.Time
}

// Progress reports how far a Build has come.
type Progress struct {
	// Phase is "read" while the input is read and "build" while shards
	// are built.
	Phase string
	// BytesRead and BytesTotal count input bytes on disk (compressed
	// bytes for gzip input), over all files.
	BytesRead, BytesTotal int64
	// Kept counts the hashes kept so far.
	Kept uint64
	// Shard is the number of shards built so far, of Shards.
	Shard, Shards int
}

// Stats describe a finished Build.
type Stats struct {
	Lines    uint64   // input lines read
	Kept     uint64   // hashes with a count of at least MinCount
	Entries  uint64   // distinct hashes in the filter
	Size     int64    // bytes of the filter file
	Digest   [32]byte // the filter's identity (see the package documentation)
	MaxShard uint64   // keys in the largest shard: what the build held in memory
	// FalsePositiveRate is the rate the filter promises: 2^-16.
	FalsePositiveRate float64
}

// FalsePositiveRate is the rate of a filter with 16-bit fingerprints: the
// share of passwords outside the corpus that it wrongly reports as
// breached.
const FalsePositiveRate = 1.0 / (1 << fingerprintBits)

// Build reads the HASH:COUNT files inputs (sorted or not, plain or gzip)
// and writes the filter of every hash whose count is at least
// opt.MinCount to out. The file appears at out only when it is complete (it
// is written beside it and renamed), so a replica never maps half a filter;
// on error nothing is left behind, spill files included.
func Build(ctx context.Context, out string, inputs []string, opt BuildOptions) (Stats, error) {
	if opt.Shards == 0 {
		opt.Shards = DefaultShards
	}
	if !validShards(opt.Shards) || opt.Shards > 4096 {
		return Stats{}, fmt.Errorf("build breach filter: shards %d is not a power of two in 1..4096", opt.Shards)
	}
	if len(inputs) == 0 {
		return Stats{}, errors.New("build breach filter: no input files")
	}
	if opt.TempDir == "" {
		opt.TempDir = filepath.Dir(out)
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	b := &builder{opt: opt, shardShift: 32 - uint(bits.TrailingZeros(uint(opt.Shards)))}
	return b.run(ctx, out, inputs)
}

type builder struct {
	opt        BuildOptions
	shardShift uint // shard = top bits of the hash's first 4 bytes
	stats      Stats
	last       time.Time
}

// shardOf and keyOf split a SHA-1 into its shard and the 64-bit key kept in
// that shard's filter. They use disjoint bytes, and SHA-1 output is
// uniform, so keys within a shard are as random as the corpus.
func shardOf(sum *[20]byte, shift uint) int {
	if shift >= 32 {
		return 0
	}
	return int(binary.BigEndian.Uint32(sum[:4]) >> shift)
}

func keyOf(sum *[20]byte) uint64 { return binary.BigEndian.Uint64(sum[8:16]) }

func (b *builder) run(ctx context.Context, out string, inputs []string) (Stats, error) {
	var total int64
	for _, in := range inputs {
		fi, err := os.Stat(in)
		if err != nil {
			return Stats{}, fmt.Errorf("build breach filter: %w", err)
		}
		total += fi.Size()
	}
	spill, err := os.MkdirTemp(b.opt.TempDir, ".breach-spill-")
	if err != nil {
		return Stats{}, fmt.Errorf("build breach filter: spill directory: %w", err)
	}
	defer os.RemoveAll(spill)
	if err := b.spill(ctx, spill, inputs, total); err != nil {
		return Stats{}, fmt.Errorf("build breach filter: %w", err)
	}
	if err := b.write(ctx, out, spill); err != nil {
		return Stats{}, fmt.Errorf("build breach filter: %w", err)
	}
	b.stats.FalsePositiveRate = FalsePositiveRate
	return b.stats, nil
}

// spill reads every input once and appends each kept key to its shard's
// spill file.
func (b *builder) spill(ctx context.Context, dir string, inputs []string, total int64) (err error) {
	files := make([]*os.File, b.opt.Shards)
	ws := make([]*bufio.Writer, b.opt.Shards)
	defer func() {
		for _, f := range files {
			if f != nil {
				if cerr := f.Close(); err == nil && cerr != nil {
					err = cerr
				}
			}
		}
	}()
	for i := range files {
		if files[i], err = os.Create(spillName(dir, i)); err != nil {
			return fmt.Errorf("spill: %w", err)
		}
		ws[i] = bufio.NewWriterSize(files[i], 32<<10)
	}
	var done int64
	var werr error
	var kb [8]byte
	for _, in := range inputs {
		f, err := os.Open(in)
		if err != nil {
			return err
		}
		cr := &countingReader{r: f, ctx: ctx, tick: func(n int64) {
			b.progress(Progress{Phase: "read", BytesRead: done + n, BytesTotal: total, Kept: b.stats.Kept, Shards: b.opt.Shards}, false)
		}}
		lines, kept, err := readHashes(cr, b.opt.MinCount, func(sum *[20]byte) {
			binary.LittleEndian.PutUint64(kb[:], keyOf(sum))
			if _, e := ws[shardOf(sum, b.shardShift)].Write(kb[:]); e != nil && werr == nil {
				werr = e
			}
		})
		f.Close()
		b.stats.Lines += lines
		b.stats.Kept += kept
		done += cr.n
		if err != nil {
			return fmt.Errorf("%s: %w", in, err)
		}
		if werr != nil {
			return fmt.Errorf("spill: %w", werr)
		}
	}
	for _, w := range ws {
		if err := w.Flush(); err != nil {
			return fmt.Errorf("spill: %w", err)
		}
	}
	b.progress(Progress{Phase: "read", BytesRead: done, BytesTotal: total, Kept: b.stats.Kept, Shards: b.opt.Shards}, true)
	return nil
}

func spillName(dir string, i int) string { return filepath.Join(dir, fmt.Sprintf("%05d", i)) }

// write builds each shard from its spill file, one at a time, and writes
// the filter file: data first, then the header, then a rename.
func (b *builder) write(ctx context.Context, out, spill string) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(out), filepath.Base(out)+".tmp-")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	n := b.opt.Shards
	h := header{minCount: b.opt.MinCount, shards: make([]shardInfo, n)}
	off := align8(uint64(headerLen(n)))
	if _, err := tmp.Seek(int64(off), io.SeekStart); err != nil {
		return err
	}
	dataSum := sha256.New()
	bw := bufio.NewWriterSize(io.MultiWriter(tmp, dataSum), 1<<20)
	var fb xorfilter.BinaryFuseBuilder
	var keys []uint64
	for i := range n {
		if err := ctx.Err(); err != nil {
			return err
		}
		keys, err = readSpill(spillName(spill, i), keys[:0])
		if err != nil {
			return err
		}
		slices.Sort(keys)
		keys = slices.Compact(keys)
		s := shardInfo{offset: off, entries: uint64(len(keys))}
		if len(keys) > 0 {
			f, err := xorfilter.BuildBinaryFuse[uint16](&fb, keys)
			if err != nil {
				return fmt.Errorf("shard %d: %w", i, err)
			}
			s.seed, s.segLen, s.segLenMask = f.Seed, f.SegmentLength, f.SegmentLengthMask
			s.segCount, s.segCountLen, s.fingerprints = f.SegmentCount, f.SegmentCountLength, uint32(len(f.Fingerprints))
			data := make([]byte, align8(2*uint64(len(f.Fingerprints))))
			for j, fp := range f.Fingerprints {
				binary.LittleEndian.PutUint16(data[2*j:], fp)
			}
			s.crc = crc32.Checksum(data[:2*len(f.Fingerprints)], castagnoli)
			if _, err := bw.Write(data); err != nil {
				return err
			}
			off += uint64(len(data))
		}
		h.shards[i] = s
		h.entries += s.entries
		b.stats.MaxShard = max(b.stats.MaxShard, s.entries)
		b.progress(Progress{Phase: "build", Kept: b.stats.Kept, Shard: i + 1, Shards: n}, true)
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	h.digest = digestOf(encodeTable(h.shards), dataSum.Sum(nil))
	enc := h.encode()
	if _, err := tmp.WriteAt(enc, 0); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return err
	}
	b.stats.Entries, b.stats.Size, b.stats.Digest = h.entries, int64(off), h.digest
	return nil
}

func readSpill(name string, keys []uint64) ([]uint64, error) {
	raw, err := os.ReadFile(name)
	if err != nil {
		return keys, err
	}
	// The spill file is removed as soon as it is read: disk use falls as
	// the filter grows.
	os.Remove(name)
	keys = slices.Grow(keys, len(raw)/8)
	for i := 0; i+8 <= len(raw); i += 8 {
		keys = append(keys, binary.LittleEndian.Uint64(raw[i:]))
	}
	return keys, nil
}

func align8(n uint64) uint64 { return (n + 7) &^ 7 }

// progress calls the Progress hook at most once a second unless force.
func (b *builder) progress(p Progress, force bool) {
	if b.opt.Progress == nil {
		return
	}
	now := b.opt.Now()
	if !force && now.Sub(b.last) < time.Second {
		return
	}
	b.last = now
	b.opt.Progress(p)
}

// countingReader counts bytes read, stops when ctx is done and calls tick
// every 4 MiB.
type countingReader struct {
	r    io.Reader
	ctx  context.Context
	n    int64
	next int64
	tick func(n int64)
}

func (c *countingReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.n >= c.next {
		c.next = c.n + 4<<20
		c.tick(c.n)
	}
	return n, err
}

// MeasureFalsePositives probes f with n random SHA-1 values (outside any
// corpus with overwhelming probability) and returns the share reported as
// breached: the measured counterpart of FalsePositiveRate.
func MeasureFalsePositives(f *Filter, n int) (float64, error) {
	var sum [20]byte
	hits := 0
	for range n {
		rand.Read(sum[:])
		in, err := f.Contains(sum)
		if err != nil {
			return 0, err
		}
		if in {
			hits++
		}
	}
	return float64(hits) / float64(n), nil
}
