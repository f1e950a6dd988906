package profile

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/DataDog/sketches-go/ddsketch"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A quiet bucket is learned sample by sample, as it always was.
func TestAQuietBucketHoldsEverySample(t *testing.T) {
	var h heldSamples
	rng := rand.New(rand.NewPCG(1, 2))
	want := []int16{3, 1, 4, 1, 5, 9, 2, 6}
	for _, b := range want {
		h.add(b, rng)
	}
	var got []int16
	for bin, count := range h.each {
		assert.Equal(t, 1, count)
		got = append(got, bin)
	}
	assert.Equal(t, want, got)
}

// A busy bucket holds maxHeldSamples whatever the traffic, and a reference
// learned from them has the quantiles of one learned from every sample.
func TestABusyBucketHoldsABoundedSampleThatLearnsTheSameQuantiles(t *testing.T) {
	var h heldSamples
	rng := rand.New(rand.NewPCG(1, 2))
	all, err := ddsketch.LogCollapsingLowestDenseDDSketch(relativeAccuracy, maxBins)
	require.NoError(t, err)
	data := rand.New(rand.NewPCG(7, 7))
	const n = 50_000
	for range n {
		seconds := 0.02 * math.Exp(0.6*data.NormFloat64()) // log-normal latencies around 20 ms
		require.NoError(t, all.Add(seconds))
		h.add(encodeSample(seconds), rng)
	}
	assert.Len(t, h.bins, maxHeldSamples)

	held, err := ddsketch.LogCollapsingLowestDenseDDSketch(relativeAccuracy, maxBins)
	require.NoError(t, err)
	total := 0
	for bin, count := range h.each {
		total += count
		require.NoError(t, held.AddWithCount(decodeSample(bin), float64(count)))
	}
	assert.Equal(t, n, total, "the samples held stand for every sample seen")
	for _, q := range []float64{0.5, 0.9, 0.99} {
		want, err := all.GetValueAtQuantile(q)
		require.NoError(t, err)
		got, err := held.GetValueAtQuantile(q)
		require.NoError(t, err)
		assert.InEpsilon(t, want, got, 0.1, "p%g", q*100)
	}

	// The room of the burst is given back once the bucket is quiet again.
	h.reset()
	h.add(1, rng)
	h.reset()
	assert.Zero(t, cap(h.bins))
	assert.Zero(t, h.seen)
}

// A reference halves its history once for every HalfLife observations it
// passes, whether they come one at a time or counted together.
func TestAReferenceHalvesOncePerHalfLifePassed(t *testing.T) {
	p := New(Options{Window: time.Minute, Quantile: 0.99, HalfLife: 10})
	n, total := 0, 0
	for range 25 {
		total += p.halvings(&n, 1)
	}
	assert.Equal(t, 2, total)
	assert.Equal(t, 3, p.halvings(&n, 30), "25 → 55 passes 30, 40 and 50")
	assert.Equal(t, 0, New(Options{Window: time.Minute, Quantile: 0.99}).halvings(&n, 100), "no half-life, no halving")
}
