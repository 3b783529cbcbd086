package scan

import (
	"math"
	"testing"
)

func TestMannWhitney(t *testing.T) {
	tests := []struct {
		name string
		a, b []float64
		want float64
	}{
		// Complete separation of 5 and 5: 2 of C(10,5) = 252 splits.
		{"separated 5+5", []float64{30, 31, 32, 33, 34}, []float64{1, 2, 3, 4, 5}, 2.0 / 252},
		{"separated 8+8", []float64{40, 41, 42, 43, 44, 45, 46, 47}, []float64{1, 2, 3, 4, 5, 6, 7, 8}, 2.0 / 12870},
		{"identical", []float64{1, 1, 1}, []float64{1, 1, 1}, 1},
		{"interleaved", []float64{1, 3, 5, 7, 9}, []float64{2, 4, 6, 8, 10}, 0.690476},
		{"empty", nil, []float64{1}, 1},
	}
	for _, tt := range tests {
		if got := mannWhitney(tt.a, tt.b); math.Abs(got-tt.want) > 1e-5 {
			t.Errorf("%s: p = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestMidRanks(t *testing.T) {
	got := midRanks([]float64{10, 20, 10, 30})
	want := []float64{1.5, 3, 1.5, 4}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("ranks %v, want %v", got, want)
		}
	}
}
