package tests

import (
	"slices"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// rcaPrefix is the attribute namespace rootcause may add (README of the
// processor: rca.* attributes).
const rcaPrefix = "rca."

func stripRCA(m pcommon.Map) {
	m.RemoveIf(func(k string, _ pcommon.Value) bool { return strings.HasPrefix(k, rcaPrefix) })
}

func stripTraces(td ptrace.Traces) {
	for _, rs := range td.ResourceSpans().All() {
		stripRCA(rs.Resource().Attributes())
		for _, ss := range rs.ScopeSpans().All() {
			stripRCA(ss.Scope().Attributes())
			for _, s := range ss.Spans().All() {
				stripRCA(s.Attributes())
				for _, e := range s.Events().All() {
					stripRCA(e.Attributes())
				}
				for _, l := range s.Links().All() {
					stripRCA(l.Attributes())
				}
			}
		}
	}
}

func stripMetrics(md pmetric.Metrics) {
	for _, rm := range md.ResourceMetrics().All() {
		stripRCA(rm.Resource().Attributes())
		for _, sm := range rm.ScopeMetrics().All() {
			stripRCA(sm.Scope().Attributes())
			for _, m := range sm.Metrics().All() {
				stripRCA(m.Metadata())
				stripDataPoints(m)
			}
		}
	}
}

// stripDataPoints removes rca.* attributes and exemplars from the points.
func stripDataPoints(m pmetric.Metric) {
	noExemplars := func(pmetric.Exemplar) bool { return true }
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		for _, dp := range m.Gauge().DataPoints().All() {
			stripRCA(dp.Attributes())
			dp.Exemplars().RemoveIf(noExemplars)
		}
	case pmetric.MetricTypeSum:
		for _, dp := range m.Sum().DataPoints().All() {
			stripRCA(dp.Attributes())
			dp.Exemplars().RemoveIf(noExemplars)
		}
	case pmetric.MetricTypeHistogram:
		for _, dp := range m.Histogram().DataPoints().All() {
			stripRCA(dp.Attributes())
			dp.Exemplars().RemoveIf(noExemplars)
		}
	case pmetric.MetricTypeExponentialHistogram:
		for _, dp := range m.ExponentialHistogram().DataPoints().All() {
			stripRCA(dp.Attributes())
			dp.Exemplars().RemoveIf(noExemplars)
		}
	case pmetric.MetricTypeSummary:
		for _, dp := range m.Summary().DataPoints().All() {
			stripRCA(dp.Attributes())
		}
	}
}

// ownService is the service.name of the records and metrics rootcause emits
// itself (incident records, rca.incidents*): they were never sent, so the
// comparison with what was sent leaves them out.
const ownService = "otelcol-rca"

func isOwn(r pcommon.Resource) bool {
	v, ok := r.Attributes().Get("service.name")
	return ok && v.Str() == ownService
}

func withoutOwnMetrics(in []pmetric.Metrics) []pmetric.Metrics {
	out := in[:0]
	for _, md := range in {
		md.ResourceMetrics().RemoveIf(func(rm pmetric.ResourceMetrics) bool { return isOwn(rm.Resource()) })
		if md.ResourceMetrics().Len() > 0 {
			out = append(out, md)
		}
	}
	return out
}

func withoutOwnLogs(in []plog.Logs) []plog.Logs {
	out := in[:0]
	for _, ld := range in {
		ld.ResourceLogs().RemoveIf(func(rl plog.ResourceLogs) bool { return isOwn(rl.Resource()) })
		if ld.ResourceLogs().Len() > 0 {
			out = append(out, ld)
		}
	}
	return out
}

func stripLogs(ld plog.Logs) {
	for _, rl := range ld.ResourceLogs().All() {
		stripRCA(rl.Resource().Attributes())
		for _, sl := range rl.ScopeLogs().All() {
			stripRCA(sl.Scope().Attributes())
			for _, lr := range sl.LogRecords().All() {
				stripRCA(lr.Attributes())
			}
		}
	}
}

// sortMap orders a map's keys (recursively) so that equal maps marshal the
// same whatever the insertion order.
func sortMap(m pcommon.Map) {
	keys := make([]string, 0, m.Len())
	for k := range m.All() {
		keys = append(keys, k)
	}
	if slices.IsSorted(keys) {
		for _, v := range m.All() {
			sortValue(v)
		}
		return
	}
	slices.Sort(keys)
	sorted := pcommon.NewMap()
	sorted.EnsureCapacity(len(keys))
	for _, k := range keys {
		v, _ := m.Get(k)
		nv := sorted.PutEmpty(k)
		v.CopyTo(nv)
		sortValue(nv)
	}
	sorted.CopyTo(m)
}

func sortValue(v pcommon.Value) {
	switch v.Type() {
	case pcommon.ValueTypeMap:
		sortMap(v.Map())
	case pcommon.ValueTypeSlice:
		for _, e := range v.Slice().All() {
			sortValue(e)
		}
	}
}

// canonicalSpans returns one JSON document per span (with its resource and
// scope), attributes sorted, so that batching and attribute order do not
// matter.
func canonicalSpans(tds []ptrace.Traces) []string {
	var out []string
	var m ptrace.JSONMarshaler
	for _, td := range tds {
		for _, rs := range td.ResourceSpans().All() {
			for _, ss := range rs.ScopeSpans().All() {
				for _, s := range ss.Spans().All() {
					one := ptrace.NewTraces()
					rs2 := one.ResourceSpans().AppendEmpty()
					rs.Resource().CopyTo(rs2.Resource())
					rs2.SetSchemaUrl(rs.SchemaUrl())
					ss2 := rs2.ScopeSpans().AppendEmpty()
					ss.Scope().CopyTo(ss2.Scope())
					ss2.SetSchemaUrl(ss.SchemaUrl())
					s2 := ss2.Spans().AppendEmpty()
					s.CopyTo(s2)
					sortMap(rs2.Resource().Attributes())
					sortMap(ss2.Scope().Attributes())
					sortMap(s2.Attributes())
					for _, e := range s2.Events().All() {
						sortMap(e.Attributes())
					}
					for _, l := range s2.Links().All() {
						sortMap(l.Attributes())
					}
					b, err := m.MarshalTraces(one)
					if err != nil {
						panic(err)
					}
					out = append(out, string(b))
				}
			}
		}
	}
	return out
}

func dataPointCount(m pmetric.Metric) int {
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		return m.Gauge().DataPoints().Len()
	case pmetric.MetricTypeSum:
		return m.Sum().DataPoints().Len()
	case pmetric.MetricTypeHistogram:
		return m.Histogram().DataPoints().Len()
	case pmetric.MetricTypeExponentialHistogram:
		return m.ExponentialHistogram().DataPoints().Len()
	case pmetric.MetricTypeSummary:
		return m.Summary().DataPoints().Len()
	}
	return 0
}

// keepDataPoint removes every data point of m but the i-th one and sorts
// the attributes of that one.
func keepDataPoint(m pmetric.Metric, i int) {
	idx := 0
	drop := func() bool { d := idx != i; idx++; return d }
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		m.Gauge().DataPoints().RemoveIf(func(pmetric.NumberDataPoint) bool { return drop() })
		sortMap(m.Gauge().DataPoints().At(0).Attributes())
	case pmetric.MetricTypeSum:
		m.Sum().DataPoints().RemoveIf(func(pmetric.NumberDataPoint) bool { return drop() })
		sortMap(m.Sum().DataPoints().At(0).Attributes())
	case pmetric.MetricTypeHistogram:
		m.Histogram().DataPoints().RemoveIf(func(pmetric.HistogramDataPoint) bool { return drop() })
		sortMap(m.Histogram().DataPoints().At(0).Attributes())
	case pmetric.MetricTypeExponentialHistogram:
		m.ExponentialHistogram().DataPoints().RemoveIf(func(pmetric.ExponentialHistogramDataPoint) bool { return drop() })
		sortMap(m.ExponentialHistogram().DataPoints().At(0).Attributes())
	case pmetric.MetricTypeSummary:
		m.Summary().DataPoints().RemoveIf(func(pmetric.SummaryDataPoint) bool { return drop() })
		sortMap(m.Summary().DataPoints().At(0).Attributes())
	}
}

// canonicalDataPoints returns one JSON document per data point (with its
// metric, scope and resource), exemplars ignored.
func canonicalDataPoints(mds []pmetric.Metrics) []string {
	var out []string
	var mj pmetric.JSONMarshaler
	for _, md := range mds {
		for _, rm := range md.ResourceMetrics().All() {
			for _, sm := range rm.ScopeMetrics().All() {
				for _, m := range sm.Metrics().All() {
					for i := range dataPointCount(m) {
						one := pmetric.NewMetrics()
						rm2 := one.ResourceMetrics().AppendEmpty()
						rm.Resource().CopyTo(rm2.Resource())
						rm2.SetSchemaUrl(rm.SchemaUrl())
						sm2 := rm2.ScopeMetrics().AppendEmpty()
						sm.Scope().CopyTo(sm2.Scope())
						sm2.SetSchemaUrl(sm.SchemaUrl())
						m2 := sm2.Metrics().AppendEmpty()
						m.CopyTo(m2)
						stripDataPoints(m2) // exemplars are ignored on both sides
						keepDataPoint(m2, i)
						sortMap(rm2.Resource().Attributes())
						sortMap(sm2.Scope().Attributes())
						sortMap(m2.Metadata())
						b, err := mj.MarshalMetrics(one)
						if err != nil {
							panic(err)
						}
						out = append(out, string(b))
					}
				}
			}
		}
	}
	return out
}

// canonicalLogRecords returns one JSON document per log record (with its
// scope and resource).
func canonicalLogRecords(lds []plog.Logs) []string {
	var out []string
	var lj plog.JSONMarshaler
	for _, ld := range lds {
		for _, rl := range ld.ResourceLogs().All() {
			for _, sl := range rl.ScopeLogs().All() {
				for _, lr := range sl.LogRecords().All() {
					one := plog.NewLogs()
					rl2 := one.ResourceLogs().AppendEmpty()
					rl.Resource().CopyTo(rl2.Resource())
					rl2.SetSchemaUrl(rl.SchemaUrl())
					sl2 := rl2.ScopeLogs().AppendEmpty()
					sl.Scope().CopyTo(sl2.Scope())
					sl2.SetSchemaUrl(sl.SchemaUrl())
					lr2 := sl2.LogRecords().AppendEmpty()
					lr.CopyTo(lr2)
					sortMap(rl2.Resource().Attributes())
					sortMap(sl2.Scope().Attributes())
					sortMap(lr2.Attributes())
					b, err := lj.MarshalLogs(one)
					if err != nil {
						panic(err)
					}
					out = append(out, string(b))
				}
			}
		}
	}
	return out
}

// compareItems checks that sent and received hold the same items, each the
// same number of times.
func compareItems(t *testing.T, kind string, sent, received []string) {
	t.Helper()
	missing, unexpected := diffItems(sent, received)
	if len(missing) == 0 && len(unexpected) == 0 {
		if len(sent) > 0 {
			t.Logf("%d %ss sent, all received unaltered (rca.* attributes and exemplars aside)", len(sent), kind)
		}
		return
	}
	t.Errorf("%ss: %d sent, %d received; %d sent ones not received as sent, %d received ones not sent (rca.* attributes and exemplars ignored)\nfirst missing:    %v\nfirst unexpected: %v",
		kind, len(sent), len(received), len(missing), len(unexpected), first(missing, 3), first(unexpected, 3))
}

// diffItems returns the items of sent missing from received and the items
// of received not in sent, as multisets, sorted.
func diffItems(sent, received []string) (missing, unexpected []string) {
	count := make(map[string]int, len(sent))
	for _, s := range sent {
		count[s]++
	}
	for _, r := range received {
		count[r]--
	}
	for item, n := range count {
		for ; n > 0; n-- {
			missing = append(missing, item)
		}
		for ; n < 0; n++ {
			unexpected = append(unexpected, item)
		}
	}
	slices.Sort(missing)
	slices.Sort(unexpected)
	return missing, unexpected
}

func first(s []string, n int) []string { return s[:min(n, len(s))] }
