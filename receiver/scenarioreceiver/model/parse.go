package model // import "github.com/otelcol-rca/otelcol-rca/receiver/scenarioreceiver/model"

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"go.opentelemetry.io/collector/confmap"
	"go.yaml.in/yaml/v3"
)

// Load reads, parses and validates a scenario file.
func Load(path string) (*Scenario, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read scenario: %w", err)
	}
	return Parse(data)
}

// Parse decodes a scenario, rejecting unknown keys, applies the defaults and
// validates it. Errors name the key path, e.g. services[1].operations[0].steps[2].call.service.
func Parse(data []byte) (*Scenario, error) {
	var raw map[string]any
	if err := yaml.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("parse scenario: %w", err)
	}
	var sc Scenario
	if err := confmap.NewFromStringMap(raw).Unmarshal(&sc); err != nil {
		return nil, fmt.Errorf("decode scenario: %w", err)
	}
	sc.applyDefaults()
	if err := sc.Validate(); err != nil {
		return nil, err
	}
	return &sc, nil
}

func (sc *Scenario) applyDefaults() {
	if sc.Environment == "" {
		sc.Environment = "production"
	}
	for i := range sc.Traffic.Entrypoints {
		if sc.Traffic.Entrypoints[i].Weight == 0 {
			sc.Traffic.Entrypoints[i].Weight = 1
		}
	}
	if d := sc.Traffic.Diurnal; d != nil && d.Peak == "" {
		d.Peak = "14:00"
	}
	for i := range sc.Dependencies {
		if sc.Dependencies[i].Address == "" {
			sc.Dependencies[i].Address = sc.Dependencies[i].Name
		}
	}
	for i := range sc.Services {
		s := &sc.Services[i]
		if s.Version == "" {
			s.Version = "1.0.0"
		}
		for j := range s.Pools {
			p := &s.Pools[j]
			if p.System == "" {
				p.System = "postgresql"
			}
			if p.Address == "" {
				p.Address = p.Name
			}
			if p.Size == 0 {
				p.Size = 10
			}
			if p.WaitTimeout == 0 {
				p.WaitTimeout = 5 * time.Second
			}
		}
	}
	for i := range sc.Faults {
		f := &sc.Faults[i]
		switch {
		case f.ErrorRate != 0:
		case f.Kind == KindError || f.Kind == KindException:
			f.ErrorRate = 1
		case f.Kind == KindBadResponse:
			f.ErrorRate = 0.5
		}
		if f.Kind == KindException && f.ExceptionType == "" {
			f.ExceptionType = "RuntimeException"
		}
	}
}

// Bounds that keep a scenario runnable: beyond them a request or a second of
// traffic would not fit in memory.
const (
	// MaxRate is the most requests a second a scenario may make.
	MaxRate           = 1e6
	maxFactor         = 1000
	maxRetries        = 100
	maxSpansInRequest = 100000
)

// Validate checks references, ranges, windows and that the call graph has no cycle.
func (sc *Scenario) Validate() error {
	v := &validator{sc: sc, services: map[string]*Service{}, deps: map[string]bool{}}
	v.run()
	return errors.Join(v.errs...)
}

type validator struct {
	sc       *Scenario
	services map[string]*Service
	deps     map[string]bool
	errs     []error
}

func (v *validator) errf(path, format string, args ...any) {
	v.errs = append(v.errs, fmt.Errorf("%s: %s", path, fmt.Sprintf(format, args...)))
}

func (v *validator) run() {
	sc := v.sc
	if sc.Name == "" {
		v.errf("name", "required")
	}
	for i, d := range sc.Dependencies {
		p := fmt.Sprintf("dependencies[%d]", i)
		if d.Name == "" {
			v.errf(p+".name", "required")
		}
		if v.deps[d.Name] {
			v.errf(p+".name", "duplicate dependency %q", d.Name)
		}
		v.deps[d.Name] = true
		v.latency(p+".latency", d.Latency)
		v.rate(p+".error_rate", d.ErrorRate)
	}
	for i := range sc.Services {
		s := &sc.Services[i]
		p := fmt.Sprintf("services[%d].name", i)
		switch {
		case s.Name == "":
			v.errf(p, "required")
		case v.services[s.Name] != nil:
			v.errf(p, "duplicate service %q", s.Name)
		case v.deps[s.Name]:
			v.errf(p, "%q is also a dependency", s.Name)
		}
		v.services[s.Name] = s
	}
	if len(sc.Services) == 0 {
		v.errf("services", "at least one service is required")
	}
	for i := range sc.Services {
		v.service(fmt.Sprintf("services[%d]", i), &sc.Services[i])
	}
	v.traffic()
	for i := range sc.Faults {
		v.fault(fmt.Sprintf("faults[%d]", i), &sc.Faults[i])
	}
	if len(v.errs) == 0 && v.cycles() {
		v.spanBudget()
	}
}

// spanBudget rejects call graphs where one request makes too many spans
// (fan-out multiplied by depth and retries).
func (v *validator) spanBudget() {
	memo := map[*Operation]float64{}
	var opSpans func(o *Operation) float64
	var stepSpans func(s *Step) float64
	opSpans = func(o *Operation) float64 {
		if n, ok := memo[o]; ok {
			return n
		}
		n := 1.0
		for i := range o.Steps {
			n += stepSpans(&o.Steps[i])
		}
		memo[o] = n
		return n
	}
	stepSpans = func(s *Step) float64 {
		attempts := float64(1 + s.Retries)
		switch {
		case s.Call != nil && s.Call.Service != "":
			return attempts * (1 + opSpans(findOperation(v.services[s.Call.Service], s.Call.Operation)))
		case s.Parallel != nil:
			n := 0.0
			for i := range s.Parallel {
				n += stepSpans(&s.Parallel[i])
			}
			return n
		}
		return attempts
	}
	for i, e := range v.sc.Traffic.Entrypoints {
		if n := opSpans(findOperation(v.services[e.Service], e.Operation)); n > maxSpansInRequest {
			v.errf(fmt.Sprintf("traffic.entrypoints[%d]", i), "a request to %s %s can make up to %.0f spans (calls, fan-out and retries); at most %d", e.Service, e.Operation, n, maxSpansInRequest)
		}
	}
}

func (v *validator) traffic() {
	t := v.sc.Traffic
	if t.Rate <= 0 || t.Rate > MaxRate {
		v.errf("traffic.rate", "must be positive and at most %v, got %v", MaxRate, t.Rate)
	}
	if len(t.Entrypoints) == 0 {
		v.errf("traffic.entrypoints", "at least one entrypoint is required")
	}
	for i, e := range t.Entrypoints {
		p := fmt.Sprintf("traffic.entrypoints[%d]", i)
		v.operationRef(p, e.Service, e.Operation)
		if e.Weight < 0 {
			v.errf(p+".weight", "must not be negative, got %v", e.Weight)
		}
	}
	if d := t.Diurnal; d != nil {
		if d.Amplitude < 0 || d.Amplitude > 1 {
			v.errf("traffic.diurnal.amplitude", "must be in [0,1], got %v", d.Amplitude)
		}
		if _, err := ParseTimeOfDay(d.Peak); err != nil {
			v.errf("traffic.diurnal.peak", "%v", err)
		}
	}
	for i, pk := range t.Peaks {
		p := fmt.Sprintf("traffic.peaks[%d]", i)
		if _, err := ParseWindow(pk.Window); err != nil {
			v.errf(p+".window", "%v", err)
		}
		if pk.Factor < 0 || pk.Factor > maxFactor {
			v.errf(p+".factor", "must be in [0,%v], got %v", maxFactor, pk.Factor)
		}
	}
}

func (v *validator) operationRef(path, service, op string) {
	s := v.services[service]
	if s == nil {
		v.errf(path+".service", "unknown service %q", service)
		return
	}
	if findOperation(s, op) == nil {
		v.errf(path+".operation", "service %q has no operation %q", service, op)
	}
}

func findOperation(s *Service, name string) *Operation {
	for i := range s.Operations {
		if s.Operations[i].Name == name {
			return &s.Operations[i]
		}
	}
	return nil
}

func findPool(s *Service, name string) *Pool {
	for i := range s.Pools {
		if s.Pools[i].Name == name {
			return &s.Pools[i]
		}
	}
	return nil
}

func (v *validator) service(path string, s *Service) {
	pools := map[string]bool{}
	for i, pl := range s.Pools {
		p := fmt.Sprintf("%s.pools[%d]", path, i)
		if pl.Name == "" || pools[pl.Name] {
			v.errf(p+".name", "missing or duplicate pool name %q", pl.Name)
		}
		pools[pl.Name] = true
		if pl.Size < 0 {
			v.errf(p+".size", "must be positive, got %d", pl.Size)
		}
		if pl.WaitTimeout < 0 {
			v.errf(p+".wait_timeout", "must not be negative, got %v", pl.WaitTimeout)
		}
	}
	if len(s.Operations) == 0 {
		v.errf(path+".operations", "at least one operation is required")
	}
	ops := map[string]bool{}
	for i := range s.Operations {
		o := &s.Operations[i]
		p := fmt.Sprintf("%s.operations[%d]", path, i)
		if _, _, err := SplitHTTPName(o.Name); err != nil {
			v.errf(p+".name", "%v", err)
		}
		if ops[o.Name] {
			v.errf(p+".name", "duplicate operation %q", o.Name)
		}
		ops[o.Name] = true
		v.latency(p+".latency", o.Latency)
		v.rate(p+".error_rate", o.ErrorRate)
		v.status(p+".error_status", o.ErrorStatus)
		if o.Deadline < 0 {
			v.errf(p+".deadline", "must not be negative, got %v", o.Deadline)
		}
		for j := range o.Steps {
			v.step(fmt.Sprintf("%s.steps[%d]", p, j), s, &o.Steps[j])
		}
		v.logs(p+".logs", o.Logs)
		for j, m := range o.Metrics {
			mp := fmt.Sprintf("%s.metrics[%d]", p, j)
			if m.Name == "" {
				v.errf(mp+".name", "required")
			}
			if m.Type != "counter" && m.Type != "histogram" {
				v.errf(mp+".type", "want counter or histogram, got %q", m.Type)
			}
			switch m.On {
			case "", "request", "success", "error", "timeout", "retry":
			default:
				v.errf(mp+".on", "want request, success, error, timeout or retry, got %q", m.On)
			}
		}
		if b := o.BadInput; b != nil {
			v.latency(p+".bad_input.latency", b.Latency)
			v.rate(p+".bad_input.error_rate", b.ErrorRate)
			v.status(p+".bad_input.status", b.Status)
			v.logs(p+".bad_input.logs", b.Logs)
		}
	}
}

// SplitHTTPName splits "POST /pay" into method and route.
func SplitHTTPName(name string) (method, route string, err error) {
	method, route, ok := strings.Cut(name, " ")
	if !ok || method == "" || method != strings.ToUpper(method) || !strings.HasPrefix(route, "/") {
		return "", "", fmt.Errorf("want \"METHOD /route\", got %q", name)
	}
	return method, route, nil
}

func (v *validator) step(path string, s *Service, st *Step) {
	n := 0
	if st.Call != nil {
		n++
		c := st.Call
		switch {
		case (c.Service == "") == (c.Dependency == ""):
			v.errf(path+".call", "set exactly one of service and dependency")
		case c.Service != "":
			v.operationRef(path+".call", c.Service, c.Operation)
		default:
			if !v.deps[c.Dependency] {
				v.errf(path+".call.dependency", "unknown dependency %q", c.Dependency)
			}
			if _, _, err := SplitHTTPName(c.Operation); err != nil {
				v.errf(path+".call.operation", "%v", err)
			}
		}
	}
	if st.DB != nil {
		n++
		if findPool(s, st.DB.Pool) == nil {
			v.errf(path+".db.pool", "service %q has no pool %q", s.Name, st.DB.Pool)
		}
		if st.DB.Operation == "" {
			v.errf(path+".db.operation", "required")
		}
		v.latency(path+".db.latency", st.DB.Latency)
		v.rate(path+".db.error_rate", st.DB.ErrorRate)
	}
	if st.Work != nil {
		n++
		if st.Name == "" {
			v.errf(path+".name", "required for a work step")
		}
		v.latency(path+".work", *st.Work)
	}
	if st.Parallel != nil {
		n++
		if len(st.Parallel) == 0 {
			v.errf(path+".parallel", "at least one step is required")
		}
		for i := range st.Parallel {
			v.step(fmt.Sprintf("%s.parallel[%d]", path, i), s, &st.Parallel[i])
		}
	}
	if n != 1 {
		v.errf(path, "set exactly one of call, db, work and parallel")
	}
	if st.Timeout < 0 {
		v.errf(path+".timeout", "must not be negative, got %v", st.Timeout)
	}
	if st.Backoff < 0 {
		v.errf(path+".backoff", "must not be negative, got %v", st.Backoff)
	}
	if st.Retries < 0 || st.Retries > maxRetries {
		v.errf(path+".retries", "must be in [0,%d], got %d", maxRetries, st.Retries)
	}
	switch st.OnError {
	case "", OnErrorFail, OnErrorContinue, OnErrorFailLater:
	default:
		v.errf(path+".on_error", "want fail, continue or fail_later, got %q", st.OnError)
	}
	v.logs(path+".logs", st.Logs)
}

// StepName returns the span name of a step.
func StepName(st *Step) string {
	switch {
	case st.Name != "":
		return st.Name
	case st.Call != nil:
		return st.Call.Operation
	case st.DB != nil:
		if st.DB.Collection == "" {
			return st.DB.Operation
		}
		return st.DB.Operation + " " + st.DB.Collection
	}
	return ""
}

func (v *validator) fault(path string, f *Fault) {
	t := f.Target
	if t.Service != "" {
		s := v.services[t.Service]
		switch {
		case s == nil:
			v.errf(path+".target.service", "unknown service %q", t.Service)
		case t.Operation != "" && findOperation(s, t.Operation) == nil && !hasStep(s, t.Operation):
			v.errf(path+".target.operation", "service %q has no operation or step %q", t.Service, t.Operation)
		case t.Pool != "" && findPool(s, t.Pool) == nil:
			v.errf(path+".target.pool", "service %q has no pool %q", t.Service, t.Pool)
		}
	}
	if t.Dependency != "" && !v.deps[t.Dependency] {
		v.errf(path+".target.dependency", "unknown dependency %q", t.Dependency)
	}
	if t.Pool != "" && t.Service == "" {
		v.errf(path+".target.service", "required with target.pool")
	}
	switch f.Kind {
	case KindLatency, KindError:
		if t.Dependency == "" && t.Service == "" {
			v.errf(path+".target", "set service (and operation) or dependency")
		}
	case KindException, KindBadResponse:
		if t.Service == "" || t.Dependency != "" || t.Pool != "" {
			v.errf(path+".target.service", "required for kind %q, without dependency or pool: it is an operation of a service", f.Kind)
		}
	case KindPoolExhaustion:
		if t.Pool == "" {
			v.errf(path+".target.pool", "required for kind %q", f.Kind)
		}
		if f.Hold <= 0 {
			v.errf(path+".hold", "must be positive for kind %q", f.Kind)
		}
	case KindDependencyDown:
		if t.Dependency == "" {
			v.errf(path+".target.dependency", "required for kind %q", f.Kind)
		}
	default:
		v.errf(path+".kind", "want latency, error, exception, bad_response, pool_exhaustion or dependency_down, got %q", f.Kind)
	}
	if f.Truth.Kind != "" {
		switch f.Truth.Kind {
		case KindLatency, KindError, KindException, KindBadResponse, KindPoolExhaustion, KindDependencyDown, KindCascadingTimeout:
		default:
			v.errf(path+".truth.kind", "unknown kind %q", f.Truth.Kind)
		}
	}
	if len(f.Windows) == 0 {
		v.errf(path+".windows", "at least one window is required")
	}
	for i, w := range f.Windows {
		if _, err := ParseWindow(w); err != nil {
			v.errf(fmt.Sprintf("%s.windows[%d]", path, i), "%v", err)
		}
	}
	v.latency(path+".latency", f.Latency)
	v.rate(path+".error_rate", f.ErrorRate)
	v.status(path+".status", f.Status)
	if f.Hold < 0 {
		v.errf(path+".hold", "must not be negative, got %v", f.Hold)
	}
}

func hasStep(s *Service, name string) bool {
	var walk func([]Step) bool
	walk = func(steps []Step) bool {
		for i := range steps {
			if StepName(&steps[i]) == name || walk(steps[i].Parallel) {
				return true
			}
		}
		return false
	}
	for i := range s.Operations {
		if walk(s.Operations[i].Steps) {
			return true
		}
	}
	return false
}

func (v *validator) latency(path string, l Latency) {
	if l.P50 < 0 || l.P99 < 0 {
		v.errf(path, "durations must not be negative")
	}
	if l.P99 != 0 && l.P99 < l.P50 {
		v.errf(path+".p99", "must not be below p50 (%v), got %v", l.P50, l.P99)
	}
}

func (v *validator) rate(path string, r float64) {
	if r < 0 || r > 1 {
		v.errf(path, "must be in [0,1], got %v", r)
	}
}

func (v *validator) status(path string, s int) {
	if s != 0 && (s < 100 || s > 599) {
		v.errf(path, "want an HTTP status, got %d", s)
	}
}

var severities = map[string]bool{"TRACE": true, "DEBUG": true, "INFO": true, "WARN": true, "ERROR": true, "FATAL": true, "": true}

func (v *validator) logs(path string, l Logs) {
	for _, e := range []struct {
		name string
		list []Log
	}{{"start", l.Start}, {"end", l.End}, {"error", l.Error}, {"timeout", l.Timeout}, {"retry", l.Retry}, {"wait", l.Wait}} {
		for i, r := range e.list {
			if !severities[r.Severity] {
				v.errf(fmt.Sprintf("%s.%s[%d].severity", path, e.name, i), "unknown severity %q", r.Severity)
			}
		}
	}
}

// cycles reports a call graph cycle, e.g. "a GET /x -> b GET /y -> a GET /x",
// and tells whether the graph is free of them.
func (v *validator) cycles() bool {
	const (
		white = iota
		grey
		black
	)
	color := map[string]int{}
	var stack []string
	var visit func(service, op string) bool
	visit = func(service, op string) bool {
		key := service + " " + op
		switch color[key] {
		case grey:
			i := len(stack) - 1
			for i > 0 && stack[i] != key {
				i--
			}
			v.errf("services", "call graph cycle: %s", strings.Join(append(stack[i:], key), " -> "))
			return true
		case black:
			return false
		}
		s := v.services[service]
		if s == nil {
			return false
		}
		o := findOperation(s, op)
		if o == nil {
			return false
		}
		color[key] = grey
		stack = append(stack, key)
		var walk func([]Step) bool
		walk = func(steps []Step) bool {
			for i := range steps {
				if c := steps[i].Call; c != nil && c.Service != "" && visit(c.Service, c.Operation) {
					return true
				}
				if walk(steps[i].Parallel) {
					return true
				}
			}
			return false
		}
		found := walk(o.Steps)
		stack = stack[:len(stack)-1]
		color[key] = black
		return found
	}
	for _, s := range v.sc.Services {
		for _, o := range s.Operations {
			if visit(s.Name, o.Name) {
				return false
			}
		}
	}
	return true
}
