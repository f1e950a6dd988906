package opname

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestAServiceBeyondItsLimitFoldsNewNamesIntoOther(t *testing.T) {
	g := New(2, 100)
	assert.Equal(t, "GET /a", g.Name("shop", "GET /a"))
	assert.Equal(t, "GET /b", g.Name("shop", "GET /b"))
	assert.Equal(t, Other, g.Name("shop", "GET /order/7"), "shop has its two names")
	assert.Equal(t, Other, g.Name("shop", "GET /order/8"))
	assert.Equal(t, "GET /a", g.Name("shop", "GET /a"), "a name held keeps its identity")
	assert.Equal(t, "GET /a", g.Name("cart", "GET /a"), "the limit is per service")
	assert.Equal(t, int64(2), g.TakeFolded())
	assert.Zero(t, g.TakeFolded(), "taken once")
}

func TestAFullGuardForgetsTheNameUsedLeastRecently(t *testing.T) {
	g := New(1000, 3)
	g.Name("shop", "GET /")
	for i := range 50 { // made-up names, from a flood of fake services
		g.Name(fmt.Sprintf("fake-%d", i), "x")
		g.Name("shop", "GET /") // real traffic keeps its name recent
	}
	assert.Equal(t, "GET /", g.Name("shop", "GET /"))
	assert.Equal(t, "POST /pay", g.Name("pay", "POST /pay"), "a real new operation still gets a name of its own")
	assert.Zero(t, g.TakeFolded())
	assert.LessOrEqual(t, g.names.Len(), 3)
	assert.LessOrEqual(t, len(g.counts), 3, "the services of forgotten names are forgotten too")
}
