package trainticket

import (
	"cmp"
	"encoding/binary"
	"math"
	"math/bits"
	"runtime"
	"slices"
	"sort"
	"sync"
)

// span is one loaded span, kept small: the trastrainer folder holds about a
// million of them.
type span struct {
	spanID   [8]byte
	parentID [8]byte // zero for a root span
	start    int64   // Unix ns
	end      int64   // Unix ns
	trace    uint32  // index into Reader.traceIDs
	pod      uint32  // index into Reader.pods
	op       uint32  // index into Reader.ops
}

func (fd *fileData) readTraces(path string) error {
	c, hdr, err := openPlainCSV(path)
	if err != nil {
		return err
	}
	if hdr == nil {
		fd.stats.FilesSkipped++
		return nil
	}
	defer c.close()
	col, err := columns(path, hdr, "TraceID", "SpanID", "ParentID", "PodName", "OperationName",
		"StartTimeUnixNano", "EndTimeUnixNano")
	if err != nil {
		return err
	}
	iTrace, iSpan, iParent, iPod, iOp, iStart, iEnd := col[0], col[1], col[2], col[3], col[4], col[5], col[6]
	need := slices.Max(col) + 1
	st := &fd.stats
	err = c.each(&st.SpanRowsSkipped, func(rec []string) bool {
		var s span
		var traceID [16]byte
		if len(rec) < need || rec[iPod] == "" ||
			!parseHex(traceID[:], rec[iTrace]) || !parseHex(s.spanID[:], rec[iSpan]) {
			return false
		}
		if p := rec[iParent]; p != "root" && p != "" && !parseHex(s.parentID[:], p) {
			return false
		}
		var ok1, ok2 bool
		s.start, ok1 = atoi64(rec[iStart])
		s.end, ok2 = atoi64(rec[iEnd])
		if !ok1 || !ok2 || s.start <= 0 || s.end < s.start {
			return false
		}
		s.trace = fd.traces.intern(traceID)
		s.pod = fd.pods.intern(rec[iPod])
		s.op = fd.ops.intern(rec[iOp])
		fd.spans = append(fd.spans, s)
		return true
	})
	if err != nil {
		return err
	}
	st.Files++
	return nil
}

// atoi64 parses a non-negative decimal int64, without strconv.ParseInt's
// generality (signs, bases, underscores), which shows in a loop over a
// million rows.
func atoi64(s string) (int64, bool) {
	if len(s) == 0 || len(s) > 19 {
		return 0, false
	}
	var n uint64
	for i := 0; i < len(s); i++ {
		d := s[i] - '0'
		if d > 9 {
			return 0, false
		}
		n = n*10 + uint64(d)
	}
	if n > math.MaxInt64 {
		return 0, false
	}
	return int64(n), true
}

// finishSpans drops duplicates and puts the spans in emission (end time)
// order. chunks are the files' spans in read order.
func (r *Reader) finishSpans(chunks [][]span) {
	// Group the spans by trace with a stable counting sort: linear, and it
	// keeps the read order within a trace, so that the first read of a
	// duplicate is the one kept.
	off := make([]int, len(r.traceIDs)+1)
	n := 0
	for _, c := range chunks {
		for i := range c {
			off[c[i].trace+1]++
		}
		n += len(c)
	}
	if n == 0 {
		return
	}
	for i := 1; i < len(off); i++ {
		off[i] += off[i-1]
	}
	pos := slices.Clone(off)
	byTrace := make([]span, n)
	for ci, c := range chunks {
		for i := range c {
			t := c[i].trace
			byTrace[pos[t]] = c[i]
			pos[t]++
		}
		chunks[ci] = nil // let it go
	}

	// Traces are independent: share them out over the cores, in parts of
	// about equal span counts. Each part compacts its own range.
	parts := parallelism(n)
	cuts := make([]int, parts+1) // first trace of each part
	for p := 1; p < parts; p++ {
		cuts[p] = sort.SearchInts(off, p*n/parts)
	}
	cuts[parts] = len(r.traceIDs)
	type result struct{ lo, hi, dups int }
	res := make([]result, parts)
	runParts(parts, func(p int) {
		var ids idSet
		lo := off[cuts[p]]
		w, dups := lo, 0
		for t := cuts[p]; t < cuts[p+1]; t++ {
			tr := byTrace[off[t]:off[t+1]]
			ids.reset(len(tr))
			k := 0
			for i := range tr {
				if !ids.add(tr[i].spanID) {
					dups++
					continue
				}
				tr[k] = tr[i]
				k++
			}
			w += copy(byTrace[w:], tr[:k]) // w <= off[t]: no overlap ahead
		}
		res[p] = result{lo, w, dups}
	})
	w := 0
	for _, pr := range res {
		w += copy(byTrace[w:], byTrace[pr.lo:pr.hi])
		r.stats.SpanDuplicates += pr.dups
	}
	r.stats.Spans = w
	r.spans = sortByEnd(byTrace[:w])
}

// minParallel is the number of items from which work is shared out over the
// cores: below it, starting goroutines costs more than it saves. A variable
// for tests.
var minParallel = 1 << 16

// parallelism is how many goroutines share work on n items.
func parallelism(n int) int {
	if n < minParallel {
		return 1
	}
	return min(runtime.GOMAXPROCS(0), n)
}

// runParts calls f(0), ..., f(parts-1) concurrently and waits for them.
func runParts(parts int, f func(p int)) {
	if parts == 1 {
		f(0)
		return
	}
	var wg sync.WaitGroup
	for p := range parts {
		wg.Go(func() { f(p) })
	}
	wg.Wait()
}

// idSet is an open-addressing hash set of span IDs, for one trace at a
// time: cheaper than a map of a million IDs or sorting each trace. The zero
// ID (invalid, never loaded) marks an empty slot.
type idSet struct {
	keys  []uint64
	shift uint
}

func (t *idSet) reset(n int) {
	size := 16
	for size < 2*n {
		size *= 2
	}
	if size > len(t.keys) {
		t.keys = make([]uint64, size)
	} else {
		t.keys = t.keys[:size]
		clear(t.keys)
	}
	t.shift = uint(64 - bits.TrailingZeros(uint(size)))
}

func (t *idSet) slot(key uint64) int {
	return int((key * 0x9e3779b97f4a7c15) >> t.shift)
}

// add inserts id; false if it is already there.
func (t *idSet) add(id [8]byte) bool {
	key := binary.LittleEndian.Uint64(id[:])
	mask := len(t.keys) - 1
	for i := t.slot(key); ; i = (i + 1) & mask {
		switch t.keys[i] {
		case key:
			return false
		case 0:
			t.keys[i] = key
			return true
		}
	}
}

// sortByEnd orders spans by end time with a bucket sort: the end times are
// spread over hours, so buckets of about two spans each leave almost nothing
// to compare. Skewed data only makes some buckets bigger, not the result
// wrong.
func sortByEnd(spans []span) []span {
	if len(spans) < 2 {
		return spans
	}
	lo, hi := spans[0].end, spans[0].end
	for i := range spans {
		lo, hi = min(lo, spans[i].end), max(hi, spans[i].end)
	}
	nb := uint64(len(spans)/2 + 1)
	width := (uint64(hi)-uint64(lo))/nb + 1
	bucket := func(s *span) uint64 { return (uint64(s.end) - uint64(lo)) / width }
	off := make([]int, nb+1)
	for i := range spans {
		off[bucket(&spans[i])+1]++
	}
	for i := 1; i < len(off); i++ {
		off[i] += off[i-1]
	}
	pos := slices.Clone(off)
	sorted := make([]span, len(spans))
	for i := range spans {
		b := bucket(&spans[i])
		sorted[pos[b]] = spans[i]
		pos[b]++
	}
	parts := parallelism(len(spans))
	runParts(parts, func(p int) {
		// Parts of about equal span counts.
		from := sort.SearchInts(off, p*len(spans)/parts)
		to := sort.SearchInts(off, (p+1)*len(spans)/parts)
		if p == parts-1 {
			to = len(off) - 1
		}
		for b := from; b < to; b++ {
			if off[b+1]-off[b] > 1 {
				slices.SortFunc(sorted[off[b]:off[b+1]], func(a, b span) int { return cmp.Compare(a.end, b.end) })
			}
		}
	})
	return sorted
}

// floorDiv is a/b rounded down (b > 0).
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b < 0 {
		q--
	}
	return q
}
