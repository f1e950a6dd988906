// Package opname bounds the operation names the processor learns from.
//
// Span names are meant to have few values per service (the semantic
// conventions name an HTTP server span by its route, not its URL), but an
// instrumentation that puts an ID or a raw path into the name makes every
// request a new operation, and so does a client that sends made-up names on
// purpose. Each new operation takes a baseline, a profile and a log-template
// slot; unbounded, they would crowd out the operations that matter. The
// Guard lets each service have a fixed number of names, keeps the names used
// most recently when the total is full, and folds the rest into Other, which
// is learned and judged like any operation.
package opname // import "github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/opname"

import (
	"github.com/hashicorp/golang-lru/v2/simplelru"

	"github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/bounded"
)

// Other is the operation that a service's names beyond its limit fold into.
const Other = "(other)"

type key struct{ service, name string }

// Guard maps span names to the operation names that are learned. It is not
// safe for concurrent use: its owner locks.
type Guard struct {
	perService int
	names      *simplelru.LRU[key, struct{}]
	counts     map[string]int // names held per service
	folded     bounded.Tally
}

// New returns a Guard that keeps at most perService names per service and
// total names in all. Both must be positive.
func New(perService, total int) *Guard {
	g := &Guard{perService: perService, counts: map[string]int{}}
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

// Name returns the operation name to learn and judge a span of service
// named name under: name itself while the service has room for it (or it is
// held already), Other once the service has perService names. When all
// services together hold total names, the name used least recently is
// forgotten to make room: a burst of made-up names ages out while the
// operations with traffic stay.
func (g *Guard) Name(service, name string) string {
	k := key{service, name}
	if _, ok := g.names.Get(k); ok {
		return name
	}
	if g.counts[service] >= g.perService {
		g.folded.Add(1)
		return Other
	}
	g.names.Add(k, struct{}{})
	g.counts[service]++
	return name
}

// TakeFolded returns, and resets, the spans whose name was folded into Other.
func (g *Guard) TakeFolded() int64 { return g.folded.Take() }
