package bounded // import "github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/bounded"

import "sync/atomic"

// Tally counts what a bound refused or forgot until the component's
// telemetry takes the count: the one way every bounded state reports its
// drops. It is safe for concurrent use.
type Tally struct{ n atomic.Int64 }

// Add counts n more.
func (t *Tally) Add(n int64) { t.n.Add(n) }

// Take returns the count since the previous Take, and resets it.
func (t *Tally) Take() int64 { return t.n.Swap(0) }
