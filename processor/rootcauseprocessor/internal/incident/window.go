package incident // import "github.com/otelcol-rca/otelcol-rca/processor/rootcauseprocessor/internal/incident"

import "time"

// windowBuckets is the resolution of a windowCounter: the window is split
// into this many buckets, so a count covers between (n-1)/n and all of it.
const windowBuckets = 12

// windowCounter counts events within a sliding window of processing time.
type windowCounter struct {
	counts [windowBuckets]int64
	// last is the bucket number (time / bucket width) of the newest count.
	last int64
}

func bucketOf(now time.Time, window time.Duration) int64 {
	w := int64(window) / windowBuckets
	if w <= 0 {
		w = 1
	}
	return now.UnixNano() / w
}

// roll clears the buckets that fell out of the window by now.
func (c *windowCounter) roll(b int64) {
	if b <= c.last {
		return
	}
	if b-c.last >= windowBuckets {
		c.counts = [windowBuckets]int64{}
	} else {
		for i := c.last + 1; i <= b; i++ {
			c.counts[i%windowBuckets] = 0
		}
	}
	c.last = b
}

func (c *windowCounter) add(now time.Time, window time.Duration) { c.addN(now, window, 1) }

func (c *windowCounter) addN(now time.Time, window time.Duration, n int64) {
	b := bucketOf(now, window)
	c.roll(b)
	if b < c.last-windowBuckets+1 {
		return // older than the window
	}
	c.counts[b%windowBuckets] += n
}

func (c *windowCounter) sum(now time.Time, window time.Duration) int64 {
	c.roll(bucketOf(now, window))
	var n int64
	for _, v := range c.counts {
		n += v
	}
	return n
}
