package scan

import (
	"math"
	"slices"
)

// mannWhitney returns the exact two-sided p-value of the Mann-Whitney U
// test (Wilcoxon rank-sum) for samples a and b: the probability, if both
// came from one distribution, of a rank sum at least as far from its mean
// as the one observed. Ties get mid-ranks and the null distribution is
// enumerated over every split of the pooled ranks, so the p-value is exact
// with ties too. It is meant for the small samples the scanner takes
// (C(len(a)+len(b), len(a)) must stay small: a few tens of thousands).
//
// A rank test suits response times: it needs no normality, and one
// request stalled by a garbage collection or a busy neighbour moves one
// rank, not the mean.
func mannWhitney(a, b []float64) float64 {
	n, m := len(a), len(b)
	if n == 0 || m == 0 {
		return 1
	}
	pooled := append(slices.Clone(a), b...)
	ranks := midRanks(pooled)
	// Work in doubled ranks so that mid-ranks stay integers.
	r2 := make([]int, len(ranks))
	for i, r := range ranks {
		r2[i] = int(math.Round(2 * r))
	}
	obs := 0
	for i := range n {
		obs += r2[i]
	}
	total := 0
	for _, r := range r2 {
		total += r
	}
	// The mean of the doubled rank sum of n of N items is n*total/N;
	// compare deviations in units of N to stay in integers.
	N := n + m
	dev := func(sum int) int { return abs(sum*N - n*total) }
	obsDev := dev(obs)
	var extreme, all int
	// Enumerate every n-subset of the pooled indexes.
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	for {
		sum := 0
		for _, i := range idx {
			sum += r2[i]
		}
		all++
		if dev(sum) >= obsDev {
			extreme++
		}
		// next combination
		i := n - 1
		for i >= 0 && idx[i] == N-n+i {
			i--
		}
		if i < 0 {
			break
		}
		idx[i]++
		for j := i + 1; j < n; j++ {
			idx[j] = idx[j-1] + 1
		}
	}
	return float64(extreme) / float64(all)
}

// midRanks ranks xs from 1, giving tied values the mean of their ranks.
func midRanks(xs []float64) []float64 {
	order := make([]int, len(xs))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(i, j int) int {
		switch {
		case xs[i] < xs[j]:
			return -1
		case xs[i] > xs[j]:
			return 1
		}
		return 0
	})
	ranks := make([]float64, len(xs))
	for i := 0; i < len(order); {
		j := i
		for j+1 < len(order) && xs[order[j+1]] == xs[order[i]] {
			j++
		}
		r := float64(i+j)/2 + 1
		for k := i; k <= j; k++ {
			ranks[order[k]] = r
		}
		i = j + 1
	}
	return ranks
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(xs))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
