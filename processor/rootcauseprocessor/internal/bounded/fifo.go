// Package bounded holds the processor's bounded memory: a map that keeps at
// most a fixed number of keys and forgets the oldest first.
package bounded // import "github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/bounded"

import "iter"

// FIFO is a map that keeps at most max keys: a key put into a full FIFO
// takes the place of the oldest key put (first in, first out). Updating a
// key's value does not make it younger. It grows as keys come (nothing is
// preallocated) and is not safe for concurrent use: its owner locks.
type FIFO[K comparable, V any] struct {
	max   int
	items map[K]V
	order []K // the keys in the order they were put, a ring once full
	next  int // the ring slot of the oldest key once full
}

// NewFIFO returns an empty FIFO of at most max keys; max ≤ 0 keeps none.
func NewFIFO[K comparable, V any](max int) *FIFO[K, V] {
	return &FIFO[K, V]{max: max, items: map[K]V{}}
}

// Get returns the value of k.
func (f *FIFO[K, V]) Get(k K) (V, bool) {
	v, ok := f.items[k]
	return v, ok
}

// Put sets the value of k. A new key in a full FIFO forgets the oldest key
// still held: Put returns its value and true.
func (f *FIFO[K, V]) Put(k K, v V) (forgotten V, ok bool) {
	if f.max <= 0 {
		return forgotten, false
	}
	if _, held := f.items[k]; held {
		f.items[k] = v
		return forgotten, false
	}
	if len(f.order) < f.max {
		f.order = append(f.order, k)
	} else {
		oldest := f.order[f.next]
		// A key deleted since it was put leaves its slot; nothing is forgotten.
		forgotten, ok = f.items[oldest]
		delete(f.items, oldest)
		f.order[f.next] = k
		f.next = (f.next + 1) % f.max
	}
	f.items[k] = v
	return forgotten, ok
}

// Delete forgets k.
func (f *FIFO[K, V]) Delete(k K) { delete(f.items, k) }

// DeleteFunc forgets the keys for which del returns true.
func (f *FIFO[K, V]) DeleteFunc(del func(K, V) bool) {
	for k, v := range f.items {
		if del(k, v) {
			delete(f.items, k)
		}
	}
}

// Len is the number of keys held.
func (f *FIFO[K, V]) Len() int { return len(f.items) }

// All yields the keys held and their values, in no order.
func (f *FIFO[K, V]) All() iter.Seq2[K, V] {
	return func(yield func(K, V) bool) {
		for k, v := range f.items {
			if !yield(k, v) {
				return
			}
		}
	}
}
