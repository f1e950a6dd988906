package trainticket

import (
	"cmp"
	"math"
	"slices"
	"strconv"
	"strings"
)

// point is one loaded gauge data point.
type point struct {
	time   int64 // Unix ns
	value  float64
	pod    uint32 // index into Reader.pods
	series uint8  // index into metricSeries
}

// attr is a data point attribute, a string or a double.
type attr struct {
	key   string
	str   string
	num   float64
	isNum bool
}

// series maps one column of the metric files to an OTLP gauge, named after
// the OpenTelemetry semantic conventions where they have one.
type series struct {
	col   string // CSV column
	name  string // metric name; series of one name are adjacent
	unit  string
	scale float64
	attrs []attr
}

var metricSeries = []series{
	{col: "CpuUsage(m)", name: "k8s.pod.cpu.usage", unit: "{cpu}", scale: 1e-3},
	{col: "CpuUsageRate(%)", name: "k8s.pod.cpu_limit_utilization", unit: "1", scale: 1e-2},
	{col: "MemoryUsage(Mi)", name: "k8s.pod.memory.usage", unit: "By", scale: 1 << 20},
	{col: "MemoryUsageRate(%)", name: "k8s.pod.memory_limit_utilization", unit: "1", scale: 1e-2},
	{
		col: "NetworkReceiveBytes", name: "k8s.pod.network.io.rate", unit: "By/s", scale: 1,
		attrs: []attr{{key: "network.io.direction", str: "receive"}},
	},
	{
		col: "NetworkTransmitBytes", name: "k8s.pod.network.io.rate", unit: "By/s", scale: 1,
		attrs: []attr{{key: "network.io.direction", str: "transmit"}},
	},
	latency("PodClientLatencyP90(s)", "client", 0.9),
	latency("PodServerLatencyP90(s)", "server", 0.9),
	latency("PodClientLatencyP95(s)", "client", 0.95),
	latency("PodServerLatencyP95(s)", "server", 0.95),
	latency("PodClientLatencyP99(s)", "client", 0.99),
	latency("PodServerLatencyP99(s)", "server", 0.99),
	{col: "PodWorkload(Ops)", name: "trainticket.pod.workload", unit: "{operation}/s", scale: 1},
	{col: "PodSuccessRate(%)", name: "trainticket.pod.success_rate", unit: "1", scale: 1e-2},
	{col: "NodeCpuUsageRate(%)", name: "k8s.node.cpu.utilization", unit: "1", scale: 1e-2},
	{col: "NodeMemoryUsageRate(%)", name: "k8s.node.memory.utilization", unit: "1", scale: 1e-2},
}

func latency(col, side string, q float64) series {
	return series{
		col: col, name: "trainticket.pod.latency", unit: "s", scale: 1,
		attrs: []attr{{key: "rpc.side", str: side}, {key: "quantile", num: q, isNum: true}},
	}
}

// metricOf numbers the distinct metric names: metricOf[series] is the metric
// a series' points go to, numMetrics how many there are.
var metricOf, numMetrics = func() ([]int, int) {
	m := make([]int, len(metricSeries))
	n := 0
	for i, s := range metricSeries {
		if i > 0 && s.name != metricSeries[i-1].name {
			n++
		}
		m[i] = n
	}
	return m, n + 1
}()

// readMetrics reads a <pod>_metric.csv[.gz] file, keeping the rows of the
// selected minutes.
func (fd *fileData) readMetrics(path, podName string, sel selector) error {
	c, hdr, err := openCSV(path)
	if err != nil {
		return err
	}
	if hdr == nil {
		fd.stats.FilesSkipped++
		return nil
	}
	defer c.close()
	col, err := columns(path, hdr, "TimeStamp")
	if err != nil {
		return err
	}
	iTS := col[0]
	cols := make([]int, len(metricSeries))
	for i, s := range metricSeries {
		cols[i] = colIndex(hdr, s.col)
	}
	pod := fd.pods.intern(podName)
	st := &fd.stats
	err = c.each(&st.MetricRowsSkipped, func(rec []string) bool {
		if iTS >= len(rec) {
			return false
		}
		sec, ok := unixSeconds(rec[iTS])
		if !ok {
			return false
		}
		if !sel.containsUnix(sec) {
			return true
		}
		for i, ci := range cols {
			v, ok := 0.0, ci >= 0 && ci < len(rec)
			if ok {
				var err error
				v, err = strconv.ParseFloat(strings.TrimSpace(rec[ci]), 64)
				// NaN is how the files say "no requests this minute": no point.
				ok = err == nil && !math.IsNaN(v) && !math.IsInf(v, 0)
			}
			if !ok {
				st.MetricPointsSkipped++
				continue
			}
			fd.points = append(fd.points, point{
				time: sec * 1e9, value: v * metricSeries[i].scale, pod: pod, series: uint8(i),
			})
		}
		return true
	})
	if err != nil {
		return err
	}
	st.Files++
	return nil
}

// unixSeconds parses a TimeStamp: Unix seconds, possibly with a fraction
// (dropped: the rows are a minute apart).
func unixSeconds(s string) (int64, bool) {
	s = strings.TrimSpace(s)
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, n > 0
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || !(f > 0 && f < math.MaxInt64/1e9) {
		return 0, false
	}
	return int64(f), true
}

// finishPoints drops points read twice (the same metric file in two parts)
// and puts the rest in time order.
func (r *Reader) finishPoints() {
	// Stable, so that the first read of a duplicate is kept.
	slices.SortStableFunc(r.points, cmpPoint)
	w := 0
	for i := range r.points {
		if w > 0 && cmpPoint(r.points[i], r.points[w-1]) == 0 {
			r.stats.MetricDuplicates++
			continue
		}
		r.points[w] = r.points[i]
		w++
	}
	r.points = r.points[:w]
	r.stats.MetricPoints = w
}

func cmpPoint(a, b point) int {
	if c := cmp.Compare(a.time, b.time); c != 0 {
		return c
	}
	if c := cmp.Compare(a.pod, b.pod); c != 0 {
		return c
	}
	return cmp.Compare(a.series, b.series)
}
