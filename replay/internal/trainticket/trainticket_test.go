package trainticket

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/otelcol-rca/otelcol-rca/replay/internal/recording"
)

const (
	gwPod    = "ts-gateway-service-6f6cfc45b-d9pnv"
	orderPod = "ts-order-service-5b67c48447-fj8b7"
	traceA   = "04b0385e1feaf140061fb1ec80a57a73"
	traceB   = "8344c6bbb62a68a3eaebf0077ca7f7e5"
	t1200    = int64(1675080000) // 2023-01-30T12:00:00Z
)

// ns is a Unix nanosecond time sec seconds and ms milliseconds after 12:00.
func ns(sec, ms int64) string {
	return itoa((t1200+sec)*1e9 + ms*1e6)
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func writeGz(t *testing.T, path string, lines ...string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write([]byte(strings.Join(lines, "\n") + "\n")); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

const traceHeader = "TraceID,SpanID,ParentID,PodName,OperationName,StartTimeUnixNano,EndTimeUnixNano,Duration"

func spanRow(trace, id, parent, pod, op string, startS, endS int64) string {
	return strings.Join([]string{trace, id, parent, pod, op, ns(startS, 0), ns(endS, 0), "1"}, ",")
}

const logHeader = "Timestamp,TimeUnixNano,Node,PodName,Container,TraceID,SpanID,Log"

// logRow builds a log row the way the dataset quotes it: the docker JSON
// record in one CSV field.
func logRow(ts, nano, pod, trace, span, line string) string {
	js := `{"log":"` + line + `\n","stream":"stdout","time":"` + ts + `"}`
	return strings.Join([]string{
		ts, nano, "33.33.33.76", pod, "server", trace, span,
		`"` + strings.ReplaceAll(js, `"`, `""`) + `"`,
	}, ",")
}

const metricHeader = "PodName,Time,TimeStamp,CpuUsage(m),CpuUsageRate(%),MemoryUsage(Mi),MemoryUsageRate(%),SyscallRead,SyscallWrite,NetworkReceiveBytes,NetworkTransmitBytes,PodClientLatencyP90(s),PodServerLatencyP90(s),PodClientLatencyP95(s),PodServerLatencyP95(s),PodClientLatencyP99(s),PodServerLatencyP99(s),PodWorkload(Ops),PodSuccessRate(%),NodeCpuUsageRate(%),NodeMemoryUsageRate(%),NodeNetworkReceiveBytes"

func metricRow(sec int64, cpu string) string {
	return orderPod + ",2023-01-30 12:00:53 +0000 UTC," + itoa(t1200+sec) + "," + cpu +
		",1.5,512,25,1,2,1000,2000,0.004,NaN,0.005,0.02,0.006,0.03,0.5,99,9.3,58.4,100"
}

// fixture writes a small dataset folder: a trace spread over two overlapping
// minute files, logs with the dataset's quirks and one pod's metrics.
func fixture(t *testing.T) string {
	dir := t.TempDir()
	writeGz(t, filepath.Join(dir, "trace", "12_00_trace.csv.gz"),
		traceHeader,
		spanRow(traceA, "00000000000000a1", "root", gwPod, "/*", 1, 5),
		spanRow(traceA, "00000000000000a2", "00000000000000a1", gwPod, "HTTP POST", 1, 4),
		spanRow(traceB, "00000000000000b1", "00000000000000ff", orderPod, "orphan", 2, 3),
		spanRow("nothex", "00000000000000b2", "root", orderPod, "bad", 2, 3),
		strings.Replace(spanRow(traceB, "00000000000000b3", "root", orderPod, "bad", 2, 3), ns(3, 0), "3s", 1),
	)
	// The minute files overlap: a2 is in both.
	writeGz(t, filepath.Join(dir, "trace", "12_01_trace.csv.gz"),
		traceHeader,
		spanRow(traceA, "00000000000000a2", "00000000000000a1", gwPod, "HTTP POST", 1, 4),
		spanRow(traceA, "00000000000000a3", "00000000000000a2", orderPod, "/api/v1/orderservice/order", 2, 61),
		spanRow(traceA, "00000000000000a4", "00000000000000a3", orderPod, "OrderServiceImpl.find", 2, 60),
	)
	trA, spA := traceA, "00000000000000a3"
	good := logRow("2023-01-30T12:00:10.5Z", ns(10, 500), orderPod, trA, spA,
		`20:00:10.499 INFO  o.s.OrderServiceImpl#324 TraceID: x [modifyOrder][Modify order Success]`)
	writeGz(t, filepath.Join(dir, "log", "12_00_log.csv.gz"),
		logHeader,
		good,
		logRow("2023-01-30T12:00:20Z", ns(20, 0), orderPod, trA, spA,
			`20:00:20.000 WARN  o.c.OrderController#108 slow`),
		// Broken TimeUnixNano and a Timestamp without a zone.
		logRow("2023-01-30T12:00:30.090", "-6795364578871345152", orderPod, trA, spA,
			`20:00:30.106 ERROR o.a.c.c.C.[.[dispatcherServlet]#175 Servlet.service() threw exception`),
		logRow("2023-01-30T12:00:31Z", ns(31, 0), orderPod, "", "", `\tat com.example.Foo.bar(Foo.java:1)`),
		// A line spliced with another's tail: the JSON ends early.
		`2023-01-30T12:00:40Z,`+ns(40, 0)+`,33.33.33.76,`+orderPod+`,server,,,"{""log"":""20:00:40.000 INFO  x.Y#1 cut2023-01-30T12:00:41Z,1675080041000000000,33.33.33.76,`+orderPod+`,server,,,""{""log"":""20:00:41 INFO z""}"`,
		// Too many fields.
		good+",extra",
	)
	// The log minute files overlap too.
	writeGz(t, filepath.Join(dir, "log", "12_01_log.csv.gz"), logHeader, good)
	writeGz(t, filepath.Join(dir, "metric", orderPod+"_metric.csv.gz"),
		metricHeader, metricRow(53, "9.5"), metricRow(113, "abc"), metricRow(173, "7"))
	writeGz(t, filepath.Join(dir, "metric", "front_service.csv.gz"),
		"Time,TimeStamp,ServiceName,SuccessRate(%)", "x,1675080053,Frontend,0")
	return dir
}

// collect drains a reader, checking the batch order.
func collect(t *testing.T, r *Reader, step time.Duration) []recording.Batch {
	t.Helper()
	var out []recording.Batch
	var last time.Time
	for {
		b, ok := r.Next()
		if !ok {
			break
		}
		if b.Time.Before(last) {
			t.Fatalf("batch at %v after one at %v", b.Time, last)
		}
		last = b.Time
		stepStart := b.Time.Truncate(step)
		check := func(ts pcommon.Timestamp) {
			if tt := ts.AsTime(); tt.Before(stepStart) || !tt.Before(stepStart.Add(step)) || tt.After(b.Time) {
				t.Errorf("timestamp %v outside batch step %v..%v (time %v)", tt, stepStart, stepStart.Add(step), b.Time)
			}
		}
		eachSpan(b.Traces, func(_ pcommon.Resource, s ptrace.Span) { check(s.EndTimestamp()) })
		eachLog(b.Logs, func(_ pcommon.Resource, l plog.LogRecord) { check(l.Timestamp()) })
		eachPoint(b.Metrics, func(_ pcommon.Resource, _ pmetric.Metric, p pmetric.NumberDataPoint) { check(p.Timestamp()) })
		out = append(out, b)
	}
	return out
}

func eachSpan(td ptrace.Traces, f func(pcommon.Resource, ptrace.Span)) {
	for _, rs := range td.ResourceSpans().All() {
		for _, ss := range rs.ScopeSpans().All() {
			for _, s := range ss.Spans().All() {
				f(rs.Resource(), s)
			}
		}
	}
}

func eachLog(ld plog.Logs, f func(pcommon.Resource, plog.LogRecord)) {
	for _, rl := range ld.ResourceLogs().All() {
		for _, sl := range rl.ScopeLogs().All() {
			for _, l := range sl.LogRecords().All() {
				f(rl.Resource(), l)
			}
		}
	}
}

func eachPoint(md pmetric.Metrics, f func(pcommon.Resource, pmetric.Metric, pmetric.NumberDataPoint)) {
	for _, rm := range md.ResourceMetrics().All() {
		for _, sm := range rm.ScopeMetrics().All() {
			for _, m := range sm.Metrics().All() {
				for _, p := range m.Gauge().DataPoints().All() {
					f(rm.Resource(), m, p)
				}
			}
		}
	}
}

func str(m pcommon.Map, k string) string {
	if v, ok := m.Get(k); ok {
		return v.AsString()
	}
	return ""
}

func TestTraces(t *testing.T) {
	dir := fixture(t)
	r, err := Open(Options{Parts: []Part{{Dir: dir}}, Traces: true})
	if err != nil {
		t.Fatal(err)
	}
	st := r.Stats()
	if st.Spans != 5 || st.SpanDuplicates != 1 || st.SpanRowsSkipped != 2 || r.Spans() != 5 {
		t.Errorf("stats %+v, Spans() %d; want 5 spans, 1 duplicate, 2 skipped", st, r.Spans())
	}
	kinds := map[string]ptrace.SpanKind{}
	svc := map[string]string{}
	for _, b := range collect(t, r, time.Second) {
		eachSpan(b.Traces, func(res pcommon.Resource, s ptrace.Span) {
			id := s.SpanID().String()
			if _, dup := kinds[id]; dup {
				t.Errorf("span %s emitted twice", id)
			}
			kinds[id] = s.Kind()
			svc[id] = str(res.Attributes(), "service.name")
			if pod := str(res.Attributes(), "k8s.pod.name"); str(res.Attributes(), "service.instance.id") != pod || ServiceOf(pod) != svc[id] {
				t.Errorf("span %s: resource %v", id, res.Attributes().AsRaw())
			}
		})
	}
	// The files have no kinds: the spans go out as recorded, and the
	// processor reads the service boundaries itself.
	for id, k := range kinds {
		if k != ptrace.SpanKindUnspecified {
			t.Errorf("span %s: kind %v, want none (as recorded)", id, k)
		}
	}
	if svc["00000000000000a1"] != "ts-gateway-service" || svc["00000000000000a4"] != "ts-order-service" {
		t.Errorf("services %v", svc)
	}
}

func TestLogs(t *testing.T) {
	dir := fixture(t)
	r, err := Open(Options{Parts: []Part{{Dir: dir}}, Logs: true})
	if err != nil {
		t.Fatal(err)
	}
	st := r.Stats()
	if st.Logs != 4 || st.LogRowsSkipped != 2 || st.LogTimesRepaired != 1 || st.LogDuplicates != 1 {
		t.Errorf("stats %+v; want 4 logs, 2 skipped, 1 repaired, 1 duplicate", st)
	}
	type rec struct {
		sev  plog.SeverityNumber
		text string
		body string
		at   time.Time
		attr map[string]any
		tid  string
	}
	var got []rec
	for _, b := range collect(t, r, time.Second) {
		if b.Traces.ResourceSpans().Len() != 0 || b.Metrics.ResourceMetrics().Len() != 0 {
			t.Error("traces or metrics emitted when only logs were asked for")
		}
		eachLog(b.Logs, func(res pcommon.Resource, l plog.LogRecord) {
			if str(res.Attributes(), "service.name") != "ts-order-service" {
				t.Errorf("resource %v", res.Attributes().AsRaw())
			}
			if l.ObservedTimestamp() != l.Timestamp() {
				t.Errorf("observed %v, time %v", l.ObservedTimestamp(), l.Timestamp())
			}
			got = append(got, rec{
				l.SeverityNumber(), l.SeverityText(), l.Body().Str(),
				l.Timestamp().AsTime(), l.Attributes().AsRaw(), l.TraceID().String(),
			})
		})
	}
	if len(got) != 4 {
		t.Fatalf("got %d records: %+v", len(got), got)
	}
	at := func(sec, ms int64) time.Time { return time.Unix(t1200+sec, ms*1e6).UTC() }
	want := []rec{
		{plog.SeverityNumberInfo, "INFO", "o.s.OrderServiceImpl#324 TraceID: x [modifyOrder][Modify order Success]", at(10, 500), nil, traceA},
		{plog.SeverityNumberWarn, "WARN", "o.c.OrderController#108 slow", at(20, 0), nil, traceA},
		{plog.SeverityNumberError, "ERROR", "o.a.c.c.C.[.[dispatcherServlet]#175 Servlet.service() threw exception", at(30, 90), nil, traceA},
		{plog.SeverityNumberUnspecified, "", "\tat com.example.Foo.bar(Foo.java:1)", at(31, 0), nil, ""},
	}
	for i, w := range want {
		g := got[i]
		if g.sev != w.sev || g.text != w.text || g.body != w.body || !g.at.Equal(w.at) || g.tid != w.tid {
			t.Errorf("record %d: %+v, want %+v", i, g, w)
		}
		if g.attr["log.iostream"] != "stdout" || g.attr["k8s.container.name"] != "server" {
			t.Errorf("record %d: attributes %v", i, g.attr)
		}
	}
}

func TestMetrics(t *testing.T) {
	dir := fixture(t)
	r, err := Open(Options{Parts: []Part{{Dir: dir}}, Metrics: true})
	if err != nil {
		t.Fatal(err)
	}
	st := r.Stats()
	// 3 rows of 16 series, less a NaN latency in each row and one bad CPU value.
	if st.MetricPoints != 3*16-3-1 || st.MetricPointsSkipped != 4 || st.FilesSkipped != 1 {
		t.Errorf("stats %+v", st)
	}
	type key struct {
		name string
		t    time.Time
		attr string
	}
	got := map[key]float64{}
	units := map[string]string{}
	for _, b := range collect(t, r, time.Second) {
		eachPoint(b.Metrics, func(res pcommon.Resource, m pmetric.Metric, p pmetric.NumberDataPoint) {
			if str(res.Attributes(), "k8s.pod.name") != orderPod {
				t.Errorf("resource %v", res.Attributes().AsRaw())
			}
			units[m.Name()] = m.Unit()
			got[key{m.Name(), p.Timestamp().AsTime(), str(p.Attributes(), "network.io.direction") +
				str(p.Attributes(), "rpc.side") + str(p.Attributes(), "quantile")}] = p.DoubleValue()
		})
	}
	t1 := time.Unix(t1200+53, 0).UTC()
	checks := []struct {
		k    key
		want float64
	}{
		{key{"k8s.pod.cpu.usage", t1, ""}, 0.0095},
		{key{"k8s.pod.cpu.usage", time.Unix(t1200+173, 0).UTC(), ""}, 0.007},
		{key{"k8s.pod.memory.usage", t1, ""}, 512 << 20},
		{key{"k8s.pod.network.io.rate", t1, "receive"}, 1000},
		{key{"k8s.pod.network.io.rate", t1, "transmit"}, 2000},
		{key{"trainticket.pod.latency", t1, "server0.95"}, 0.02},
		{key{"trainticket.pod.success_rate", t1, ""}, 0.99},
	}
	for _, c := range checks {
		if v, ok := got[c.k]; !ok || v < c.want*(1-1e-9) || v > c.want*(1+1e-9) {
			t.Errorf("%v = %v (present %v), want %v", c.k, v, ok, c.want)
		}
	}
	if _, ok := got[key{"k8s.pod.cpu.usage", time.Unix(t1200+113, 0).UTC(), ""}]; ok {
		t.Error("non-numeric CPU value emitted")
	}
	if _, ok := got[key{"trainticket.pod.latency", t1, "server0.9"}]; ok {
		t.Error("NaN latency emitted")
	}
	if units["k8s.pod.cpu.usage"] != "{cpu}" || units["k8s.pod.memory.usage"] != "By" || units["k8s.pod.network.io.rate"] != "By/s" {
		t.Errorf("units %v", units)
	}
}

func TestPartSelectsMinutes(t *testing.T) {
	dir := fixture(t)
	day := time.Date(2023, 1, 30, 0, 0, 0, 0, time.UTC)
	r, err := Open(Options{
		Parts:  []Part{{Dir: dir, From: day.Add(12*time.Hour + time.Minute), To: day.Add(12*time.Hour + 2*time.Minute)}},
		Traces: true, Logs: true, Metrics: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	st := r.Stats()
	// Only 12_01: three spans, the one log line, the metric row at 12:01:53.
	if st.Spans != 3 || st.SpanDuplicates != 0 || st.Logs != 1 || st.MetricPoints != 16-1-1 {
		t.Errorf("stats %+v", st)
	}
	for _, b := range collect(t, r, time.Minute) {
		eachPoint(b.Metrics, func(_ pcommon.Resource, _ pmetric.Metric, p pmetric.NumberDataPoint) {
			if tt := p.Timestamp().AsTime(); tt.Hour() != 12 || tt.Minute() != 1 {
				t.Errorf("point at %v", tt)
			}
		})
	}

	// Two parts of the same folder read each span and point once.
	r, err = Open(Options{
		Parts: []Part{
			{Dir: dir, From: day.Add(12 * time.Hour), To: day.Add(12*time.Hour + 2*time.Minute)},
			{Dir: dir},
		},
		Traces: true, Metrics: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	if st := r.Stats(); st.Spans != 5 || st.SpanDuplicates != 1+6 || st.MetricPoints != 3*16-4 || st.MetricDuplicates != 2*16-3 {
		t.Errorf("stats of two parts %+v", st)
	}
}

func TestBatchesInOrder(t *testing.T) {
	dir := fixture(t)
	for _, step := range []time.Duration{0, time.Second, 10 * time.Second, time.Minute} {
		r, err := Open(Options{Parts: []Part{{Dir: dir}}, Step: step, Traces: true, Logs: true, Metrics: true})
		if err != nil {
			t.Fatal(err)
		}
		if step == 0 {
			step = time.Second
		}
		n := 0
		for _, b := range collect(t, r, step) {
			n += b.Traces.SpanCount() + b.Logs.LogRecordCount() + b.Metrics.DataPointCount()
		}
		if st := r.Stats(); n != st.Spans+st.Logs+st.MetricPoints {
			t.Errorf("step %v: emitted %d items, stats %+v", step, n, st)
		}
	}
}

// TestParallelFinish checks that sharing the span work out over goroutines
// (done only for large data) gives the same output as doing it on one.
func TestParallelFinish(t *testing.T) {
	dir := t.TempDir()
	var files [3][]string
	for i := range 300 {
		tr := fmt.Sprintf("%032x", i+1)
		id := func(k int) string { return fmt.Sprintf("%016x", i*10+k) }
		sec := int64(i % 50)
		rows := []string{
			spanRow(tr, id(1), "root", gwPod, "/*", sec, sec+4),
			spanRow(tr, id(2), id(1), gwPod, "HTTP POST", sec, sec+3),
			spanRow(tr, id(3), id(2), orderPod, "/order", sec+1, sec+3),
			spanRow(tr, id(4), id(3), orderPod, "find", sec+1, sec+2),
		}
		f := i % 3
		files[f] = append(files[f], rows[:3]...)
		// The last span is in the next file, and in this one for every
		// second trace, as where minute files overlap.
		files[(f+1)%3] = append(files[(f+1)%3], rows[3])
		if i%2 == 0 {
			files[f] = append(files[f], rows[3])
		}
	}
	for f, rows := range files {
		writeGz(t, filepath.Join(dir, "trace", fmt.Sprintf("12_0%d_trace.csv.gz", f)), append([]string{traceHeader}, rows...)...)
	}
	emitted := func() []string {
		r, err := Open(Options{Parts: []Part{{Dir: dir}}, Traces: true})
		if err != nil {
			t.Fatal(err)
		}
		if st := r.Stats(); st.Spans != 1200 || st.SpanDuplicates != 150 {
			t.Errorf("stats %+v", st)
		}
		var out []string
		for _, b := range collect(t, r, time.Second) {
			eachSpan(b.Traces, func(_ pcommon.Resource, s ptrace.Span) {
				out = append(out, fmt.Sprint(s.TraceID(), s.SpanID(), s.Kind(), s.EndTimestamp()))
			})
		}
		return out
	}
	want := emitted()
	defer func(n, procs int) { minParallel = n; runtime.GOMAXPROCS(procs) }(minParallel, runtime.GOMAXPROCS(3))
	minParallel = 1
	if got := emitted(); !slices.Equal(got, want) {
		t.Errorf("parallel output differs: %d spans, want %d", len(got), len(want))
	}
}

func TestErrors(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope")
	if _, err := Open(Options{Parts: []Part{{Dir: missing}}, Traces: true}); err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing dir: error %v", err)
	}

	// A folder without subfolders is empty, not an error.
	r, err := Open(Options{Parts: []Part{{Dir: t.TempDir()}}, Traces: true, Logs: true, Metrics: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := r.Next(); ok {
		t.Error("batch from an empty folder")
	}

	// A truncated gzip file names the file and the line.
	dir := t.TempDir()
	path := filepath.Join(dir, "trace", "12_00_trace.csv.gz")
	rows := []string{traceHeader}
	for i := range 2000 {
		rows = append(rows, spanRow(traceA, "00000000000000a1", "root", gwPod, "/*", int64(i), int64(i)+1))
	}
	writeGz(t, path, rows...)
	data, _ := os.ReadFile(path)
	if err := os.WriteFile(path, data[:len(data)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Open(Options{Parts: []Part{{Dir: dir}}, Traces: true})
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "line ") {
		t.Errorf("truncated file: error %v", err)
	}

	// A trace file without the columns it needs.
	writeGz(t, path, "A,B", "1,2")
	if _, err = Open(Options{Parts: []Part{{Dir: dir}}, Traces: true}); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("bad header: error %v", err)
	}
}

func TestServiceOf(t *testing.T) {
	for pod, want := range map[string]string{
		"ts-contacts-service-866bd68c97-dzqgd": "ts-contacts-service",
		"ts-ui-dashboard-5477b965f-lwprp":      "ts-ui-dashboard",
		"a-b":                                  "a-b",
		"ab":                                   "ab",
		"a-b-c":                                "a",
	} {
		if got := ServiceOf(pod); got != want {
			t.Errorf("ServiceOf(%q) = %q, want %q", pod, got, want)
		}
	}
}

func TestParseLine(t *testing.T) {
	for _, c := range []struct {
		line, text, body string
		sev              plog.SeverityNumber
	}{
		{"20:00:36.278 INFO  c.t.c.PaymentController#34 pay\n", "INFO", "c.t.c.PaymentController#34 pay", plog.SeverityNumberInfo},
		{"20:00:36.278 WARNING x", "WARNING", "x", plog.SeverityNumberWarn},
		{"20:00:36 ERROR", "ERROR", "", plog.SeverityNumberError},
		{"20:00:36.278 NOTICE x\n", "", "20:00:36.278 NOTICE x", plog.SeverityNumberUnspecified},
		{"INFO x", "INFO", "x", plog.SeverityNumberInfo},
		{"[error] payment declined", "error", "payment declined", plog.SeverityNumberError},
		{"2022-08-22 05:18:42,123 - ERROR - charge failed", "ERROR", "charge failed", plog.SeverityNumberError},
		{"10:00:01.123 [main] ERROR c.x.Pay - boom  ", "ERROR", "c.x.Pay - boom", plog.SeverityNumberError},
		{"ERROR:root:charge failed", "ERROR", "root:charge failed", plog.SeverityNumberError},
		{"20:00:36.278 ERROR -1 is not a valid count", "ERROR", "-1 is not a valid count", plog.SeverityNumberError},
		// Lines that name no level, though a level word is in them.
		{"\tat org.springframework.web.servlet.FrameworkServlet.service(FrameworkServlet.java:883)", "", "\tat org.springframework.web.servlet.FrameworkServlet.service(FrameworkServlet.java:883)", plog.SeverityNumberUnspecified},
		{"    ERROR 1064 (42000): syntax error", "", "    ERROR 1064 (42000): syntax error", plog.SeverityNumberUnspecified},
		{"java.lang.IllegalStateException: ERROR in x", "", "java.lang.IllegalStateException: ERROR in x", plog.SeverityNumberUnspecified},
		{"1 ERROR found in config", "", "1 ERROR found in config", plog.SeverityNumberUnspecified},
		{"- error: missing field", "", "- error: missing field", plog.SeverityNumberUnspecified},
		{"Error: connect ECONNREFUSED 10.0.0.1:5432", "", "Error: connect ECONNREFUSED 10.0.0.1:5432", plog.SeverityNumberUnspecified},
		{"Error rate is 2%", "", "Error rate is 2%", plog.SeverityNumberUnspecified},
		{"panic: runtime error", "", "panic: runtime error", plog.SeverityNumberUnspecified},
		// Structured records, as Go, Node and Python services write them.
		{`{"message":"TraceID: 04c8 SpanID: 644c Query product","severity":"info","timestamp":"2022-08-22T05:18:42.963852011Z"}`, "info", "TraceID: 04c8 SpanID: 644c Query product", plog.SeverityNumberInfo},
		{`{"timestamp": "2022-08-22T05:18:42Z", "severity": "ERROR", "name": "recommendationservice-server", "message": "failed to get product"}`, "ERROR", "failed to get product", plog.SeverityNumberError},
		{`{"level":"warn","msg":"retrying","attempt":2}`, "warn", "retrying", plog.SeverityNumberWarn},
		{`{"level":"error","msg":{"code":13,"text":"internal"}}`, "error", `{"code":13,"text":"internal"}`, plog.SeverityNumberError},
		{`{"time":"2022-08-22T05:18:42Z","level":"error","error":"EOF","path":"/cart"}`, "error", `{"error":"EOF","path":"/cart"}`, plog.SeverityNumberError},
		{`{"msg":"no level"}`, "", `{"msg":"no level"}`, plog.SeverityNumberUnspecified},
		{`{not json`, "", `{not json`, plog.SeverityNumberUnspecified},
	} {
		sev, text, body := parseLine(c.line)
		if sev != c.sev || text != c.text || body != c.body {
			t.Errorf("parseLine(%q) = %v %q %q", c.line, sev, text, body)
		}
	}
}

// A Java line names the statement that wrote it (logback's %logger#%line):
// the record carries it as code attributes, the statement being its
// template. Anything else names none.
func TestCodeLocation(t *testing.T) {
	for body, want := range map[string]struct {
		class string
		line  int64
	}{
		"t.s.TravelServiceImpl#372 TraceID: ffc8 SpanID: 439b [queryInfo][Query trips]": {"t.s.TravelServiceImpl", 372},
		"o.a.c.c.C.[.[.[.[dispatcherServlet]#175 TraceID: 7e16":                         {"o.a.c.c.C.[.[.[.[dispatcherServlet]", 175},
		"c.x.Pay - boom":        {},
		"#12 is not a class":    {},
		"Order#abc has no line": {},
		"":                      {},
	} {
		class, line, ok := codeLocation(body)
		if class != want.class || line != want.line || ok != (want.line > 0) {
			t.Errorf("codeLocation(%q) = %q %d %v, want %q %d", body, class, line, ok, want.class, want.line)
		}
	}
}

// datasetDir is the real dataset: $RCA_DATASET or shared/datasets beside the
// repository.
func datasetDir(tb testing.TB) string {
	dir := os.Getenv("RCA_DATASET")
	if dir == "" {
		dir = filepath.Join("..", "..", "..", "..", "shared", "datasets", "trainticket-2023-01-30")
	}
	if _, err := os.Stat(filepath.Join(dir, "README.md")); err != nil {
		tb.Skipf("dataset not found at %s (set RCA_DATASET)", dir)
	}
	return dir
}

func TestRealDataset(t *testing.T) {
	dir := filepath.Join(datasetDir(t), "nezha", "rca_data", "2023-01-30")
	day := time.Date(2023, 1, 30, 0, 0, 0, 0, time.UTC)
	r, err := Open(Options{
		Parts:  []Part{{Dir: dir, From: day.Add(12 * time.Hour), To: day.Add(12*time.Hour + 2*time.Minute)}},
		Traces: true, Logs: true, Metrics: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	st := r.Stats()
	t.Logf("stats %+v", st)
	var spans, logs, errorLogs, points int
	for _, b := range collect(t, r, time.Second) {
		eachSpan(b.Traces, func(res pcommon.Resource, s ptrace.Span) {
			spans++
			if str(res.Attributes(), "service.name") == "" {
				t.Fatalf("span %s: resource %v", s.SpanID(), res.Attributes().AsRaw())
			}
		})
		eachLog(b.Logs, func(_ pcommon.Resource, l plog.LogRecord) {
			logs++
			if l.SeverityNumber() == plog.SeverityNumberError {
				errorLogs++
			}
		})
		points += b.Metrics.DataPointCount()
	}
	if spans == 0 || spans != st.Spans || logs == 0 || errorLogs == 0 || points == 0 {
		t.Errorf("spans %d, logs %d (%d ERROR), points %d", spans, logs, errorLogs, points)
	}
}

func BenchmarkReadTrastrainer(b *testing.B) {
	dir := filepath.Join(datasetDir(b), "trastrainer")
	b.ReportAllocs()
	spans := 0
	for b.Loop() {
		r, err := Open(Options{Parts: []Part{{Dir: dir}}, Traces: true})
		if err != nil {
			b.Fatal(err)
		}
		for {
			batch, ok := r.Next()
			if !ok {
				break
			}
			spans += batch.Traces.SpanCount()
		}
	}
	b.ReportMetric(float64(spans)/b.Elapsed().Seconds(), "spans/s")
}
