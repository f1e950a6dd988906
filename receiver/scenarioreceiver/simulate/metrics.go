package simulate // import "github.com/otelcol-rca/otelcol-rca/receiver/scenarioreceiver/simulate"

import (
	"math"
	"strconv"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// Explicit bucket bounds in seconds: the semantic conventions' HTTP buckets,
// extended so that the tail of a timeout storm stays visible.
var bounds = []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 15, 20, 30, 60}

type kv struct {
	k     string
	s     string
	i     int64
	isInt bool
}

type skey struct {
	a, b int
	s    string
}

type histSeries struct {
	attrs    []kv
	count    uint64
	sum      float64
	min, max float64
	buckets  []uint64
}

type hist struct {
	name, unit, desc string
	series           []*histSeries
	idx              map[skey]*histSeries
}

func newHist(name, unit, desc string) *hist {
	return &hist{name: name, unit: unit, desc: desc, idx: map[skey]*histSeries{}}
}

func (h *hist) record(k skey, attrs func() []kv, v float64) {
	s := h.idx[k]
	if s == nil {
		s = &histSeries{attrs: attrs(), buckets: make([]uint64, len(bounds)+1), min: math.Inf(1), max: math.Inf(-1)}
		h.idx[k] = s
		h.series = append(h.series, s)
	}
	s.count++
	s.sum += v
	s.min = min(s.min, v)
	s.max = max(s.max, v)
	i := 0
	for i < len(bounds) && v > bounds[i] {
		i++
	}
	s.buckets[i]++
}

type sumSeries struct {
	attrs []kv
	value int64
}

type sum struct {
	name, unit, desc string
	monotonic        bool
	series           []*sumSeries
	idx              map[skey]*sumSeries
}

func newSum(name, unit, desc string) *sum {
	return &sum{name: name, unit: unit, desc: desc, monotonic: true, idx: map[skey]*sumSeries{}}
}

func (c *sum) add(k skey, attrs func() []kv, v int64) {
	s := c.idx[k]
	if s == nil {
		s = &sumSeries{attrs: attrs()}
		c.idx[k] = s
		c.series = append(c.series, s)
	}
	s.value += v
}

type opMetric struct {
	cm *customMetric
	h  *hist
	c  *sum
}

type serviceMetrics struct {
	svc      *service
	server   *hist
	client   *hist
	db       *hist
	wait     *hist
	timeouts *sum
	custom   [][]opMetric // per operation
	order    []opMetric   // distinct instruments, in declaration order
}

func newServiceMetrics(s *service) *serviceMetrics {
	m := &serviceMetrics{
		svc:      s,
		server:   newHist("http.server.request.duration", "s", "Duration of HTTP server requests."),
		client:   newHist("http.client.request.duration", "s", "Duration of HTTP client requests."),
		db:       newHist("db.client.operation.duration", "s", "Duration of database client operations."),
		wait:     newHist("db.client.connection.wait_time", "s", "The time it took to obtain an open connection from the pool."),
		timeouts: newSum("db.client.connection.timeouts", "{timeout}", "The number of connection timeouts that have occurred trying to obtain a connection from the pool."),
	}
	// Operations of one service may share an instrument by name.
	byName := map[string]opMetric{}
	for _, o := range s.ops {
		var list []opMetric
		for i := range o.metrics {
			cm := &o.metrics[i]
			om, ok := byName[cm.m.Name]
			if !ok {
				if cm.m.Type == "histogram" {
					om.h = newHist(cm.m.Name, cm.m.Unit, cm.m.Description)
				} else {
					om.c = newSum(cm.m.Name, cm.m.Unit, cm.m.Description)
				}
				byName[cm.m.Name] = om
				m.order = append(m.order, om)
			}
			om.cm = cm
			list = append(list, om)
		}
		m.custom = append(m.custom, list)
	}
	return m
}

func secs(d int64) float64 { return float64(d) / 1e9 }

// record adds a finished span to the service's instruments.
func (m *serviceMetrics) record(sp *span) {
	d := secs(sp.end - sp.start)
	switch sp.kind {
	case kindServer:
		o := sp.op
		m.server.record(skey{a: o.idx, b: sp.status}, func() []kv {
			a := []kv{
				{k: "http.request.method", s: o.method},
				{k: "http.route", s: o.route},
				{k: "url.scheme", s: "http"},
				{k: "http.response.status_code", i: int64(sp.status), isInt: true},
			}
			if sp.status >= 500 {
				a = append(a, kv{k: "error.type", s: strconv.Itoa(sp.status)})
			}
			return a
		}, d)
		ok := sp.status < 400
		outcome := "success"
		if !ok {
			outcome = "failure"
		}
		for _, om := range m.custom[o.idx] {
			n := int64(0)
			switch om.cm.on {
			case "request":
				n = 1
			case "success":
				n = b2i(ok)
			case "error":
				n = b2i(!ok)
			case "timeout":
				n = int64(sp.timeouts)
			case "retry":
				n = int64(sp.retries)
			}
			if n == 0 {
				continue
			}
			k := skey{b: int(b2i(ok))}
			attrs := func() []kv {
				var a []kv
				for _, key := range om.cm.keys {
					v := om.cm.m.Attributes[key]
					if v == "{outcome}" {
						v = outcome
					}
					a = append(a, kv{k: key, s: v})
				}
				return a
			}
			if om.h != nil {
				om.h.record(k, attrs, d)
			} else {
				om.c.add(k, attrs, n)
			}
		}
	case kindClient, kindDep:
		st := sp.st
		m.client.record(skey{a: st.idx, b: sp.status, s: sp.errType}, func() []kv {
			a := []kv{{k: "http.request.method", s: st.method}, {k: "server.address", s: st.address}, {k: "server.port", i: st.port, isInt: true}}
			if sp.status > 0 {
				a = append(a, kv{k: "http.response.status_code", i: int64(sp.status), isInt: true})
			}
			if sp.failed {
				a = append(a, kv{k: "error.type", s: sp.errType})
			}
			return a
		}, d)
	case kindDB:
		st := sp.st
		p := st.pool
		m.wait.record(skey{a: p.idx}, func() []kv { return []kv{{k: "db.client.connection.pool.name", s: p.name}} }, secs(sp.wait))
		if sp.timedOut {
			m.timeouts.add(skey{a: p.idx}, func() []kv { return []kv{{k: "db.client.connection.pool.name", s: p.name}} }, 1)
			return
		}
		m.db.record(skey{a: st.idx, s: sp.errType}, func() []kv {
			a := []kv{{k: "db.system.name", s: p.system}, {k: "db.operation.name", s: st.db.Operation}, {k: "server.address", s: p.address}}
			if st.db.Collection != "" {
				a = append(a, kv{k: "db.collection.name", s: st.db.Collection})
			}
			if sp.failed {
				a = append(a, kv{k: "error.type", s: sp.errType})
			}
			return a
		}, d)
	}
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func putAttrs(dst pcommon.Map, attrs []kv) {
	dst.EnsureCapacity(len(attrs))
	for _, a := range attrs {
		if a.isInt {
			dst.PutInt(a.k, a.i)
		} else {
			dst.PutStr(a.k, a.s)
		}
	}
}

// metrics appends a cumulative snapshot of every service taken at real offset t
// and returns the number of data points.
func (m *emitter) metrics(md pmetric.Metrics, t int64) int {
	start, now := m.ts(0), m.ts(t)
	n := 0
	for _, s := range m.e.c.services {
		sm := s.met
		rm := md.ResourceMetrics().AppendEmpty()
		m.resource(rm.Resource(), s)
		ms := rm.ScopeMetrics().AppendEmpty()
		ms.Scope().SetName(scopeName)
		out := ms.Metrics()
		addHist := func(h *hist) {
			if len(h.series) == 0 {
				return
			}
			mt := out.AppendEmpty()
			mt.SetName(h.name)
			mt.SetUnit(h.unit)
			mt.SetDescription(h.desc)
			hg := mt.SetEmptyHistogram()
			hg.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
			for _, se := range h.series {
				dp := hg.DataPoints().AppendEmpty()
				dp.SetStartTimestamp(start)
				dp.SetTimestamp(now)
				putAttrs(dp.Attributes(), se.attrs)
				dp.SetCount(se.count)
				dp.SetSum(se.sum)
				dp.SetMin(se.min)
				dp.SetMax(se.max)
				dp.ExplicitBounds().FromRaw(bounds)
				dp.BucketCounts().FromRaw(se.buckets)
				n++
			}
		}
		addSum := func(c *sum) {
			if len(c.series) == 0 {
				return
			}
			mt := out.AppendEmpty()
			mt.SetName(c.name)
			mt.SetUnit(c.unit)
			mt.SetDescription(c.desc)
			sm := mt.SetEmptySum()
			sm.SetIsMonotonic(c.monotonic)
			sm.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
			for _, se := range c.series {
				dp := sm.DataPoints().AppendEmpty()
				dp.SetStartTimestamp(start)
				dp.SetTimestamp(now)
				putAttrs(dp.Attributes(), se.attrs)
				dp.SetIntValue(se.value)
				n++
			}
		}
		addHist(sm.server)
		addHist(sm.client)
		addHist(sm.db)
		if len(s.pools) > 0 {
			count := out.AppendEmpty()
			count.SetName("db.client.connection.count")
			count.SetUnit("{connection}")
			count.SetDescription("The number of connections that are currently in state described by the state attribute.")
			cs := count.SetEmptySum()
			cs.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
			maxm := out.AppendEmpty()
			maxm.SetName("db.client.connection.max")
			maxm.SetUnit("{connection}")
			maxm.SetDescription("The maximum number of open connections allowed.")
			ms := maxm.SetEmptySum()
			ms.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
			for _, p := range s.pools {
				used := p.used(t)
				for _, st := range []struct {
					state string
					v     int
				}{{"used", used}, {"idle", p.size - used}} {
					dp := cs.DataPoints().AppendEmpty()
					dp.SetStartTimestamp(start)
					dp.SetTimestamp(now)
					dp.Attributes().PutStr("db.client.connection.pool.name", p.name)
					dp.Attributes().PutStr("db.client.connection.state", st.state)
					dp.SetIntValue(int64(st.v))
					n++
				}
				dp := ms.DataPoints().AppendEmpty()
				dp.SetStartTimestamp(start)
				dp.SetTimestamp(now)
				dp.Attributes().PutStr("db.client.connection.pool.name", p.name)
				dp.SetIntValue(int64(p.size))
				n++
			}
			addHist(sm.wait)
			addSum(sm.timeouts)
		}
		for _, om := range sm.order {
			if om.h != nil {
				addHist(om.h)
			} else {
				addSum(om.c)
			}
		}
		if out.Len() == 0 {
			md.ResourceMetrics().RemoveIf(func(r pmetric.ResourceMetrics) bool { return r.ScopeMetrics().At(0).Metrics().Len() == 0 })
		}
	}
	return n
}
