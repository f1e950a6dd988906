package simulate // import "github.com/otelcol-rca/otelcol-rca/receiver/scenarioreceiver/simulate"

import (
	"cmp"
	"container/heap"
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/otelcol-rca/otelcol-rca/receiver/scenarioreceiver/model"
)

const noDeadline = int64(math.MaxInt64)

type spanKind uint8

const (
	kindServer spanKind = iota
	kindClient          // HTTP call to a service
	kindDep             // HTTP call to an uninstrumented dependency
	kindDB
	kindInternal
)

// span is a finished span in simulation terms; emit.go turns it into pdata.
type span struct {
	id       [8]byte
	parent   int32 // index in request.spans, -1 for the root
	kind     spanKind
	svc      *service
	op       *op   // server spans
	st       *step // other spans
	start    int64
	end      int64
	status   int // HTTP status, 0 when there was no response
	failed   bool
	exc      bool // has an exception event
	errType  string
	msg      string
	wait     int64 // db: time waiting for a connection
	timedOut bool  // db: pool wait timeout
	// Server spans: what happened inside, for the service's own metrics.
	retries, timeouts int
}

type logRec struct {
	svc  *service
	span int32
	t    int64
	sev  int
	body string
}

type request struct {
	traceID [16]byte
	end     int64
	spans   []span
	logs    []logRec
}

type result struct {
	end     int64
	failed  bool
	timeout bool
	status  int
	msg     string
	// wrong is the bad_response fault whose wrong value this call
	// returned, successfully: the caller acts on it.
	wrong *fault
}

func (e *Engine) newRequest() *request {
	if n := len(e.free); n > 0 {
		r := e.free[n-1]
		e.free = e.free[:n-1]
		return r
	}
	return &request{spans: make([]span, 0, 16), logs: make([]logRec, 0, 8)}
}

func (e *Engine) release(r *request) {
	r.spans = r.spans[:0]
	r.logs = r.logs[:0]
	e.free = append(e.free, r)
}

func (e *Engine) simulate(t int64) {
	r := e.newRequest()
	binary.LittleEndian.PutUint64(r.traceID[:8], e.rng.Uint64())
	binary.LittleEndian.PutUint64(r.traceID[8:], e.rng.Uint64())
	entry := e.c.entries[0]
	if len(e.c.entries) > 1 {
		x := e.rng.Float64() * e.c.weights[len(e.c.weights)-1]
		for i, w := range e.c.weights {
			if x < w {
				entry = e.c.entries[i]
				break
			}
		}
	}
	res := e.runOp(r, entry, t, noDeadline, -1, false)
	r.end = res.end
	heap.Push(&e.pending, r)
}

func (e *Engine) addSpan(r *request, kind spanKind, svc *service, parent int32, t int64) int32 {
	var id [8]byte
	binary.LittleEndian.PutUint64(id[:], e.rng.Uint64()|1)
	r.spans = append(r.spans, span{id: id, parent: parent, kind: kind, svc: svc, start: t, end: t})
	return int32(len(r.spans) - 1)
}

func (e *Engine) logs(r *request, svc *service, si int32, t int64, ts []logTmpl, dur int64, attempt int, status int) {
	for _, l := range ts {
		body := l.parts[0]
		if len(l.parts) > 1 {
			var b strings.Builder
			for i, p := range l.parts {
				if i%2 == 0 {
					b.WriteString(p)
					continue
				}
				switch p {
				case "duration_ms":
					b.WriteString(strconv.FormatInt(dur/int64(time.Millisecond), 10))
				case "attempt":
					b.WriteString(strconv.Itoa(attempt))
				case "status":
					b.WriteString(strconv.Itoa(status))
				case "service":
					b.WriteString(svc.name)
				default:
					b.WriteString("{" + p + "}")
				}
			}
			body = b.String()
		}
		r.logs = append(r.logs, logRec{svc: svc, span: si, t: t, sev: l.sev, body: body})
	}
}

// runOp simulates a server operation starting at t that must end by dl.
func (e *Engine) runOp(r *request, o *op, t, dl int64, parent int32, bad bool) result {
	si := e.addSpan(r, kindServer, o.svc, parent, t)
	r.spans[si].op = o
	if o.deadline > 0 {
		dl = min(dl, t+o.deadline)
	}
	e.logs(r, o.svc, si, t, o.logs.start, 0, 0, 0)
	self := o.lat.sample(e.rng)
	var res result
	delay, broken, _, wrong := e.applyFaults(o.faults, r, t)
	self += delay
	var thrown *fault
	if broken != nil {
		res = result{failed: true, status: cmp.Or(broken.status, 500), msg: cmp.Or(broken.msg, "internal server error")}
		if broken.kind == model.KindException {
			// Thrown before the work: no step runs, the span fails fast.
			thrown = broken
			res.msg = cmp.Or(broken.msg, o.name+" threw "+broken.excType)
			self = self * 3 / 10
		}
	}
	badFail := false
	if bad && o.bad != nil {
		self += o.bad.lat.sample(e.rng)
		if e.rng.Float64() < o.bad.errRate {
			badFail = true
			res = result{failed: true, status: o.bad.status, msg: o.bad.msg}
		}
	}
	if !res.failed && o.errRate > 0 && e.rng.Float64() < o.errRate {
		res = result{failed: true, status: cmp.Or(o.errStatus, 500), msg: cmp.Or(o.errMsg, "internal server error")}
	}
	pre := self * 7 / 10
	cur := t + pre
	var stepFail *result
	retries, timeouts := 0, 0
	if !res.failed {
		prior := false
		// Like code that does not check its context between calls, a step
		// reached at the deadline is still attempted and fails at once.
		for _, st := range o.steps {
			if cur > dl {
				break
			}
			sr := e.runStep(r, o, st, cur, dl, si, prior, &retries, &timeouts)
			cur = sr.end
			if f := sr.wrong; f != nil && !sr.failed {
				// A wrong value came back: the caller warns, goes on with it
				// (its later calls carry incomplete input) and may fail at
				// its end because of it.
				prior = true
				e.logWrongValue(r, o, st, si, cur, f)
				if stepFail == nil && e.rng.Float64() < f.errRate {
					stepFail = &result{failed: true, status: 500, msg: "invalid response from " + f.truth.CulpritService}
				}
			}
			if sr.failed {
				prior = true
				if st.onError != model.OnErrorContinue && stepFail == nil {
					stepFail = &sr
				}
				if st.onError == model.OnErrorFail {
					break
				}
			}
		}
	}
	end := cur + self - pre
	if end > dl {
		end = max(dl, t)
		res = result{failed: true, timeout: true, status: 504, msg: "context deadline exceeded"}
	} else if stepFail != nil && !res.failed {
		status := 500
		if stepFail.timeout {
			status = 504
		}
		res = result{failed: true, status: cmp.Or(o.errStatus, status), msg: cmp.Or(o.errMsg, stepFail.msg)}
	}
	res.end = end
	if res.status == 0 {
		res.status = 200
	}
	sp := &r.spans[si]
	sp.end, sp.status, sp.retries, sp.timeouts = end, res.status, retries, timeouts
	if thrown != nil && res.failed && !res.timeout {
		sp.exc, sp.errType = true, thrown.excType
		body := fmt.Sprintf("Request processing failed: %s: %s\n\tat %s(%s)", thrown.excType, res.msg, o.name, o.svc.name)
		r.logs = append(r.logs, logRec{svc: o.svc, span: si, t: end, sev: severityNumbers["ERROR"], body: body})
	}
	if wrong != nil && !res.failed {
		res.wrong = wrong
	}
	if res.failed {
		sp.failed, sp.msg = res.status >= 500, res.msg
		if badFail {
			e.logs(r, o.svc, si, end, o.bad.logs.err, end-t, 0, res.status)
		}
		e.logs(r, o.svc, si, end, o.logs.err, end-t, 0, res.status)
	} else {
		e.logs(r, o.svc, si, end, o.logs.end, end-t, 0, res.status)
	}
	return res
}

// applyFaults applies the faults of an operation, a step or a dependency
// that are active at t, in their order: the delay they add, the error fault
// that broke this request (the last one drawn; nil when none), and a
// dependency_down fault (the last hanging one, or the first refusing one, at
// which it stops: a refused connection ends the call). A fault that hits the
// request marks it affected. Connection pools apply their own kind of fault
// (a held pool) where they are called.
func (e *Engine) applyFaults(faults []*fault, r *request, t int64) (delay int64, broken, down, wrong *fault) {
	s := e.scen(t)
	for _, f := range faults {
		if !f.windows.active(s) {
			continue
		}
		switch f.kind {
		case model.KindLatency:
			delay += f.lat.sample(e.rng)
			e.affected(f, r, t)
		case model.KindError, model.KindException:
			if e.rng.Float64() < f.errRate {
				broken = f
				e.affected(f, r, t)
			}
		case model.KindBadResponse:
			wrong = f
			e.affected(f, r, t)
		case model.KindDependencyDown:
			e.affected(f, r, t)
			down = f
			if !f.hang {
				return delay, broken, down, wrong
			}
		}
	}
	return delay, broken, down, wrong
}

// logWrongValue is the warning a caller logs about a wrong value that came
// back from a call of step st.
func (e *Engine) logWrongValue(r *request, o *op, st *step, si int32, t int64, f *fault) {
	what := f.truth.CulpritService
	if st.callee != nil {
		what = st.callee.svc.name + " " + st.callee.name
	}
	msg := cmp.Or(f.msg, "unexpected value")
	r.logs = append(r.logs, logRec{svc: o.svc, span: si, t: t, sev: severityNumbers["WARN"], body: "Invalid response from " + what + ": " + msg})
}

// runStep runs a step with its retries.
func (e *Engine) runStep(r *request, o *op, st *step, t, dl int64, parent int32, bad bool, retries, timeouts *int) result {
	if st.kind == stepParallel {
		res := result{end: t}
		for _, c := range st.children {
			cr := e.runStep(r, o, c, t, dl, parent, bad, retries, timeouts)
			res.end = max(res.end, cr.end)
			if res.wrong == nil {
				res.wrong = cr.wrong
			}
			if cr.failed && c.onError != model.OnErrorContinue && !res.failed {
				res.failed, res.timeout, res.msg = true, cr.timeout, cr.msg
			}
		}
		return res
	}
	first := t
	e.logs(r, o.svc, parent, t, st.logs.start, 0, 1, 0)
	var res result
	for a := 1; ; a++ {
		adl := dl
		if st.timeout > 0 {
			adl = min(adl, t+st.timeout)
		}
		res = e.attempt(r, o, st, t, adl, parent, bad)
		if res.timeout {
			*timeouts++
			e.logs(r, o.svc, parent, res.end, st.logs.timeout, res.end-t, a, res.status)
		}
		if !res.failed || a > st.retries || res.end+st.backoff >= dl {
			break
		}
		*retries++
		e.logs(r, o.svc, parent, res.end, st.logs.retry, res.end-t, a, res.status)
		t = res.end + st.backoff
	}
	if res.failed {
		e.logs(r, o.svc, parent, res.end, st.logs.err, res.end-first, 0, res.status)
	} else {
		e.logs(r, o.svc, parent, res.end, st.logs.end, res.end-first, 0, res.status)
	}
	return res
}

func (e *Engine) net() int64 {
	return int64(300*time.Microsecond) + e.rng.Int64N(int64(1200*time.Microsecond))
}

// timeoutSpan ends a client span at its deadline.
func timeoutSpan(sp *span, end int64, what string) {
	sp.end, sp.failed, sp.exc = end, true, true
	sp.errType = "TimeoutError"
	sp.msg = what + ": context deadline exceeded"
}

// attempt runs one try of a call, query or piece of work as a child of parent.
func (e *Engine) attempt(r *request, o *op, st *step, t, dl int64, parent int32, bad bool) result {
	// Faults aimed at this step by name; database steps handle theirs in query.
	var extra int64
	var broken *fault
	if st.kind != stepDB {
		extra, broken, _, _ = e.applyFaults(st.faults, r, t)
	}
	switch st.kind {
	case stepWork:
		si := e.addSpan(r, kindInternal, o.svc, parent, t)
		r.spans[si].st = st
		end := t + st.lat.sample(e.rng) + extra
		if broken != nil && end <= dl {
			sp := &r.spans[si]
			sp.end, sp.failed, sp.exc, sp.errType = end, true, true, "Error"
			sp.msg = cmp.Or(broken.msg, st.name+" failed")
			return result{end: end, failed: true, msg: sp.msg}
		}
		if end > dl {
			timeoutSpan(&r.spans[si], max(dl, t), st.name)
			return result{end: r.spans[si].end, failed: true, timeout: true, msg: r.spans[si].msg}
		}
		r.spans[si].end = end
		return result{end: end}
	case stepCall:
		ci := e.addSpan(r, kindClient, o.svc, parent, t)
		r.spans[ci].st = st
		n1, n2 := e.net(), e.net()
		what := st.method + " " + st.url
		if t+n1+n2 >= dl {
			timeoutSpan(&r.spans[ci], max(dl, t), what)
			return result{end: r.spans[ci].end, failed: true, timeout: true, msg: r.spans[ci].msg}
		}
		if broken != nil {
			return e.brokenCall(r.spans[ci:ci+1], t+n1+n2, broken, what)
		}
		n2 += extra
		cr := e.runOp(r, st.callee, t+n1, dl-n2, ci, bad)
		sp := &r.spans[ci]
		wrong := cr.wrong
		end := cr.end + n2
		if cr.timeout && end >= dl-n2 || end > dl {
			timeoutSpan(sp, dl, what)
			return result{end: dl, failed: true, timeout: true, msg: sp.msg}
		}
		sp.end, sp.status = end, cr.status
		if cr.status >= 400 {
			sp.failed, sp.errType = true, strconv.Itoa(cr.status)
			sp.msg = fmt.Sprintf("%s: %d %s", what, cr.status, statusText(cr.status))
			return result{end: end, failed: true, status: cr.status, msg: cr.msg}
		}
		return result{end: end, status: cr.status, wrong: wrong}
	case stepDep:
		if broken != nil {
			ci := e.addSpan(r, kindDep, o.svc, parent, t)
			r.spans[ci].st = st
			return e.brokenCall(r.spans[ci:ci+1], t+e.net(), broken, st.method+" "+st.url)
		}
		return e.callDependency(r, o, st, t, dl, parent, extra)
	default:
		return e.query(r, o, st, t, dl, parent)
	}
}

// brokenCall fails a client span at end with the fault's status, or with a
// reset connection when it has none.
func (e *Engine) brokenCall(sp []span, end int64, f *fault, what string) result {
	s := &sp[0]
	s.end, s.failed = end, true
	if f.status != 0 {
		s.status, s.errType = f.status, strconv.Itoa(f.status)
		s.msg = fmt.Sprintf("%s: %d %s", what, f.status, statusText(f.status))
		return result{end: end, failed: true, status: f.status, msg: cmp.Or(f.msg, s.msg)}
	}
	s.exc, s.errType = true, "ConnectionResetError"
	s.msg = cmp.Or(f.msg, what+": read: connection reset by peer")
	return result{end: end, failed: true, msg: s.msg}
}

func (e *Engine) callDependency(r *request, o *op, st *step, t, dl int64, parent int32, extra int64) result {
	ci := e.addSpan(r, kindDep, o.svc, parent, t)
	sp := &r.spans[ci]
	sp.st = st
	d := st.dep
	what := st.method + " " + st.url
	lat := d.lat.sample(e.rng) + extra
	status := 200
	if e.rng.Float64() < d.errRate {
		status = 502
	}
	delay, broken, down, _ := e.applyFaults(d.faults, r, t)
	lat += delay
	if broken != nil {
		status = cmp.Or(broken.status, 503)
	}
	switch {
	case down == nil:
	case down.hang:
		lat = noDeadline / 2 // it never answers
	default:
		sp.end, sp.failed, sp.exc = t+e.net(), true, true
		sp.errType = "ConnectionRefusedError"
		sp.msg = fmt.Sprintf("dial tcp %s:%d: connect: connection refused", st.address, st.port)
		return result{end: sp.end, failed: true, msg: sp.msg}
	}
	end := t + lat
	if end > dl {
		timeoutSpan(sp, max(dl, t), what)
		return result{end: sp.end, failed: true, timeout: true, msg: sp.msg}
	}
	sp.end, sp.status = end, status
	if status >= 400 {
		sp.failed, sp.errType = true, strconv.Itoa(status)
		sp.msg = fmt.Sprintf("%s: %d %s", what, status, statusText(status))
		return result{end: end, failed: true, status: status, msg: sp.msg}
	}
	return result{end: end, status: status}
}

func statusText(code int) string {
	switch code {
	case 422:
		return "Unprocessable Entity"
	case 502:
		return "Bad Gateway"
	case 503:
		return "Service Unavailable"
	case 504:
		return "Gateway Timeout"
	}
	if code >= 500 {
		return "Internal Server Error"
	}
	return "Error"
}

// query runs a database step: wait for a pool connection, then the query.
func (e *Engine) query(r *request, o *op, st *step, t, dl int64, parent int32) result {
	di := e.addSpan(r, kindDB, o.svc, parent, t)
	sp := &r.spans[di]
	sp.st = st
	p := st.pool
	s := e.scen(t)
	// A fault holds connections until its hold elapses or its window closes.
	var hold, holdEnd int64
	var poolFaults []*fault
	for _, f := range p.faults {
		if f.windows.active(s) {
			hold, holdEnd = max(hold, f.hold), max(holdEnd, int64(float64(f.windows.b)/e.scale))
			poolFaults = append(poolFaults, f)
		}
	}
	q := st.lat.sample(e.rng)
	for _, f := range st.faults {
		if f.windows.active(s) {
			switch f.kind {
			case model.KindLatency:
				q += f.lat.sample(e.rng)
			case model.KindError:
				if e.rng.Float64() < f.errRate {
					q = -1
				}
			}
			e.affected(f, r, t)
		}
	}
	failed := q < 0 || (st.errRate > 0 && e.rng.Float64() < st.errRate)
	q = max(q, int64(200*time.Microsecond))
	need := q
	if hold > 0 {
		need = max(q, min(hold, holdEnd-t))
	}
	idx, free := p.acquire(t, need)
	wait := max(free-t, 0)
	if wait > 0 {
		for _, f := range poolFaults {
			e.affected(f, r, t)
		}
		e.logs(r, o.svc, parent, t, st.logs.wait, 0, 0, 0)
	}
	if t+wait >= dl || wait > p.waitTimeout {
		if p.waitTimeout < dl-t {
			sp.wait, sp.timedOut = p.waitTimeout, true
			sp.end, sp.failed, sp.exc = t+p.waitTimeout, true, true
			sp.errType = "ConnectionTimeoutError"
			sp.msg = fmt.Sprintf("connection timeout: no connection available in pool %s (%d/%d in use) after %v", p.name, p.size, p.size, time.Duration(p.waitTimeout))
			return result{end: sp.end, failed: true, timeout: true, msg: sp.msg}
		}
		sp.wait = max(dl-t, 0)
		timeoutSpan(sp, max(dl, t), st.name)
		return result{end: sp.end, failed: true, timeout: true, msg: sp.msg}
	}
	sp.wait = wait
	begin := t + wait
	end := begin + q
	timedOut := end > dl
	if timedOut {
		end = dl
	}
	if idx >= 0 {
		p.slots[idx] = slot{prevUntil: p.slots[idx].until, from: begin, until: max(end, min(begin+hold, holdEnd))}
	}
	if timedOut {
		timeoutSpan(sp, end, st.name)
		return result{end: end, failed: true, timeout: true, msg: sp.msg}
	}
	sp.end = end
	if failed {
		sp.failed, sp.exc, sp.errType = true, true, "QueryCanceledError"
		sp.msg = "ERROR: canceling statement due to statement timeout (SQLSTATE 57014)"
		return result{end: end, failed: true, msg: sp.msg}
	}
	return result{end: end}
}

// slot is a connection: busy until prevUntil, then free, then reserved [from, until).
type slot struct{ prevUntil, from, until int64 }

// acquire finds a connection needed for q from t. It returns
// the slot to record the use in (-1 when the query fits in a gap and needs no
// record) and when the connection is free.
func (p *pool) acquire(t, q int64) (int, int64) {
	best, earliest := 0, int64(math.MaxInt64)
	for i, s := range p.slots {
		if s.until <= t {
			return i, t
		}
		if s.prevUntil <= t && s.from > t+q {
			return -1, t
		}
		if s.until < earliest {
			best, earliest = i, s.until
		}
	}
	return best, earliest
}

// used returns the number of connections in use at t.
func (p *pool) used(t int64) int {
	n := 0
	for _, s := range p.slots {
		if s.from <= t && t < s.until {
			n++
		}
	}
	return n
}
