package breach

import (
	"crypto/sha1"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"math/bits"
	"os"
	"sync"
	"unsafe"

	"github.com/FastFilter/xorfilter"
)

// Filter answers whether a SHA-1 is in the breached corpus it was built
// from, with false positives at FalsePositiveRate and no false negatives.
//
// A Filter is safe for concurrent use. Close unmaps the file: call it only
// once no lookup can run.
type Filter struct {
	h          *header
	file       []byte
	unmap      func() error
	shardShift uint
	shards     []shard
}

// shard is one binary fuse filter; its fingerprints are checked against
// their CRC on first use.
type shard struct {
	once sync.Once
	err  error
	fuse xorfilter.BinaryFuse[uint16]
}

// Open maps the filter file at path and checks its header. It does not read
// the shards: each is checked the first time a lookup needs it.
func Open(path string) (*Filter, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("open breach filter: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("open breach filter: %w", err)
	}
	if fi.Size() < fixedHeaderLen {
		return nil, fmt.Errorf("open breach filter %s: %w: %d bytes is shorter than a header", path, ErrCorrupt, fi.Size())
	}
	data, unmap, err := mapFile(f, fi.Size())
	if err != nil {
		return nil, fmt.Errorf("open breach filter %s: %w", path, err)
	}
	h, err := decodeHeader(data, fi.Size())
	if err != nil {
		unmap()
		return nil, fmt.Errorf("open breach filter %s: %w", path, err)
	}
	return &Filter{
		h: h, file: data, unmap: unmap, shards: make([]shard, len(h.shards)),
		shardShift: 32 - uint(bits.TrailingZeros(uint(len(h.shards)))),
	}, nil
}

// Close releases the mapping. No lookup may run during or after it.
func (f *Filter) Close() error { return f.unmap() }

// Entries is the number of distinct hashes in the filter.
func (f *Filter) Entries() uint64 { return f.h.entries }

// MinCount is the least corpus count of a hash kept in the filter.
func (f *Filter) MinCount() uint64 { return f.h.minCount }

// Digest is the filter's identity, hex-encoded: equal digests, equal filters.
func (f *Filter) Digest() string { return hex.EncodeToString(f.h.digest[:]) }

// Size is the size of the filter file in bytes.
func (f *Filter) Size() int64 { return int64(len(f.file)) }

// ContainsPassword reports whether the SHA-1 of pw, as the corpus hashes
// it (its UTF-8 bytes), is in the filter.
func (f *Filter) ContainsPassword(pw string) (bool, error) {
	return f.Contains(sha1.Sum([]byte(pw)))
}

// Contains reports whether sum is in the filter. The error is non-nil only
// when the shard sum falls in fails its checksum: the file is damaged and
// must be imported again.
func (f *Filter) Contains(sum [20]byte) (bool, error) {
	i := shardOf(&sum, f.shardShift)
	s := &f.shards[i]
	s.once.Do(func() { s.err = f.load(i, s) })
	if s.err != nil {
		return false, s.err
	}
	if len(s.fuse.Fingerprints) == 0 {
		return false, nil
	}
	return s.fuse.Contains(keyOf(&sum)), nil
}

// load checks shard i's CRC and points its filter at the mapped data.
func (f *Filter) load(i int, s *shard) error {
	info := f.h.shards[i]
	if info.fingerprints == 0 {
		return nil
	}
	raw := f.file[info.offset : info.offset+2*uint64(info.fingerprints)]
	if crc32.Checksum(raw, castagnoli) != info.crc {
		return fmt.Errorf("breach filter shard %d: %w: checksum mismatch", i, ErrCorrupt)
	}
	s.fuse = xorfilter.BinaryFuse[uint16]{
		Seed: info.seed, SegmentLength: info.segLen, SegmentLengthMask: info.segLenMask,
		SegmentCount: info.segCount, SegmentCountLength: info.segCountLen,
		Fingerprints: fingerprints(raw),
	}
	return nil
}

// fingerprints views raw (little-endian uint16s, 8-byte aligned in the
// mapping) as a slice without copying on little-endian machines, and
// decodes a copy elsewhere.
func fingerprints(raw []byte) []uint16 {
	n := len(raw) / 2
	if littleEndian() {
		return unsafe.Slice((*uint16)(unsafe.Pointer(unsafe.SliceData(raw))), n)
	}
	out := make([]uint16, n)
	for i := range out {
		out[i] = binary.LittleEndian.Uint16(raw[2*i:])
	}
	return out
}

func littleEndian() bool {
	return binary.NativeEndian.Uint16([]byte{1, 0}) == 1
}
