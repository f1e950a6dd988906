package profile

import (
	"testing"

	"github.com/DataDog/sketches-go/ddsketch"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A sample held as its bin is learned by a reference exactly as the sample
// itself would be, and is within the references' accuracy of it.
func TestAHeldSampleIsLearnedAsTheSampleItself(t *testing.T) {
	for _, seconds := range []float64{0, -1, 1e-12, 1e-9, 0.000_137, 0.031, 1.5, 2_000, 3e9} {
		got := decodeSample(encodeSample(seconds))
		if seconds < sampleBins.MinIndexableValue() {
			assert.Zero(t, got, "%g s", seconds)
			continue
		}
		assert.InEpsilon(t, seconds, got, relativeAccuracy, "%g s", seconds)

		direct, err := ddsketch.LogCollapsingLowestDenseDDSketch(relativeAccuracy, maxBins)
		require.NoError(t, err)
		held, err := ddsketch.LogCollapsingLowestDenseDDSketch(relativeAccuracy, maxBins)
		require.NoError(t, err)
		require.NoError(t, direct.Add(seconds))
		require.NoError(t, held.Add(got))
		want, err := direct.GetValueAtQuantile(0.5)
		require.NoError(t, err)
		have, err := held.GetValueAtQuantile(0.5)
		require.NoError(t, err)
		assert.Equal(t, sampleBins.Index(want), sampleBins.Index(have), "%g s lands in another bin", seconds)
	}
}
