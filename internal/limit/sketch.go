package limit

import (
	"math"
	"sync/atomic"
)

// Sketch dimensions: four rows make a false hit on every row unlikely
// while the sketch is sparse; 2^16 cells per row keeps it at 2 MiB.
const (
	sketchDepth = 4
	sketchWidth = 1 << 16
)

// sketch is a count-min sketch of TATs for keys evicted while still in
// penalty. Each cell holds the largest TAT folded into it; a key's estimate
// is the smallest of its cells. Since every cell of a folded key is at
// least that key's TAT, the estimate is never earlier than the truth:
// collisions can only make a key look more penalised. A cell whose TAT is
// at or before now is as good as empty, so cells never need clearing.
//
// Cells are atomics rather than lock-guarded so that shards folding keys
// concurrently need no shared lock. The zero value is an empty sketch.
type sketch struct {
	cells [sketchDepth][sketchWidth]atomic.Int64
}

// index returns the cell of hash h in row. h comes from a secretly seeded
// hash, so the rows' cells cannot be aimed at; mixing with a per-row
// constant makes the rows independent.
func (s *sketch) index(h uint64, row int) uint32 {
	return uint32(mix64(h+uint64(row+1)*0x9e3779b97f4a7c15)) & (sketchWidth - 1)
}

// fold records that the key with hash h has TAT tat.
func (s *sketch) fold(h uint64, tat int64) {
	for row := range sketchDepth {
		c := &s.cells[row][s.index(h, row)]
		for {
			old := c.Load()
			if old >= tat || c.CompareAndSwap(old, tat) {
				break
			}
		}
	}
}

// estimate returns a TAT no earlier than that of any key with hash h
// folded so far (zero, the distant past, if none was).
func (s *sketch) estimate(h uint64) int64 {
	est := int64(math.MaxInt64)
	for row := range sketchDepth {
		est = min(est, s.cells[row][s.index(h, row)].Load())
	}
	return est
}

// fill returns the fraction of cells still in penalty at now.
func (s *sketch) fill(now int64) float64 {
	n := 0
	for row := range s.cells {
		for i := range s.cells[row] {
			if s.cells[row][i].Load() > now {
				n++
			}
		}
	}
	return float64(n) / float64(sketchDepth*sketchWidth)
}

// mix64 is the splitmix64 finaliser: a fast bijective bit mixer.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
