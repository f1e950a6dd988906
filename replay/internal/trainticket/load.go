package trainticket

import (
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
)

// fileKind is what a file holds.
type fileKind uint8

const (
	traceFile fileKind = iota
	logFile
	metricFile
)

// job is one file to read.
type job struct {
	kind fileKind
	path string
	pod  string   // metric files: the pod, from the file name
	sel  selector // metric files: the minutes of the rows to keep
}

// fileData is what one file holds, with names interned per file so that
// files can be read in parallel; merge maps them to the Reader's tables.
type fileData struct {
	pods, ops, strs strtab
	traces          strtab16
	spans           []span
	logs            []logRec
	points          []point
	stats           Stats
}

// plan lists the files of one part, in name (and so time) order.
func (r *Reader) plan(jobs []job, dir string, sel selector, opts Options) ([]job, error) {
	minuteFiles := func(sub, suffix string, kind fileKind) error {
		ents, err := listDir(filepath.Join(dir, sub))
		if err != nil {
			return err
		}
		for _, e := range ents {
			if e.IsDir() {
				continue
			}
			name := e.Name()
			m, ok := minuteFile(name)
			if !ok || strings.TrimSuffix(name, ".gz")[5:] != suffix {
				r.stats.FilesSkipped++
				continue
			}
			if sel.contains(m) {
				jobs = append(jobs, job{kind: kind, path: filepath.Join(dir, sub, name)})
			}
		}
		return nil
	}
	if opts.Traces {
		if err := minuteFiles("trace", "_trace.csv", traceFile); err != nil {
			return nil, err
		}
	}
	if opts.Logs {
		if err := minuteFiles("log", "_log.csv", logFile); err != nil {
			return nil, err
		}
	}
	if opts.Metrics {
		ents, err := listDir(filepath.Join(dir, "metric"))
		if err != nil {
			return nil, err
		}
		for _, e := range ents {
			if e.IsDir() {
				continue
			}
			name := e.Name()
			// front_service.csv.gz has no pod: it is the front end's view.
			pod, ok := strings.CutSuffix(strings.TrimSuffix(name, ".gz"), "_metric.csv")
			if !ok || pod == "" {
				r.stats.FilesSkipped++
				continue
			}
			jobs = append(jobs, job{kind: metricFile, path: filepath.Join(dir, "metric", name), pod: pod, sel: sel})
		}
	}
	return jobs, nil
}

// load reads the files on all cores (decompressing and parsing is nearly
// all of the work) and merges them in job order, so that the result does not
// depend on scheduling.
func (r *Reader) load(jobs []job) error {
	type result struct {
		fd   *fileData
		err  error
		done chan struct{}
	}
	results := make([]result, len(jobs))
	for i := range results {
		results[i].done = make(chan struct{})
	}
	var next atomic.Int64
	var failed atomic.Bool
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(jobs)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(jobs) {
					return
				}
				if !failed.Load() {
					results[i].fd, results[i].err = readFile(jobs[i])
					if results[i].err != nil {
						failed.Store(true)
					}
				}
				close(results[i].done)
			}
		})
	}
	defer wg.Wait()

	m := newMerger(r)
	for i := range results {
		<-results[i].done
		if results[i].err != nil {
			failed.Store(true)
			return results[i].err
		}
		m.add(results[i].fd)
		results[i].fd = nil
	}
	m.finish()
	return nil
}

func readFile(j job) (*fileData, error) {
	fd := &fileData{}
	var err error
	switch j.kind {
	case traceFile:
		err = fd.readTraces(j.path)
	case logFile:
		err = fd.readLogs(j.path)
	case metricFile:
		err = fd.readMetrics(j.path, j.pod, j.sel)
	}
	return fd, err
}

// merger maps the files' interned names to the Reader's.
type merger struct {
	r      *Reader
	podIdx map[string]uint32
	svcIdx map[string]uint32
	trace  strtab16
	spans  [][]span // per file, remapped
}

func newMerger(r *Reader) *merger {
	return &merger{r: r, podIdx: make(map[string]uint32), svcIdx: make(map[string]uint32)}
}

func (m *merger) pod(name string) uint32 {
	if i, ok := m.podIdx[name]; ok {
		return i
	}
	i := uint32(len(m.r.pods))
	m.podIdx[name] = i
	svc := ServiceOf(name)
	si, ok := m.svcIdx[svc]
	if !ok {
		si = uint32(len(m.svcIdx))
		m.svcIdx[svc] = si
	}
	m.r.pods = append(m.r.pods, podInfo{name: name, service: svc, svc: si})
	return i
}

func remap(t *strtab, f func(string) uint32) []uint32 {
	out := make([]uint32, len(t.s))
	for i, s := range t.s {
		out[i] = f(s)
	}
	return out
}

func (m *merger) add(fd *fileData) {
	r := m.r
	r.stats.add(fd.stats)
	pods := remap(&fd.pods, m.pod)
	if len(fd.spans) > 0 {
		ops := remap(&fd.ops, r.ops.intern)
		traces := make([]uint32, len(fd.traces.ids))
		for i, id := range fd.traces.ids {
			traces[i] = m.trace.intern(id)
		}
		for i := range fd.spans {
			s := &fd.spans[i]
			s.pod = pods[s.pod]
			s.op = ops[s.op]
			s.trace = traces[s.trace]
		}
		m.spans = append(m.spans, fd.spans)
	}
	if len(fd.logs) > 0 {
		strs := remap(&fd.strs, r.strs.intern)
		for i := range fd.logs {
			l := &fd.logs[i]
			l.pod = pods[l.pod]
			l.container = strs[l.container]
			l.stream = strs[l.stream]
			l.sevText = strs[l.sevText]
			l.codeClass = strs[l.codeClass]
		}
		r.logs = append(r.logs, fd.logs...)
	}
	for i := range fd.points {
		fd.points[i].pod = pods[fd.points[i].pod]
	}
	r.points = append(r.points, fd.points...)
}

func (m *merger) finish() {
	m.r.traceIDs = m.trace.ids
	m.r.finishSpans(m.spans)
	m.spans = nil
}

func (s *Stats) add(o Stats) {
	s.Files += o.Files
	s.FilesSkipped += o.FilesSkipped
	s.Spans += o.Spans
	s.SpanDuplicates += o.SpanDuplicates
	s.SpanRowsSkipped += o.SpanRowsSkipped
	s.Logs += o.Logs
	s.LogDuplicates += o.LogDuplicates
	s.LogRowsSkipped += o.LogRowsSkipped
	s.LogTimesRepaired += o.LogTimesRepaired
	s.MetricPoints += o.MetricPoints
	s.MetricDuplicates += o.MetricDuplicates
	s.MetricRowsSkipped += o.MetricRowsSkipped
	s.MetricPointsSkipped += o.MetricPointsSkipped
}

// strtab16 interns trace IDs: a span holds a 4-byte index instead of the
// 16-byte ID, and spans are grouped by trace by that index.
type strtab16 struct {
	idx  map[[16]byte]uint32
	ids  [][16]byte
	last uint32 // rows of a trace are mostly adjacent
}

func (t *strtab16) intern(id [16]byte) uint32 {
	if len(t.ids) > 0 && t.ids[t.last] == id {
		return t.last
	}
	i, ok := t.idx[id]
	if !ok {
		if t.idx == nil {
			t.idx = make(map[[16]byte]uint32)
		}
		i = uint32(len(t.ids))
		t.idx[id] = i
		t.ids = append(t.ids, id)
	}
	t.last = i
	return i
}
