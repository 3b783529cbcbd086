package breach

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math/bits"
)

// Format constants; see the package documentation.
const (
	magic           = "CSBREACH"
	formatVersion   = 1
	fingerprintBits = 16
	fixedHeaderLen  = 8 + 4 + 4 + 4 + 4 + 8 + 8 + 32
	shardEntryLen   = 8 + 8 + 8 + 4*5 + 4
	// DefaultShards splits the full corpus (about a billion hashes) into
	// shards of about 4 million keys, built one at a time.
	DefaultShards = 256
	maxShards     = 1 << 16
)

// ErrCorrupt means a filter file does not have the expected format or fails
// a checksum. Errors wrap it with what was wrong.
var ErrCorrupt = errors.New("breached-password filter is damaged; run credshield passwords import again")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// header is the decoded header of a filter file.
type header struct {
	shards   []shardInfo
	minCount uint64
	entries  uint64
	digest   [32]byte
}

// shardInfo locates one shard and carries its filter parameters.
type shardInfo struct {
	offset, entries, seed uint64

	segLen, segLenMask, segCount, segCountLen, fingerprints uint32
	crc                                                     uint32
}

func headerLen(shards int) int { return fixedHeaderLen + shards*shardEntryLen + 4 }

// validShards reports whether n is a shard count the format allows.
func validShards(n int) bool {
	return n >= 1 && n <= maxShards && bits.OnesCount(uint(n)) == 1
}

// encodeTable encodes the shard table alone: the digest covers it.
func encodeTable(shards []shardInfo) []byte {
	b := make([]byte, 0, len(shards)*shardEntryLen)
	for _, s := range shards {
		b = binary.LittleEndian.AppendUint64(b, s.offset)
		b = binary.LittleEndian.AppendUint64(b, s.entries)
		b = binary.LittleEndian.AppendUint64(b, s.seed)
		for _, v := range []uint32{s.segLen, s.segLenMask, s.segCount, s.segCountLen, s.fingerprints, s.crc} {
			b = binary.LittleEndian.AppendUint32(b, v)
		}
	}
	return b
}

// digestOf is the filter's identity: SHA-256 of the shard table followed by
// the SHA-256 of all shard data in order.
func digestOf(table []byte, dataSum []byte) [32]byte {
	h := sha256.New()
	h.Write(table)
	h.Write(dataSum)
	var d [32]byte
	h.Sum(d[:0])
	return d
}

func (h *header) encode() []byte {
	b := make([]byte, 0, headerLen(len(h.shards)))
	b = append(b, magic...)
	b = binary.LittleEndian.AppendUint32(b, formatVersion)
	b = binary.LittleEndian.AppendUint32(b, fingerprintBits)
	b = binary.LittleEndian.AppendUint32(b, uint32(len(h.shards)))
	b = binary.LittleEndian.AppendUint32(b, 0)
	b = binary.LittleEndian.AppendUint64(b, h.minCount)
	b = binary.LittleEndian.AppendUint64(b, h.entries)
	b = append(b, h.digest[:]...)
	b = append(b, encodeTable(h.shards)...)
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// decodeHeader parses and checks the header at the start of file, whose
// total size is size. Every offset and length is checked against size, so
// a damaged or hostile file fails here rather than at a lookup.
func decodeHeader(file []byte, size int64) (*header, error) {
	if len(file) < fixedHeaderLen {
		return nil, fmt.Errorf("%w: %d bytes is shorter than a header", ErrCorrupt, len(file))
	}
	if string(file[:8]) != magic {
		return nil, fmt.Errorf("%w: not a credshield breach filter (bad magic)", ErrCorrupt)
	}
	le := binary.LittleEndian
	if v := le.Uint32(file[8:]); v != formatVersion {
		return nil, fmt.Errorf("%w: format version %d, this build reads %d", ErrCorrupt, v, formatVersion)
	}
	if fp := le.Uint32(file[12:]); fp != fingerprintBits {
		return nil, fmt.Errorf("%w: %d-bit fingerprints, this build reads %d", ErrCorrupt, fp, fingerprintBits)
	}
	n := int(le.Uint32(file[16:]))
	if !validShards(n) {
		return nil, fmt.Errorf("%w: shard count %d is not a power of two in 1..%d", ErrCorrupt, n, maxShards)
	}
	hl := headerLen(n)
	if len(file) < hl {
		return nil, fmt.Errorf("%w: header of %d shards is truncated", ErrCorrupt, n)
	}
	if want, got := le.Uint32(file[hl-4:]), crc32.Checksum(file[:hl-4], castagnoli); want != got {
		return nil, fmt.Errorf("%w: header checksum mismatch", ErrCorrupt)
	}
	h := &header{minCount: le.Uint64(file[24:]), entries: le.Uint64(file[32:]), shards: make([]shardInfo, n)}
	copy(h.digest[:], file[40:72])
	var total uint64
	for i := range h.shards {
		e := file[fixedHeaderLen+i*shardEntryLen:]
		s := shardInfo{
			offset: le.Uint64(e), entries: le.Uint64(e[8:]), seed: le.Uint64(e[16:]),
			segLen: le.Uint32(e[24:]), segLenMask: le.Uint32(e[28:]), segCount: le.Uint32(e[32:]),
			segCountLen: le.Uint32(e[36:]), fingerprints: le.Uint32(e[40:]), crc: le.Uint32(e[44:]),
		}
		if err := s.check(size); err != nil {
			return nil, fmt.Errorf("%w: shard %d: %v", ErrCorrupt, i, err)
		}
		total += s.entries
		h.shards[i] = s
	}
	if total != h.entries {
		return nil, fmt.Errorf("%w: shard entries add up to %d, header says %d", ErrCorrupt, total, h.entries)
	}
	return h, nil
}

// check bounds a shard's parameters so that every index a lookup computes
// falls inside its fingerprints, and those inside the file.
func (s shardInfo) check(size int64) error {
	if s.fingerprints == 0 {
		if s.entries != 0 {
			return fmt.Errorf("%d entries and no fingerprints", s.entries)
		}
		return nil
	}
	if s.offset%8 != 0 {
		return fmt.Errorf("offset %d is not 8-byte aligned", s.offset)
	}
	if end := s.offset + 2*uint64(s.fingerprints); end < s.offset || end > uint64(size) {
		return fmt.Errorf("data %d..%d lies outside the file (%d bytes)", s.offset, end, size)
	}
	// Contains reads indices below segCountLen + 2*segLen.
	if s.segLen == 0 || s.segLen&(s.segLen-1) != 0 || s.segLenMask != s.segLen-1 ||
		uint64(s.segCount)*uint64(s.segLen) != uint64(s.segCountLen) ||
		uint64(s.segCountLen)+2*uint64(s.segLen) > uint64(s.fingerprints) {
		return errors.New("inconsistent filter parameters")
	}
	return nil
}
