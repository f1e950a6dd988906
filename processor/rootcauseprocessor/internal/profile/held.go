package profile

import "math/rand/v2"

// maxHeldSamples bounds the normal samples a bucket holds until it leaves
// the window. Below it a reference learns every sample, as before; above
// it, a uniform sample of maxHeldSamples, each standing for its share of
// the samples the bucket saw, so that a busy bucket weighs in the reference
// as much as it did. 1,024 a bucket is over 12,000 a window: the p99 of a
// key's window alone rests on more than a hundred samples beyond it, while
// the state held no longer grows with the traffic (a service's 10k parts a
// second at three levels held 3.6 MB over the window, the diagnosis's
// largest state, and the rootcause's memory beyond tail_sampling's).
const maxHeldSamples = 1024

// heldSamples are a bucket's normal samples waiting to leave the window, as
// their reference bins (see sampleBins): all of them up to maxHeldSamples,
// then a reservoir sample of them (Vitter's algorithm R).
type heldSamples struct {
	bins []int16
	seen int // samples offered since the bucket started
}

func (h *heldSamples) add(bin int16, rng *rand.Rand) {
	h.seen++
	if len(h.bins) < maxHeldSamples {
		h.bins = append(h.bins, bin)
		return
	}
	if i := rng.IntN(h.seen); i < maxHeldSamples {
		h.bins[i] = bin
	}
}

// each yields the samples held with how many samples each stands for: 1
// until the reservoir filled, then the samples seen spread over those held,
// adding up to the samples seen.
func (h *heldSamples) each(yield func(bin int16, count int) bool) {
	n := len(h.bins)
	if n == 0 {
		return
	}
	base, extra := h.seen/n, h.seen%n
	for i, bin := range h.bins {
		c := base
		if i < extra {
			c++
		}
		if !yield(bin, c) {
			return
		}
	}
}

// reset empties the samples for the bucket's next use, and gives back the
// room of a burst: a bucket that held many times what it holds now keeps
// none.
func (h *heldSamples) reset() {
	if cap(h.bins) > 64 && len(h.bins) < cap(h.bins)/4 {
		h.bins = nil
	}
	h.bins = h.bins[:0]
	h.seen = 0
}
