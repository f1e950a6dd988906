package demo

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/otelcol-rca/otelcol-rca/services/internal/faults"
	"github.com/otelcol-rca/otelcol-rca/services/internal/incidents"
	"github.com/otelcol-rca/otelcol-rca/services/internal/loadgen"
	"github.com/otelcol-rca/otelcol-rca/services/internal/procs"
)

// Options configures a run.
type Options struct {
	// Collector and Services are the paths of the otelcol-rca and rca-services binaries.
	Collector, Services string
	// OutDir receives the collector config, incidents.json, summary.json and logs/.
	OutDir string
	// Duration is how long the load runs: warm-up plus the fault windows.
	Duration time.Duration
	// Incidents are the scenario names to reproduce, in order.
	Incidents []string
	// Warmup, FaultDuration and Gap shape the schedule; zero means derived from Duration.
	Warmup, FaultDuration, Gap time.Duration
	// Drain is how long to keep reading incidents after the load stops.
	Drain time.Duration
	// BasePort is the first of the loopback ports used (see Ports).
	BasePort int
	// Rate is the journeys started per second.
	Rate float64
	// Rootcause is the rootcause processor's configuration, as a YAML flow mapping.
	Rootcause string
	// Alertmanager is the base URL of an Alertmanager the collector sends
	// the incidents to as alerts; "" sends none.
	Alertmanager string
	// Shards, when positive, runs the collector as a cluster instead of one
	// process: a gateway routing by trace ID to this many rootcause shards
	// and an incident stage (README of the processor: scaling out).
	Shards int
	// Stdout receives the live report.
	Stdout io.Writer
	// StartTimeout bounds the wait for the collector and each service to be healthy.
	StartTimeout time.Duration
	// Kill, when closed, kills every process at once (a second Ctrl-C).
	Kill <-chan struct{}
}

// Result is what a run found; it is also written to OutDir/summary.json.
type Result struct {
	Interrupted bool          `json:"interrupted"`
	Faults      []FaultResult `json:"faults"`
	// Warmup are incidents that started before the first fault, and Between those
	// that started after a fault was off (plus a grace period) and before the next:
	// false positives.
	Warmup    []Brief `json:"warmup_incidents"`
	Between   []Brief `json:"between_faults_incidents"`
	Incidents []Brief `json:"incidents"`
	// Page is what the collector's incident page showed at the end of the load.
	Page []PageIncident `json:"incident_page"`
	Load struct {
		Requests int     `json:"requests"`
		Errors   int     `json:"errors"`
		Delayed  int     `json:"delayed"`
		P50MS    float64 `json:"p50_ms"`
		P99MS    float64 `json:"p99_ms"`
	} `json:"load"`
}

// FaultResult compares one injected fault with what the collector reported.
type FaultResult struct {
	Incident string   `json:"incident"`
	Service  string   `json:"service"`
	Faults   []string `json:"faults"`
	Expected string   `json:"expected_culprit"`
	OnS      float64  `json:"on_s"`
	OffS     float64  `json:"off_s"`
	// Ran is false when the run ended before the fault was switched on.
	Ran      bool `json:"ran"`
	Detected bool `json:"detected"`
	// Culprits are the latest culprits of the incidents that started in this fault's window, one per incident.
	Culprits    []string `json:"culprits"`
	IncidentIDs []string `json:"incident_ids"`
	// Others are the culprits of this fault's incidents that do not name the
	// expected culprit: a second incident for one fault, or a wrong one.
	Others []string `json:"other_culprits,omitempty"`
	// DelayS is from the fault going on to the first incident naming the right culprit.
	DelayS   float64  `json:"detection_delay_s,omitempty"`
	TraceIDs []string `json:"sample_trace_ids,omitempty"`
}

// Brief summarizes one incident.
type Brief struct {
	ID         string   `json:"id"`
	Status     string   `json:"status"`
	Culprit    string   `json:"culprit"`
	Operation  string   `json:"operation,omitempty"`
	Dependency string   `json:"dependency,omitempty"`
	Reason     string   `json:"reason"`
	Confidence float64  `json:"confidence"`
	StartS     float64  `json:"start_s"`
	SeenS      float64  `json:"first_seen_s"`
	TraceIDs   []string `json:"trace_ids,omitempty"`
}

// serviceOrder is the start order (dependencies first) and each service's port index.
var serviceOrder = []struct {
	name string
	port int
}{
	{"payment-gateway", 3},
	{"inventory", 2},
	{"payment", 1},
	{"order", 0},
	{"database", 5},
	{"token", 6},
	{"user", 4},
	{"catalog", 7},
}

func (o Options) url(service string) string {
	for _, s := range serviceOrder {
		if s.name == service {
			return fmt.Sprintf("http://127.0.0.1:%d", Ports{o.BasePort}.Service(s.port))
		}
	}
	panic("demo: unknown service " + service)
}

func (o Options) serviceArgs(name string) []string {
	p := Ports{o.BasePort}
	var port int
	for _, s := range serviceOrder {
		if s.name == name {
			port = p.Service(s.port)
		}
	}
	args := []string{name, "--listen", fmt.Sprintf("127.0.0.1:%d", port)}
	switch name {
	case "order":
		args = append(args, "--payment-url", o.url("payment"), "--inventory-url", o.url("inventory"))
	case "payment":
		args = append(args, "--gateway-url", o.url("payment-gateway"))
	case "user":
		args = append(args, "--database-service-url", o.url("database"), "--token-url", o.url("token"))
	}
	return args
}

type run struct {
	o    Options
	plan Plan
	// faultToken opens the services' fault switches (faults.TokenEnv).
	faultToken string

	mu      sync.Mutex // guards out, procs and stopped
	out     io.Writer
	procs   []*procs.Proc
	stopped bool

	t0        time.Time
	incidents map[string]*seen
	order     []string
	switched  []Window // actual on/off times
	ran       []bool   // whether each window's faults were switched on
}

type seen struct {
	first, last incidents.Record
	seenAt      time.Time
	// culprits are the culprits the incident named, as "service" or
	// "service → dependency"; names holds every service and dependency among them.
	culprits []string
	names    []string
}

// Run runs the demo until the schedule ends or ctx is done, and stops everything
// it started before returning.
func Run(ctx context.Context, o Options) (res Result, err error) {
	plan, err := NewPlan(o.Incidents, o.Duration, o.Warmup, o.FaultDuration, o.Gap)
	if err != nil {
		return res, err
	}
	if o.BasePort < 1024 || o.BasePort > 65000 {
		return res, fmt.Errorf("--base-port: must be within 1024..65000, got %d", o.BasePort)
	}
	if o.Rate <= 0 {
		return res, fmt.Errorf("--rate: must be positive, got %v", o.Rate)
	}
	for flag, path := range map[string]string{"--collector": o.Collector, "--services": o.Services} {
		if st, err := os.Stat(path); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
			return res, fmt.Errorf("%s: %s is not an executable file (build it first, e.g. make build)", flag, path)
		}
	}
	if o.Stdout == nil {
		o.Stdout = os.Stdout
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = 90 * time.Second
	}
	r := &run{o: o, plan: plan, out: o.Stdout, incidents: map[string]*seen{}, faultToken: rand.Text()}
	if o.Kill != nil {
		done := make(chan struct{})
		defer close(done)
		go func() {
			select {
			case <-o.Kill:
				r.killAll()
			case <-done:
			}
		}()
	}
	defer func() {
		if stopErr := r.stopAll(); stopErr != nil {
			r.printf("shutdown: %v", stopErr)
		}
	}()
	return r.run(ctx)
}

// killAll kills every process still running.
func (r *run) killAll() {
	r.mu.Lock()
	ps := slices.Clone(r.procs)
	r.mu.Unlock()
	for _, p := range ps {
		p.Kill()
	}
}

func (r *run) printf(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	prefix := "[  setup]"
	if !r.t0.IsZero() {
		prefix = fmt.Sprintf("[%7s]", fmtOffset(time.Since(r.t0)))
	}
	fmt.Fprintf(r.out, prefix+" "+format+"\n", args...)
}

func fmtOffset(d time.Duration) string {
	d = d.Round(time.Second)
	return fmt.Sprintf("%d:%02d", int(d.Minutes()), int(d.Seconds())%60)
}

func (r *run) run(ctx context.Context) (Result, error) {
	var res Result
	o := r.o
	logDir := filepath.Join(o.OutDir, "logs")
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		return res, fmt.Errorf("create %s: %w", logDir, err)
	}
	incPath, err := filepath.Abs(filepath.Join(o.OutDir, "incidents.json"))
	if err != nil {
		return res, err
	}
	if err := os.Remove(incPath); err != nil && !errors.Is(err, os.ErrNotExist) {
		return res, fmt.Errorf("remove old incidents: %w", err)
	}
	if err := r.startCollectors(ctx, incPath, logDir); err != nil {
		return res, err
	}
	ports := Ports{o.BasePort}
	env := []string{
		"OTEL_EXPORTER_OTLP_ENDPOINT=" + fmt.Sprintf("http://127.0.0.1:%d", ports.OTLPHTTP()),
		"OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf",
		"OTEL_TRACES_EXPORTER=otlp", "OTEL_METRICS_EXPORTER=otlp", "OTEL_LOGS_EXPORTER=otlp",
		"OTEL_METRIC_EXPORT_INTERVAL=5000", "OTEL_BSP_SCHEDULE_DELAY=500", "OTEL_BLRP_SCHEDULE_DELAY=500",
		"OTEL_RESOURCE_ATTRIBUTES=deployment.environment.name=rca-demo",
		"TOKEN_SECRET=" + rand.Text() + rand.Text(),
		faults.TokenEnv + "=" + r.faultToken,
	}
	for _, s := range serviceOrder {
		svcEnv := append(slices.Clone(env), "OTEL_SERVICE_NAME="+s.name)
		p, err := r.start(s.name, o.Services, o.serviceArgs(s.name), svcEnv, logDir)
		if err != nil {
			return res, err
		}
		if err := r.waitHealthy(ctx, p, r.o.url(s.name)+"/healthz", filepath.Join(logDir, s.name+".log")); err != nil {
			return res, err
		}
	}
	r.printf("services up: %s", r.serviceList())
	r.printf("fault switches: curl -X POST -H 'Authorization: Bearer %s' '%s/admin/faults?name=FAULT&on=true'", r.faultToken, o.url("payment"))

	lcfg := loadgen.Config{
		CatalogURL: o.url("catalog"), UserURL: o.url("user"), OrderURL: o.url("order"),
		Rate: o.Rate, Ramp: min(10*time.Second, r.plan.Warmup/3), Duration: r.plan.End,
		Browse: 50, Login: 25, Checkout: 25, Users: 100, SKUs: 10000, Categories: 200,
		Timeout: 5 * time.Second, MaxInFlight: 200, ProgressEvery: 5 * time.Second,
		OnProgress: func(p loadgen.Progress) { r.printf("load  %s", p) },
	}
	if err := lcfg.Validate(); err != nil {
		return res, err
	}
	gen := loadgen.New(lcfg)
	r.printf("registering %d users", lcfg.Users)
	if err := gen.Setup(ctx); err != nil {
		return res, fmt.Errorf("load generator setup: %w", err)
	}

	r.mu.Lock()
	r.t0 = time.Now()
	r.mu.Unlock()
	r.printf("load started: %.0f journeys/s (browse, log in, check out); warm-up without faults for %v", o.Rate, r.plan.Warmup)
	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	loadDone := make(chan loadgen.Summary, 1)
	go func() { loadDone <- gen.Run(loadCtx) }()

	tail := incidents.NewTail(incPath)
	events := r.events()
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	var (
		summary   loadgen.Summary
		drainEnd  time.Time
		loadEnded bool
	)
loop:
	for {
		select {
		case <-ctx.Done():
			res.Interrupted = true
			r.printf("interrupted: stopping everything")
			break loop
		case summary = <-loadDone:
			loadEnded = true
			drainEnd = time.Now().Add(o.Drain)
			r.printf("load stopped; waiting %v for the collector's last verdicts", o.Drain)
		case now := <-tick.C:
			for len(events) > 0 && now.Sub(r.t0) >= events[0].at {
				r.switchFaults(ctx, events[0])
				events = events[1:]
			}
			r.readIncidents(tail)
			if dead := r.deadProc(); dead != nil {
				r.printf("%s exited unexpectedly (%v); see %s", dead.Name, dead.Err(), filepath.Join(logDir, dead.Name+".log"))
				res.Interrupted = true
				break loop
			}
			if loadEnded && now.After(drainEnd) {
				break loop
			}
		}
	}
	stopLoad()
	if !loadEnded {
		summary = <-loadDone
	}
	if !res.Interrupted {
		res.Page = r.readPage()
	}
	if err := r.stopAll(); err != nil {
		r.printf("shutdown: %v", err)
	}
	r.readIncidents(tail) // the collector flushes its last records on shutdown
	res = r.result(res, summary)
	r.printSummary(res, summary)
	data, _ := json.MarshalIndent(res, "", "  ")
	if err := os.WriteFile(filepath.Join(o.OutDir, "summary.json"), append(data, '\n'), 0o644); err != nil {
		return res, fmt.Errorf("write summary: %w", err)
	}
	return res, nil
}

// collectorProc is one collector process of a run and its configuration.
type collectorProc struct {
	name, config string
	health       int
}

// startCollectors writes the collector configurations of the run and starts
// the collectors, from the last tier to the first, each once the previous is
// healthy.
func (r *run) startCollectors(ctx context.Context, incPath, logDir string) error {
	o := r.o
	ports := Ports{o.BasePort}
	procs := []collectorProc{{"otelcol-rca", collectorConfig(ports, incPath, o.Rootcause, o.Alertmanager), ports.Health()}}
	if o.Shards > 0 {
		procs = []collectorProc{{"otelcol-stage", stageConfig(ports, incPath, o.Rootcause, o.Alertmanager), ports.StageHealth()}}
		for i := range o.Shards {
			procs = append(procs, collectorProc{fmt.Sprintf("otelcol-shard%d", i), shardConfig(ports, i, o.Rootcause), ports.ShardHealth(i)})
		}
		procs = append(procs, collectorProc{"otelcol-gateway", gatewayConfig(ports, o.Shards), ports.Health()})
	}
	var cfgPath string
	for _, c := range procs {
		cfgPath = filepath.Join(o.OutDir, c.name+".yaml")
		if err := os.WriteFile(cfgPath, []byte(c.config), 0o644); err != nil {
			return fmt.Errorf("write collector config: %w", err)
		}
	}
	if o.Shards > 0 {
		cfgPath = filepath.Join(o.OutDir, "otelcol-{gateway,shard*,stage}.yaml")
	}
	r.printPlan(cfgPath, incPath)
	if o.Shards > 0 {
		r.printf("starting the cluster (%s): the incident stage, %d rootcause shards, and the gateway on OTLP 127.0.0.1:%d (gRPC) and :%d (HTTP)",
			o.Collector, o.Shards, ports.OTLPGRPC(), ports.OTLPHTTP())
	} else {
		r.printf("starting the collector (%s), OTLP on 127.0.0.1:%d (gRPC) and :%d (HTTP)", o.Collector, ports.OTLPGRPC(), ports.OTLPHTTP())
	}
	for _, c := range procs {
		col, err := r.start(c.name, o.Collector, []string{"--config", filepath.Join(o.OutDir, c.name+".yaml")}, nil, logDir)
		if err != nil {
			return err
		}
		if err := r.waitHealthy(ctx, col, fmt.Sprintf("http://127.0.0.1:%d/", c.health), filepath.Join(logDir, c.name+".log")); err != nil {
			return err
		}
	}
	return nil
}

func (r *run) printPlan(cfgPath, incPath string) {
	r.printf("otelcol-rca demo: %v of load, warm-up %v, then %d incident(s); output in %s", r.plan.End, r.plan.Warmup, len(r.plan.Windows), r.o.OutDir)
	for _, w := range r.plan.Windows {
		r.printf("  %s..%s  %-8s %s: %s", fmtOffset(w.On), fmtOffset(w.Off), w.Scenario.Name, w.Scenario.Title, w.Scenario.Mechanism)
	}
	r.printf("collector config %s; incidents to %s", cfgPath, incPath)
	r.printf("incident page: http://127.0.0.1:%d/ (culprit, reason, evidence, a sample trace's waterfall)", Ports{r.o.BasePort}.Page())
	if r.o.Alertmanager != "" {
		r.printf("incidents also go to Alertmanager as alerts: %s/#/alerts", strings.TrimSuffix(r.o.Alertmanager, "/"))
	}
}

func (r *run) serviceList() string {
	var parts []string
	for _, s := range serviceOrder {
		parts = append(parts, fmt.Sprintf("%s :%d", s.name, Ports{r.o.BasePort}.Service(s.port)))
	}
	return strings.Join(parts, ", ")
}

func (r *run) start(name, path string, args, env []string, logDir string) (*procs.Proc, error) {
	f, err := os.Create(filepath.Join(logDir, name+".log"))
	if err != nil {
		return nil, err
	}
	p, err := procs.Start(name, path, args, env, f)
	if err != nil {
		f.Close()
		return nil, err
	}
	go func() { <-p.Done(); f.Close() }()
	r.mu.Lock()
	r.procs = append(r.procs, p)
	r.mu.Unlock()
	return p, nil
}

func (r *run) waitHealthy(ctx context.Context, p *procs.Proc, url, logPath string) error {
	deadline := time.Now().Add(r.o.StartTimeout)
	client := &http.Client{Timeout: time.Second}
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-p.Done():
			return fmt.Errorf("%s exited while starting (%w); its log %s ends with:\n%s", p.Name, p.Err(), logPath, logTail(logPath, 15))
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not healthy at %s after %v; its log %s ends with:\n%s", p.Name, url, r.o.StartTimeout, logPath, logTail(logPath, 15))
		}
	}
}

func logTail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return "  (" + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	lines = lines[max(0, len(lines)-n):]
	return "  " + strings.Join(lines, "\n  ")
}

func (r *run) deadProc() *procs.Proc {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range r.procs {
		select {
		case <-p.Done():
			return p
		default:
		}
	}
	return nil
}

// stopAll stops the services, then the collectors from the first tier to the
// last (so that each exports what the one before flushed), each with SIGTERM
// first. It is safe to call twice.
func (r *run) stopAll() error {
	r.mu.Lock()
	ps := r.procs
	if r.stopped {
		ps = nil
	}
	r.stopped = true
	r.mu.Unlock()
	var errs []error
	var wg sync.WaitGroup
	var emu sync.Mutex
	for i := len(ps) - 1; i >= 0; i-- {
		p := ps[i]
		if isCollector(p.Name) {
			continue
		}
		wg.Go(func() {
			if err := p.Stop(15 * time.Second); err != nil {
				emu.Lock()
				errs = append(errs, err)
				emu.Unlock()
			}
		})
	}
	wg.Wait()
	// Started from the last tier (the stage) to the first (the gateway).
	for i := len(ps) - 1; i >= 0; i-- {
		if p := ps[i]; isCollector(p.Name) {
			if err := p.Stop(20 * time.Second); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// isCollector tells the collector processes of a run from the services.
func isCollector(name string) bool { return strings.HasPrefix(name, "otelcol-") }

type event struct {
	at  time.Duration
	idx int
	on  bool
}

func (r *run) events() []event {
	var evs []event
	for i, w := range r.plan.Windows {
		evs = append(evs, event{w.On, i, true}, event{w.Off, i, false})
	}
	slices.SortStableFunc(evs, func(a, b event) int { return int(a.at - b.at) })
	r.switched = slices.Clone(r.plan.Windows)
	r.ran = make([]bool, len(r.switched))
	return evs
}

func (r *run) switchFaults(ctx context.Context, e event) {
	w := &r.switched[e.idx]
	sc := w.Scenario
	at := time.Since(r.t0)
	if e.on {
		w.On = at
		r.ran[e.idx] = true
	} else {
		w.Off = at
	}
	client := &http.Client{Timeout: 30 * time.Second}
	var failed []string
	for _, f := range sc.Faults {
		url := fmt.Sprintf("%s/admin/faults?name=%s&on=%t", r.o.url(sc.Service), f, e.on)
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, nil)
		if err == nil {
			req.Header.Set("Authorization", "Bearer "+r.faultToken)
			var resp *http.Response
			if resp, err = client.Do(req); err == nil {
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					err = fmt.Errorf("status %d: %s", resp.StatusCode, strings.TrimSpace(string(body)))
				}
			}
		}
		if err != nil {
			failed = append(failed, fmt.Sprintf("%s: %v", f, err))
		}
	}
	state := "OFF"
	if e.on {
		state = "ON "
	}
	r.printf("FAULT %s %-8s %s/%s  (expected culprit: %s)", state, sc.Name, sc.Service, strings.Join(sc.Faults, "+"), sc.Culprit)
	for _, f := range failed {
		r.printf("      could not switch %s", f)
	}
}

func (r *run) readIncidents(t *incidents.Tail) {
	recs, err := t.Read()
	if err != nil {
		r.printf("reading incidents: %v", err)
	}
	for _, rec := range recs {
		r.onIncident(rec)
	}
}

func (r *run) onIncident(rec incidents.Record) { r.onIncidentAt(rec, time.Now()) }

// onIncidentAt records and prints an incident record read at now.
func (r *run) onIncidentAt(rec incidents.Record, now time.Time) {
	if rec.ID == "" {
		return
	}
	s, ok := r.incidents[rec.ID]
	if !ok {
		s = &seen{first: rec, seenAt: now}
		r.incidents[rec.ID] = s
		r.order = append(r.order, rec.ID)
	}
	prev := s.last
	s.last = rec
	if c := culpritLabel(rec); !slices.Contains(s.culprits, c) {
		s.culprits = append(s.culprits, c)
	}
	for _, n := range []string{rec.Service, rec.Dependency} {
		if n != "" && !slices.Contains(s.names, n) {
			s.names = append(s.names, n)
		}
	}
	short := rec.ID[:min(8, len(rec.ID))]
	switch {
	case !ok:
		r.printf("INCIDENT %s %s  culprit %s", strings.ToUpper(rec.Status), short, culpritString(rec))
		r.printf("    reason:     %s (%s, confidence %.2f, %d traces)", rec.Reason, rec.Kind, rec.Confidence, rec.TraceCount)
		if len(rec.Affected) > 0 {
			r.printf("    affected:   %s", strings.Join(rec.Affected, ", "))
		}
		if len(rec.Candidates) > 1 {
			r.printf("    candidates: %s", strings.Join(rec.Candidates[:min(5, len(rec.Candidates))], ", "))
		}
		if len(rec.TraceIDs) > 0 {
			r.printf("    traces:     %s", strings.Join(rec.TraceIDs[:min(3, len(rec.TraceIDs))], " "))
		}
		for _, ev := range rec.Evidence[:min(3, len(rec.Evidence))] {
			r.printf("    evidence:   %s", ev)
		}
		hint := LookNext(rec.Service)
		if _, known := lookNext[rec.Dependency]; known {
			hint = LookNext(rec.Dependency)
		}
		r.printf("    look next:  %s", hint)
	case rec.Status != prev.Status || rec.Service != prev.Service:
		r.printf("INCIDENT %s %s  culprit %s  (%d traces, confidence %.2f)", strings.ToUpper(rec.Status), short, culpritString(rec), rec.TraceCount, rec.Confidence)
	}
}

func culpritString(rec incidents.Record) string {
	s := rec.Service
	if rec.Operation != "" {
		s += " " + fmt.Sprintf("%q", rec.Operation)
	}
	if rec.Dependency != "" {
		s += " → " + rec.Dependency
	}
	return s
}

// incidentStart is when an incident began: its window start when the processor gives one.
func (r *run) incidentStart(s *seen) time.Duration {
	t := s.first.WindowStart
	if t.IsZero() {
		t = s.first.Time
	}
	if t.IsZero() {
		t = s.seenAt
	}
	return t.Sub(r.t0)
}

func (r *run) brief(id string) Brief {
	s := r.incidents[id]
	rec := s.last
	return Brief{
		ID: id, Status: rec.Status, Culprit: rec.Service, Operation: rec.Operation, Dependency: rec.Dependency,
		Reason: rec.Reason, Confidence: rec.Confidence, StartS: r.incidentStart(s).Seconds(), SeenS: s.seenAt.Sub(r.t0).Seconds(),
		TraceIDs: rec.TraceIDs[:min(5, len(rec.TraceIDs))],
	}
}

// result attributes each incident to the fault window it started in (from 2s
// before the fault goes on until offGrace after it goes off), to the warm-up, or
// to the fault-free time between faults.
func (r *run) result(res Result, load loadgen.Summary) Result {
	const (
		slack = 2 * time.Second
		// offGrace covers requests that began under the fault and the recovery
		// of what it starved (queued requests, a pool refilling).
		offGrace = 5 * time.Second
	)
	res.Load.Requests, res.Load.Errors, res.Load.Delayed = load.Requests, load.Errors, load.Delayed
	res.Load.P50MS, res.Load.P99MS = float64(load.P50.Microseconds())/1000, float64(load.P99.Microseconds())/1000
	res.Faults = make([]FaultResult, len(r.switched))
	for i, w := range r.switched {
		res.Faults[i] = FaultResult{
			Incident: w.Scenario.Name, Service: w.Scenario.Service, Faults: w.Scenario.Faults, Expected: w.Scenario.Culprit,
			OnS: w.On.Seconds(), OffS: w.Off.Seconds(), Ran: r.ran[i], Culprits: []string{}, IncidentIDs: []string{},
		}
	}
	if r.t0.IsZero() {
		return res
	}
	for _, id := range r.order {
		s := r.incidents[id]
		b := r.brief(id)
		res.Incidents = append(res.Incidents, b)
		st := r.incidentStart(s)
		i := -1
		for j, w := range r.switched {
			if st >= w.On-slack {
				i = j
			}
		}
		switch {
		case i < 0:
			res.Warmup = append(res.Warmup, b)
			continue
		case r.ran[i] && st > r.switched[i].Off+offGrace:
			res.Between = append(res.Between, b)
			continue
		}
		f := &res.Faults[i]
		f.IncidentIDs = append(f.IncidentIDs, id)
		// One entry per incident: its latest culprit (the operation an incident
		// names may change as its traces accumulate; it is still one incident).
		if c := culpritLabel(s.last); !slices.Contains(f.Culprits, c) {
			f.Culprits = append(f.Culprits, c)
		}
		delay := s.seenAt.Sub(r.t0).Seconds() - f.OnS
		match := slices.Contains(s.names, f.Expected)
		if c := culpritLabel(s.last); !match && !slices.Contains(f.Others, c) {
			f.Others = append(f.Others, c)
		}
		if match && (!f.Detected || delay < f.DelayS) {
			f.Detected, f.DelayS, f.TraceIDs = true, delay, b.TraceIDs
		}
	}
	return res
}

func (r *run) printSummary(res Result, load loadgen.Summary) {
	var b strings.Builder
	fmt.Fprintf(&b, "\n==== otelcol-rca demo summary ====\n")
	if res.Interrupted {
		fmt.Fprintf(&b, "(interrupted: the schedule did not finish)\n")
	}
	fmt.Fprintf(&b, "load: %s\n", strings.TrimSpace(load.String()))
	fmt.Fprintf(&b, "%-9s %-34s %-16s %-26s %-8s %s\n", "INCIDENT", "FAULT", "EXPECTED", "DETECTED", "RESULT", "AFTER")
	for _, f := range res.Faults {
		det := strings.Join(f.Culprits, ", ")
		if det == "" {
			det = "-"
		}
		result, after := "MISSED", ""
		if !f.Ran {
			result = "NOT RUN"
		}
		if f.Detected {
			result, after = "OK", fmt.Sprintf("%.0fs", f.DelayS)
		}
		fmt.Fprintf(&b, "%-9s %-34s %-16s %-26s %-8s %s\n", f.Incident, f.Service+"/"+strings.Join(f.Faults, "+"), f.Expected, det, result, after)
		if len(f.TraceIDs) > 0 {
			fmt.Fprintf(&b, "          sample traces: %s\n", strings.Join(f.TraceIDs[:min(3, len(f.TraceIDs))], " "))
		}
		// Each incident's start decides which fault it is attributed to:
		// show it, so that a surprising attribution explains itself.
		for _, in := range res.Incidents {
			if slices.Contains(f.IncidentIDs, in.ID) {
				fmt.Fprintf(&b, "          incident %s culprit %s: traces from %s, first seen %s\n",
					in.ID[:8], in.Culprit, fmtOffset(time.Duration(in.StartS*float64(time.Second))), fmtOffset(time.Duration(in.SeenS*float64(time.Second))))
			}
		}
	}
	if len(res.Warmup) == 0 {
		fmt.Fprintf(&b, "warm-up (no faults): no incidents, as expected\n")
	} else {
		fmt.Fprintf(&b, "warm-up (no faults): %d incident(s), false positives:\n", len(res.Warmup))
		for _, w := range res.Warmup {
			fmt.Fprintf(&b, "  %s culprit %s: %s\n", w.ID, w.Culprit, w.Reason)
		}
	}
	if len(res.Between) == 0 {
		fmt.Fprintf(&b, "between faults: no incidents, as expected\n")
	} else {
		fmt.Fprintf(&b, "between faults: %d incident(s) started after a fault was off, false positives:\n", len(res.Between))
		for _, w := range res.Between {
			fmt.Fprintf(&b, "  %s culprit %s at %.0fs: %s\n", w.ID, w.Culprit, w.StartS, w.Reason)
		}
	}
	fmt.Fprintf(&b, "details: %s, logs in %s\n", filepath.Join(r.o.OutDir, "summary.json"), filepath.Join(r.o.OutDir, "logs"))
	r.mu.Lock()
	fmt.Fprint(r.out, b.String())
	r.mu.Unlock()
}

// culpritLabel shows an incident record's culprit as "service" or
// "service → dependency".
func culpritLabel(rec incidents.Record) string {
	if rec.Dependency != "" {
		return rec.Service + " → " + rec.Dependency
	}
	return rec.Service
}

// PageIncident is what the incident page showed of an incident.
type PageIncident struct {
	ID      string `json:"id"`
	Culprit string `json:"culprit_service"`
	// Samples counts its sample traces, Marked those with the culprit span marked.
	Samples int `json:"sample_traces"`
	Marked  int `json:"marked_traces"`
}

// readPage reads the incident page's JSON API; nil when it cannot.
func (r *run) readPage() []PageIncident {
	url := fmt.Sprintf("http://127.0.0.1:%d/api/incidents", Ports{r.o.BasePort}.Page())
	client := http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		r.printf("incident page: %v", err)
		return nil
	}
	defer resp.Body.Close()
	var list []struct {
		ID      string `json:"id"`
		Culprit string `json:"culprit_service"`
		Samples []struct {
			Spans []struct {
				Culprit bool `json:"culprit"`
			} `json:"spans"`
		} `json:"sample_traces"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&list); err != nil {
		r.printf("incident page: %s: %v", url, err)
		return nil
	}
	out := make([]PageIncident, 0, len(list))
	for _, in := range list {
		p := PageIncident{ID: in.ID, Culprit: in.Culprit, Samples: len(in.Samples)}
		for _, tr := range in.Samples {
			for _, sp := range tr.Spans {
				if sp.Culprit {
					p.Marked++
					break
				}
			}
		}
		out = append(out, p)
	}
	return out
}
