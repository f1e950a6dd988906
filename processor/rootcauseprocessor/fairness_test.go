package rootcauseprocessor

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A busy operation's normal traffic does not hide a fault of a low-rate
// operation of the same service: the slow operation is published while the
// flood goes on, as it would be alone. The shape of the flood seen under
// real load: 100 normal requests a second to catalog's product list, one a
// second to its product page, whose query turns 100 times slower.
func TestABusyOperationDoesNotHideAnotherOperationsFault(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	h := newHarness(t, cfg)
	r := rand.New(rand.NewPCG(5, 6))
	const (
		busyPerSecond = 100
		warmup        = 3 * time.Minute
		fault         = 30 * time.Second
	)
	n := uint64(0)
	second := func(at time.Time, faulty bool) {
		for i := range busyPerSecond {
			n++
			b := newTrace(n, at.Add(time.Duration(i)*time.Second/busyPerSecond))
			q := jitter(r, 5)
			root := b.span(nil, "catalog", "GET /products", server, 0, 2+q)
			b.span(&root, "catalog", "SELECT products", client, 1, 1+q, dbAttrs("SELECT", "products"))
			h.consume(b.td, b.ld)
		}
		n++
		b := newTrace(n, at.Add(500*time.Millisecond))
		q := jitter(r, 20)
		if faulty {
			q = jitter(r, 2000)
		}
		root := b.span(nil, "catalog", "GET /products/{id}", server, 0, 8+q)
		b.span(&root, "catalog", "SELECT product", client, 3, 3+q, dbAttrs("SELECT", "product"))
		h.consume(b.td, b.ld)
		h.advance(time.Second)
	}
	for s := range int(warmup / time.Second) {
		second(epoch.Add(time.Duration(s)*time.Second), false)
	}
	require.Empty(t, h.incidentRecords(), "no incident before the fault")
	start := epoch.Add(warmup)
	for s := range int(fault / time.Second) {
		second(start.Add(time.Duration(s)*time.Second), true)
	}
	recs := h.incidentRecords()
	require.NotEmpty(t, recs, "the slow product page is published within %v while the product list is busy", fault)
	a := recs[0].Attributes().AsRaw()
	assert.Equal(t, "catalog", a["rca.culprit.service"])
	assert.Contains(t, a["rca.culprit.operation"], "product")
}
