// Package opname bounds the operation names the processor learns from.
//
// Span names are meant to have few values per service (the semantic
// conventions name an HTTP server span by its route, not its URL), but an
// instrumentation that puts an ID or a raw path into the name makes every
// request a new operation, and so does a client that sends made-up names on
// purpose. Each new operation takes a baseline, a profile and a log-template
// slot; unbounded, they would crowd out the operations that matter. The
// Guard holds a service's first names at once and, beyond them, a name from
// its second sighting (a name seen once has nothing to learn from, and a
// made-up one is never seen again); it lets each service have a fixed
// number of names, keeps the names used most recently when the total is
// full, and folds the rest into Other, which is learned and judged like any
// operation.
package opname // import "github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/opname"

import (
	"hash/maphash"

	"github.com/hashicorp/golang-lru/v2/simplelru"

	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/bounded"
)

// Other is the operation that a service's names beyond its limit, and the
// first sightings of names beyond its first heldOnSight, fold into.
const Other = "(other)"

type key struct{ service, name string }

// Guard maps span names to the operation names that are learned. It is not
// safe for concurrent use: its owner locks.
type Guard struct {
	perService int
	names      *simplelru.LRU[key, struct{}]
	counts     map[string]int // names held per service
	folded     bounded.Tally
	// sighted remembers, by hash, names seen once and not held: a name is
	// held from its second sighting while its first is remembered. A slot
	// holds the latest name that hashed to it; a flood of names seen once
	// overwrites the slots within about len(sighted) names, so that a real
	// operation must recur within that many made-up names to be held.
	sighted []uint64
	seed    maphash.Seed
}

// New returns a Guard that keeps at most perService names per service and
// total names in all. Both must be positive.
func New(perService, total int) *Guard {
	g := &Guard{perService: perService, counts: map[string]int{}, seed: maphash.MakeSeed()}
	g.sighted = make([]uint64, sightedSlots(total))
	names, err := simplelru.NewLRU(total, func(k key, _ struct{}) {
		if g.counts[k.service]--; g.counts[k.service] <= 0 {
			delete(g.counts, k.service)
		}
	})
	if err != nil {
		panic(err) // total is validated positive by the configuration
	}
	g.names = names
	return g
}

// sightedSlots is the slots remembering names seen once: twice the names
// held, a power of two, so that the real names not held yet rarely share a
// slot.
func sightedSlots(total int) int {
	n := 1
	for n < 2*total {
		n <<= 1
	}
	return n
}

// heldOnSight is how many of a service's names are held on their first
// sighting: a service that follows the semantic conventions (a span named
// by its route, not its URL) has a few dozen operations at most, and one
// that has more is putting IDs in its names; from then on a name must
// recur.
const heldOnSight = 32

// Name returns the operation name to learn and judge a span of service
// named name under: name itself when it is held already, or the service
// holds fewer than heldOnSight names, or it was sighted before, until the
// service holds perService names; Other otherwise. When all
// services together hold total names, the name used least recently is
// forgotten to make room: a burst of made-up names ages out while the
// operations with traffic stay.
func (g *Guard) Name(service, name string) string {
	k := key{service, name}
	if _, ok := g.names.Get(k); ok {
		return name
	}
	held := g.counts[service]
	if held >= g.perService || held >= heldOnSight && !g.sightedBefore(service, name) {
		g.folded.Add(1)
		return Other
	}
	g.names.Add(k, struct{}{})
	g.counts[service]++
	return name
}

// sightedBefore reports whether the name's first sighting is remembered,
// and remembers this one otherwise.
func (g *Guard) sightedBefore(service, name string) bool {
	var h maphash.Hash
	h.SetSeed(g.seed)
	h.WriteString(service)
	h.WriteByte(0)
	h.WriteString(name)
	sum := h.Sum64() | 1 // never 0, the empty slot
	slot := &g.sighted[sum&uint64(len(g.sighted)-1)]
	if *slot == sum {
		*slot = 0
		return true
	}
	*slot = sum
	return false
}

// TakeFolded returns, and resets, the spans whose name was folded into Other.
func (g *Guard) TakeFolded() int64 { return g.folded.Take() }
