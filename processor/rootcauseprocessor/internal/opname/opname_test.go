package opname

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
)

// name returns what the guard learns a recurring name as: its second sighting.
func name(g *Guard, service, name string) string {
	g.Name(service, name)
	return g.Name(service, name)
}

func TestAServiceBeyondItsLimitFoldsNewNamesIntoOther(t *testing.T) {
	g := New(2, 100)
	assert.Equal(t, "GET /a", g.Name("shop", "GET /a"))
	assert.Equal(t, "GET /b", g.Name("shop", "GET /b"))
	assert.Equal(t, Other, name(g, "shop", "GET /order/7"), "shop has its two names")
	assert.Equal(t, "GET /a", g.Name("shop", "GET /a"), "a name held keeps its identity")
	assert.Equal(t, "GET /a", g.Name("cart", "GET /a"), "the limit is per service")
	assert.Equal(t, int64(2), g.TakeFolded())
	assert.Zero(t, g.TakeFolded(), "taken once")
}

func TestBeyondItsFirstNamesAServiceNamesAnOperationByRecurring(t *testing.T) {
	g := New(1000, 1000)
	for i := range heldOnSight {
		assert.Equal(t, fmt.Sprintf("GET /route/%d", i), g.Name("shop", fmt.Sprintf("GET /route/%d", i)), "a service's first names are held at once")
	}
	for i := range 10_000 {
		// An ID in every span name, and a real operation among them.
		assert.Equal(t, Other, g.Name("shop", fmt.Sprintf("GET /order/%d", i)))
		if i%50 == 0 {
			g.Name("shop", "GET /cart")
		}
	}
	assert.Equal(t, "GET /cart", g.Name("shop", "GET /cart"), "the real operation recurs, and is held")
	assert.Equal(t, heldOnSight+1, g.names.Len(), "no name seen once takes a place")
	// Every name seen once, and GET /cart until it recurred while its first
	// sighting was remembered (a made-up name may take its slot first).
	assert.GreaterOrEqual(t, g.TakeFolded(), int64(10_001), "every name seen once is counted as folded")
}

func TestAFullGuardForgetsTheNameUsedLeastRecently(t *testing.T) {
	g := New(1000, 3)
	name(g, "shop", "GET /")
	for i := range 50 { // made-up names that recur, from a flood of fake services
		name(g, fmt.Sprintf("fake-%d", i), "x")
		g.Name("shop", "GET /") // real traffic keeps its name recent
	}
	assert.Equal(t, "GET /", g.Name("shop", "GET /"))
	assert.Equal(t, "POST /pay", name(g, "pay", "POST /pay"), "a real new operation still gets a name of its own")
	assert.LessOrEqual(t, g.names.Len(), 3)
	assert.LessOrEqual(t, len(g.counts), 3, "the services of forgotten names are forgotten too")
}
