package trainticket

import (
	"math"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-rca/otelcol-rca/replay/internal/recording"
)

// scopeName is the instrumentation scope of everything the adapter emits.
const scopeName = "trainticket-adapter"

// Next returns the telemetry of the next step of event time that has any, in
// increasing time order, and false after the last. A span is in the step of
// its end (when a live collector would have received it), a log record or
// data point in the step of its time.
func (r *Reader) Next() (recording.Batch, bool) {
	t := int64(math.MaxInt64)
	if r.si < len(r.spans) {
		t = min(t, r.spans[r.si].end)
	}
	if r.li < len(r.logs) {
		t = min(t, r.logs[r.li].time)
	}
	if r.mi < len(r.points) {
		t = min(t, r.points[r.mi].time)
	}
	if t == math.MaxInt64 {
		return recording.Batch{}, false
	}
	start := floorDiv(t, r.step) * r.step
	end := start + r.step
	if end < start { // overflow: the last step of time
		end = math.MaxInt64
	}

	b := recording.Batch{Traces: ptrace.NewTraces(), Logs: plog.NewLogs(), Metrics: pmetric.NewMetrics()}
	latest := int64(math.MinInt64)

	j := r.si
	for j < len(r.spans) && r.spans[j].end < end {
		j++
	}
	if j > r.si {
		r.emitSpans(b.Traces, r.spans[r.si:j])
		latest = max(latest, r.spans[j-1].end)
		r.si = j
	}
	j = r.li
	for j < len(r.logs) && r.logs[j].time < end {
		j++
	}
	if j > r.li {
		r.emitLogs(b.Logs, r.logs[r.li:j])
		latest = max(latest, r.logs[j-1].time)
		r.li = j
	}
	j = r.mi
	for j < len(r.points) && r.points[j].time < end {
		j++
	}
	if j > r.mi {
		r.emitPoints(b.Metrics, r.points[r.mi:j])
		latest = max(latest, r.points[j-1].time)
		r.mi = j
	}
	b.Time = time.Unix(0, latest).UTC()
	return b, true
}

// groupPods gives each pod of a batch a resource slot, in order of first
// appearance, and counts its items so that slices are allocated once.
// r.podSlot maps a pod to its slot; callers reset it with releasePods.
func groupPods[T any](r *Reader, items []T, podOf func(*T) uint32) (order []uint32, counts []int) {
	for i := range items {
		p := podOf(&items[i])
		if r.podSlot[p] < 0 {
			r.podSlot[p] = int32(len(order))
			order = append(order, p)
			counts = append(counts, 0)
		}
		counts[r.podSlot[p]]++
	}
	return order, counts
}

func (r *Reader) releasePods(order []uint32) {
	for _, p := range order {
		r.podSlot[p] = -1
	}
}

// putResource sets the attributes of a pod's resource, the same for every
// signal so that consumers group a pod's spans, logs and metrics together.
func (r *Reader) putResource(res pcommon.Resource, pod uint32) {
	p := &r.pods[pod]
	a := res.Attributes()
	a.EnsureCapacity(3)
	a.PutStr("service.name", p.service)
	a.PutStr("k8s.pod.name", p.name)
	a.PutStr("service.instance.id", p.name)
}

func (r *Reader) emitSpans(td ptrace.Traces, spans []span) {
	order, counts := groupPods(r, spans, func(s *span) uint32 { return s.pod })
	defer r.releasePods(order)
	rss := td.ResourceSpans()
	rss.EnsureCapacity(len(order))
	out := make([]ptrace.SpanSlice, len(order))
	for k, p := range order {
		rs := rss.AppendEmpty()
		r.putResource(rs.Resource(), p)
		ss := rs.ScopeSpans().AppendEmpty()
		ss.Scope().SetName(scopeName)
		out[k] = ss.Spans()
		out[k].EnsureCapacity(counts[k])
	}
	for i := range spans {
		s := &spans[i]
		sp := out[r.podSlot[s.pod]].AppendEmpty()
		sp.SetTraceID(pcommon.TraceID(r.traceIDs[s.trace]))
		sp.SetSpanID(pcommon.SpanID(s.spanID))
		sp.SetParentSpanID(pcommon.SpanID(s.parentID))
		sp.SetName(r.ops.s[s.op])
		sp.SetStartTimestamp(pcommon.Timestamp(s.start))
		sp.SetEndTimestamp(pcommon.Timestamp(s.end))
	}
}

func (r *Reader) emitLogs(ld plog.Logs, logs []logRec) {
	order, counts := groupPods(r, logs, func(l *logRec) uint32 { return l.pod })
	defer r.releasePods(order)
	rls := ld.ResourceLogs()
	rls.EnsureCapacity(len(order))
	out := make([]plog.LogRecordSlice, len(order))
	for k, p := range order {
		rl := rls.AppendEmpty()
		r.putResource(rl.Resource(), p)
		sl := rl.ScopeLogs().AppendEmpty()
		sl.Scope().SetName(scopeName)
		out[k] = sl.LogRecords()
		out[k].EnsureCapacity(counts[k])
	}
	for i := range logs {
		l := &logs[i]
		lr := out[r.podSlot[l.pod]].AppendEmpty()
		lr.SetTimestamp(pcommon.Timestamp(l.time))
		lr.SetObservedTimestamp(pcommon.Timestamp(l.time))
		lr.SetTraceID(pcommon.TraceID(l.traceID))
		lr.SetSpanID(pcommon.SpanID(l.spanID))
		lr.SetSeverityNumber(l.sev)
		lr.SetSeverityText(r.strs.s[l.sevText])
		lr.Body().SetStr(l.body)
		a := lr.Attributes()
		if s := r.strs.s[l.stream]; s != "" {
			a.PutStr("log.iostream", s)
		}
		if s := r.strs.s[l.container]; s != "" {
			a.PutStr("k8s.container.name", s)
		}
		if l.codeLine > 0 {
			a.PutStr("code.namespace", r.strs.s[l.codeClass])
			a.PutInt("code.lineno", l.codeLine)
		}
	}
}

func (r *Reader) emitPoints(md pmetric.Metrics, points []point) {
	order, _ := groupPods(r, points, func(p *point) uint32 { return p.pod })
	defer r.releasePods(order)
	rms := md.ResourceMetrics()
	rms.EnsureCapacity(len(order))
	type podMetrics struct {
		sm  pmetric.ScopeMetrics
		dps []pmetric.NumberDataPointSlice // by metricOf
		has []bool                         // whether dps[m] was made
	}
	out := make([]podMetrics, len(order))
	for k, p := range order {
		rm := rms.AppendEmpty()
		r.putResource(rm.Resource(), p)
		out[k].sm = rm.ScopeMetrics().AppendEmpty()
		out[k].sm.Scope().SetName(scopeName)
		out[k].dps = make([]pmetric.NumberDataPointSlice, numMetrics)
		out[k].has = make([]bool, numMetrics)
	}
	for i := range points {
		pt := &points[i]
		pm := &out[r.podSlot[pt.pod]]
		s := &metricSeries[pt.series]
		m := metricOf[pt.series]
		if !pm.has[m] {
			pm.has[m] = true
			metric := pm.sm.Metrics().AppendEmpty()
			metric.SetName(s.name)
			metric.SetUnit(s.unit)
			pm.dps[m] = metric.SetEmptyGauge().DataPoints()
		}
		dp := pm.dps[m].AppendEmpty()
		dp.SetTimestamp(pcommon.Timestamp(pt.time))
		dp.SetDoubleValue(pt.value)
		if len(s.attrs) > 0 {
			a := dp.Attributes()
			a.EnsureCapacity(len(s.attrs))
			for _, at := range s.attrs {
				if at.isNum {
					a.PutDouble(at.key, at.num)
				} else {
					a.PutStr(at.key, at.str)
				}
			}
		}
	}
}
