package simulate // import "github.com/otelcol-rca/otelcol-rca/receiver/scenarioreceiver/simulate"

import (
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"time"

	"github.com/otelcol-rca/otelcol-rca/receiver/scenarioreceiver/model"
)

// The compiled scenario: the model resolved into pointers and indexes, so the
// per-request walk does no lookups by name.

type dist struct {
	mu, sigma float64
	fixed     int64
}

func newDist(l model.Latency) dist {
	if l.P99 == 0 || l.P99 == l.P50 || l.P50 == 0 {
		return dist{fixed: int64(max(l.P50, l.P99))}
	}
	return dist{mu: math.Log(float64(l.P50)), sigma: math.Log(float64(l.P99)/float64(l.P50)) / 2.3263}
}

func (d dist) sample(r *rand.Rand) int64 {
	if d.sigma == 0 {
		return d.fixed
	}
	return int64(math.Exp(d.mu + d.sigma*r.NormFloat64()))
}

type service struct {
	idx           int
	name, version string
	ops           []*op
	pools         []*pool
	met           *serviceMetrics
}

type logTmpl struct {
	sev   int
	parts []string // literal, placeholder, literal, ...
}

type logSet struct{ start, end, err, timeout, retry, wait []logTmpl }

type customMetric struct {
	m    model.Metric
	on   string
	keys []string // attribute keys, sorted
}

type op struct {
	idx           int
	svc           *service
	name, method  string
	route         string
	lat           dist
	errRate       float64
	errStatus     int
	errMsg        string
	deadline      int64
	steps         []*step
	logs          logSet
	metrics       []customMetric
	bad           *badInput
	faults        []*fault
	serverAddress string
}

type badInput struct {
	lat     dist
	errRate float64
	status  int
	msg     string
	logs    logSet
}

type stepKind uint8

const (
	stepCall stepKind = iota
	stepDep
	stepDB
	stepWork
	stepParallel
)

type step struct {
	idx      int // per service, for metric series
	kind     stepKind
	name     string
	callee   *op
	dep      *dependency
	method   string
	url      string
	address  string
	port     int64
	pool     *pool
	db       model.DB
	lat      dist
	errRate  float64
	children []*step
	timeout  int64
	backoff  int64
	retries  int
	onError  string
	logs     logSet
	faults   []*fault
}

type dependency struct {
	name, address string
	lat           dist
	errRate       float64
	faults        []*fault
}

type pool struct {
	idx         int
	svc         *service
	name        string
	system      string
	address     string
	size        int
	waitTimeout int64
	// slots are the connections' busy intervals. Requests are simulated in
	// arrival order, so a connection may already be reserved for a later time:
	// a query that fits before that reservation does not wait.
	slots    []slot
	faults   []*fault
	stepName string
}

var severityNumbers = map[string]int{"TRACE": 1, "DEBUG": 5, "INFO": 9, "WARN": 13, "ERROR": 17, "FATAL": 21, "": 9}

func compileLogs(ls model.Logs) logSet {
	c := func(in []model.Log) []logTmpl {
		out := make([]logTmpl, 0, len(in))
		for _, l := range in {
			out = append(out, logTmpl{sev: severityNumbers[l.Severity], parts: splitTemplate(l.Body)})
		}
		return out
	}
	return logSet{start: c(ls.Start), end: c(ls.End), err: c(ls.Error), timeout: c(ls.Timeout), retry: c(ls.Retry), wait: c(ls.Wait)}
}

// splitTemplate splits "took {duration_ms} ms" into literals and placeholders,
// alternating, starting with a literal.
func splitTemplate(s string) []string {
	var parts []string
	for {
		i := strings.Index(s, "{")
		j := strings.Index(s, "}")
		if i < 0 || j < i {
			return append(parts, s)
		}
		parts = append(parts, s[:i], s[i+1:j])
		s = s[j+1:]
	}
}

type compiled struct {
	sc       *model.Scenario
	services []*service
	deps     map[string]*dependency
	entries  []*op
	weights  []float64 // cumulative
	faults   []*fault
	peaks    []peak
}

type peak struct {
	w      *windowCache
	factor float64
}

func compile(sc *model.Scenario, schedule []model.Window) (*compiled, error) {
	c := &compiled{sc: sc, deps: map[string]*dependency{}}
	for _, d := range sc.Dependencies {
		c.deps[d.Name] = &dependency{name: d.Name, address: d.Address, lat: newDist(d.Latency), errRate: d.ErrorRate}
	}
	byName := map[string]*service{}
	for i, ms := range sc.Services {
		s := &service{idx: i, name: ms.Name, version: ms.Version}
		for j, mp := range ms.Pools {
			p := &pool{idx: j, svc: s, name: mp.Name, system: mp.System, address: mp.Address, size: mp.Size, waitTimeout: int64(mp.WaitTimeout)}
			p.slots = make([]slot, p.size)
			s.pools = append(s.pools, p)
		}
		for j, mo := range ms.Operations {
			method, route, err := model.SplitHTTPName(mo.Name)
			if err != nil {
				return nil, err
			}
			o := &op{
				idx: j, svc: s, name: mo.Name, method: method, route: route, lat: newDist(mo.Latency), errRate: mo.ErrorRate,
				errStatus: mo.ErrorStatus, errMsg: mo.ErrorMessage, deadline: int64(mo.Deadline), logs: compileLogs(mo.Logs), serverAddress: ms.Name,
			}
			for _, m := range mo.Metrics {
				cm := customMetric{m: m, on: m.On}
				if cm.on == "" {
					cm.on = "request"
				}
				for k := range m.Attributes {
					cm.keys = append(cm.keys, k)
				}
				sort.Strings(cm.keys)
				o.metrics = append(o.metrics, cm)
			}
			if b := mo.BadInput; b != nil {
				o.bad = &badInput{lat: newDist(b.Latency), errRate: b.ErrorRate, status: b.Status, msg: b.Message, logs: compileLogs(b.Logs)}
				if o.bad.status == 0 {
					o.bad.status = 422
				}
				if o.bad.msg == "" {
					o.bad.msg = "invalid input"
				}
			}
			s.ops = append(s.ops, o)
		}
		byName[s.name] = s
		c.services = append(c.services, s)
	}
	findOp := func(service, name string) *op {
		for _, o := range byName[service].ops {
			if o.name == name {
				return o
			}
		}
		return nil
	}
	for i, ms := range sc.Services {
		s := c.services[i]
		n := 0
		var build func(st *model.Step) *step
		build = func(st *model.Step) *step {
			cs := &step{
				idx: n, name: model.StepName(st), timeout: int64(st.Timeout), backoff: int64(st.Backoff), retries: st.Retries,
				onError: st.OnError, logs: compileLogs(st.Logs),
			}
			n++
			if cs.onError == "" {
				cs.onError = model.OnErrorFail
			}
			switch {
			case st.Call != nil && st.Call.Service != "":
				cs.kind, cs.callee = stepCall, findOp(st.Call.Service, st.Call.Operation)
				cs.method, cs.address, cs.port = cs.callee.method, st.Call.Service, 8080
				cs.url = fmt.Sprintf("http://%s:8080%s", st.Call.Service, cs.callee.route)
			case st.Call != nil:
				cs.kind, cs.dep = stepDep, c.deps[st.Call.Dependency]
				method, route, _ := model.SplitHTTPName(st.Call.Operation)
				cs.method, cs.address, cs.port = method, cs.dep.address, 443
				cs.url = "https://" + cs.dep.address + route
			case st.DB != nil:
				cs.kind, cs.db, cs.lat, cs.errRate = stepDB, *st.DB, newDist(st.DB.Latency), st.DB.ErrorRate
				for _, p := range s.pools {
					if p.name == st.DB.Pool {
						cs.pool = p
						cs.address, cs.port = p.address, 5432
						if p.stepName == "" {
							p.stepName = cs.name
						}
					}
				}
			case st.Work != nil:
				cs.kind, cs.lat = stepWork, newDist(*st.Work)
			default:
				cs.kind = stepParallel
				for j := range st.Parallel {
					cs.children = append(cs.children, build(&st.Parallel[j]))
				}
			}
			return cs
		}
		for j := range ms.Operations {
			for k := range ms.Operations[j].Steps {
				s.ops[j].steps = append(s.ops[j].steps, build(&ms.Operations[j].Steps[k]))
			}
		}
	}
	total := 0.0
	for _, e := range sc.Traffic.Entrypoints {
		total += e.Weight
		c.entries = append(c.entries, findOp(e.Service, e.Operation))
		c.weights = append(c.weights, total)
	}
	if total <= 0 {
		return nil, fmt.Errorf("traffic.entrypoints: weights sum to %v", total)
	}
	for _, pk := range sc.Traffic.Peaks {
		w, err := model.ParseWindow(pk.Window)
		if err != nil {
			return nil, err
		}
		c.peaks = append(c.peaks, peak{w: newWindowCache([]model.Window{w}), factor: pk.Factor})
	}
	for i := range sc.Faults {
		f, err := c.compileFault(sc, &sc.Faults[i], byName, schedule)
		if err != nil {
			return nil, fmt.Errorf("faults[%d]: %w", i, err)
		}
		c.faults = append(c.faults, f)
	}
	return c, nil
}

func (c *compiled) compileFault(sc *model.Scenario, mf *model.Fault, byName map[string]*service, schedule []model.Window) (*fault, error) {
	ws := schedule
	if len(ws) == 0 {
		for _, s := range mf.Windows {
			w, err := model.ParseWindow(s)
			if err != nil {
				return nil, err
			}
			ws = append(ws, w)
		}
	}
	f := &fault{
		m: mf, kind: mf.Kind, lat: newDist(mf.Latency), errRate: mf.ErrorRate, status: mf.Status, msg: mf.Message,
		hold: int64(mf.Hold), hang: mf.Hang, excType: mf.ExceptionType, windows: newWindowCache(ws), truthWindows: newWindowCache(ws),
	}
	f.truth = GroundTruth{
		Scenario: sc.Name, Fault: mf.Name, Kind: mf.Kind, CulpritService: mf.Target.Service,
		CulpritOperation: mf.Target.Operation, Dependency: mf.Target.Dependency,
	}
	if f.truth.Fault == "" {
		f.truth.Fault = mf.Kind
	}
	t := mf.Target
	if t.Dependency != "" {
		d := c.deps[t.Dependency]
		d.faults = append(d.faults, f)
	}
	if s := byName[t.Service]; s != nil {
		switch {
		case t.Pool != "":
			for _, p := range s.pools {
				if p.name == t.Pool {
					p.faults = append(p.faults, f)
					f.truth.Dependency = p.name
					f.truth.CulpritOperation = p.stepName
				}
			}
		case t.Dependency != "":
			// A dependency fault seen only from this service: handled on the dependency.
		default:
			for _, o := range s.ops {
				if t.Operation == "" || t.Operation == o.name {
					o.faults = append(o.faults, f)
				}
				walkSteps(o.steps, func(st *step) {
					if t.Operation != "" && st.name == t.Operation {
						st.faults = append(st.faults, f)
					}
				})
			}
		}
	}
	tr := mf.Truth
	for dst, src := range map[*string]string{
		&f.truth.Kind: tr.Kind, &f.truth.CulpritService: tr.Service,
		&f.truth.CulpritOperation: tr.Operation, &f.truth.Dependency: tr.Dependency,
	} {
		if src != "" {
			*dst = src
		}
	}
	return f, nil
}

func walkSteps(steps []*step, fn func(*step)) {
	for _, st := range steps {
		fn(st)
		walkSteps(st.children, fn)
	}
}

// windowCache answers "is scenario time s inside one of these windows" for
// nearly increasing s without searching every time.
type windowCache struct {
	ws      []model.Window
	startAt time.Duration
	from    time.Duration // the time the cached occurrence was computed for
	a, b    time.Duration
	valid   bool
	none    bool
}

func newWindowCache(ws []model.Window) *windowCache { return &windowCache{ws: ws} }

// next returns the earliest window occurrence ending after s.
func (c *windowCache) next(s time.Duration) (a, b time.Duration, ok bool) {
	first := true
	for _, w := range c.ws {
		wa, wb, wok := w.Next(s, c.startAt)
		if wok && (first || wa < a) {
			a, b, ok, first = wa, wb, true, false
		}
	}
	return a, b, ok
}

func (c *windowCache) active(s time.Duration) bool {
	if c.valid && s >= c.from && s < c.b {
		return s >= c.a
	}
	if c.none && s >= c.from {
		return false
	}
	a, b, ok := c.next(s)
	c.from, c.valid, c.none = s, ok, !ok
	if !ok {
		return false
	}
	c.a, c.b = a, b
	return s >= a
}
