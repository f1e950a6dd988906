// Package loadgen drives user journeys against the demo services: browse the
// catalog, log in, check out. Journeys start at a target rate (open loop: a slow
// system does not slow the arrivals down) with a ramp and periodic peaks, until a
// duration has passed.
package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Config configures a run.
type Config struct {
	// CatalogURL, UserURL and OrderURL are the services' base URLs.
	CatalogURL, UserURL, OrderURL string
	// Rate is the target of journeys started per second, before peaks.
	Rate float64
	// Ramp is how long the rate takes to grow linearly from 10% to Rate. Zero means no ramp.
	Ramp time.Duration
	// Duration is how long journeys are started. Zero means until the context is done.
	Duration time.Duration
	// PeakEvery is the period of load peaks; zero means no peaks. A peak lasts
	// PeakDuration and multiplies the rate by PeakFactor.
	PeakEvery, PeakDuration time.Duration
	PeakFactor              float64
	// Browse, Login and Checkout weigh the journey mix.
	Browse, Login, Checkout int
	// Users is how many users are registered at start and log in.
	Users int
	// SKUs and Categories bound the random items and pages picked.
	SKUs, Categories int
	// Timeout bounds each HTTP request.
	Timeout time.Duration
	// MaxInFlight caps concurrent journeys; arrivals beyond it are counted as dropped.
	MaxInFlight int
	// ProgressEvery is the period of OnProgress calls; zero means 1s.
	ProgressEvery time.Duration
	// OnProgress, if set, receives a snapshot of the last period.
	OnProgress func(Progress)
	// Client sends the requests. Nil means a plain client (no telemetry: the users'
	// browsers are not ours).
	Client *http.Client
}

// Validate reports bad values, named as loadgen's flags.
func (c *Config) Validate() error {
	var errs []error
	if c.CatalogURL == "" || c.UserURL == "" || c.OrderURL == "" {
		errs = append(errs, errors.New("--catalog-url, --user-url, --order-url: must not be empty"))
	}
	if c.Rate <= 0 {
		errs = append(errs, fmt.Errorf("--rate: must be positive, got %v", c.Rate))
	}
	if c.Ramp < 0 || c.Duration < 0 || c.PeakEvery < 0 || c.PeakDuration < 0 {
		errs = append(errs, errors.New("--ramp, --duration, --peak-every, --peak-duration: must not be negative"))
	}
	if c.PeakEvery > 0 && (c.PeakDuration <= 0 || c.PeakDuration >= c.PeakEvery || c.PeakFactor <= 0) {
		errs = append(errs, fmt.Errorf("--peak-duration must be within (0, --peak-every) and --peak-factor positive, got %v, %v, %v",
			c.PeakDuration, c.PeakEvery, c.PeakFactor))
	}
	if c.Browse < 0 || c.Login < 0 || c.Checkout < 0 || c.Browse+c.Login+c.Checkout == 0 {
		errs = append(errs, fmt.Errorf("--mix: weights must not be negative nor all zero, got %d:%d:%d", c.Browse, c.Login, c.Checkout))
	}
	if c.Users < 1 || c.SKUs < 1 || c.Categories < 1 {
		errs = append(errs, fmt.Errorf("--users, --skus, --categories: must be at least 1, got %d, %d, %d", c.Users, c.SKUs, c.Categories))
	}
	if c.Timeout <= 0 {
		errs = append(errs, fmt.Errorf("--timeout: must be positive, got %v", c.Timeout))
	}
	if c.MaxInFlight < 1 {
		errs = append(errs, fmt.Errorf("--max-in-flight: must be at least 1, got %d", c.MaxInFlight))
	}
	return errors.Join(errs...)
}

// RateAt is the target journey rate at elapsed time t.
func (c *Config) RateAt(t time.Duration) float64 {
	r := c.Rate
	if c.Ramp > 0 && t < c.Ramp {
		r *= 0.1 + 0.9*float64(t)/float64(c.Ramp)
	}
	if c.PeakEvery > 0 && t%c.PeakEvery >= c.PeakEvery-c.PeakDuration {
		r *= c.PeakFactor
	}
	return r
}

// Outcome classifies a request.
type Outcome int

// Outcomes.
const (
	OK Outcome = iota
	// Delayed is an order accepted but still processing.
	Delayed
	// Failed is a 5xx, a timeout or a transport error.
	Failed
)

// Progress summarizes one period.
type Progress struct {
	Elapsed  time.Duration
	Rate     float64 // journeys started per second
	Requests int
	P50, P95 time.Duration
	P99      time.Duration
	Errors   int
	Delayed  int
	InFlight int64
	Dropped  int
}

func (p Progress) String() string {
	errPct := 0.0
	if p.Requests > 0 {
		errPct = 100 * float64(p.Errors) / float64(p.Requests)
	}
	return fmt.Sprintf("%5.0fs  rate %5.1f/s  p50 %6s  p95 %6s  p99 %6s  errors %5.1f%% (%d)  delayed %d  in-flight %d  dropped %d",
		p.Elapsed.Seconds(), p.Rate, ms(p.P50), ms(p.P95), ms(p.P99), errPct, p.Errors, p.Delayed, p.InFlight, p.Dropped)
}

func ms(d time.Duration) string {
	if d < 10*time.Millisecond {
		return fmt.Sprintf("%.1fms", float64(d.Microseconds())/1000)
	}
	return fmt.Sprintf("%dms", d.Milliseconds())
}

// Summary totals a run.
type Summary struct {
	Duration        time.Duration
	Journeys        int
	Requests        int
	Errors, Delayed int
	Dropped         int
	P50, P95, P99   time.Duration
	ByEndpoint      map[string]EndpointSummary
}

// EndpointSummary totals one endpoint.
type EndpointSummary struct {
	Requests, Errors int
	P50, P95, P99    time.Duration
}

func (s Summary) String() string {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%d journeys, %d requests in %s: errors %d, delayed %d, dropped %d; p50 %s p95 %s p99 %s\n",
		s.Journeys, s.Requests, s.Duration.Round(time.Second), s.Errors, s.Delayed, s.Dropped, ms(s.P50), ms(s.P95), ms(s.P99))
	keys := make([]string, 0, len(s.ByEndpoint))
	for k := range s.ByEndpoint {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		e := s.ByEndpoint[k]
		fmt.Fprintf(&b, "  %-16s %6d requests  %5d errors  p50 %6s  p95 %6s  p99 %6s\n", k, e.Requests, e.Errors, ms(e.P50), ms(e.P95), ms(e.P99))
	}
	return b.String()
}

type sample struct {
	endpoint string
	d        time.Duration
	outcome  Outcome
}

// Runner runs journeys.
type Runner struct {
	cfg    Config
	client *http.Client

	inFlight atomic.Int64

	mu       sync.Mutex
	period   []sample
	all      []sample
	started  int
	dropped  int
	pStarted int
	pDropped int
}

// New returns a runner for cfg, which must be valid.
func New(cfg Config) *Runner {
	c := cfg.Client
	if c == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = cfg.MaxInFlight
		c = &http.Client{Transport: tr}
	}
	return &Runner{cfg: cfg, client: c}
}

func (r *Runner) username(i int) string { return fmt.Sprintf("shopper-%04d", i) }
func (r *Runner) password(i int) string { return fmt.Sprintf("correct-horse-%04d", i) }

// Setup registers the users; already registered users are fine.
func (r *Runner) Setup(ctx context.Context) error {
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	sem := make(chan struct{}, 4)
	for i := range r.cfg.Users {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			code, err := r.post(ctx, r.cfg.UserURL+"/register", map[string]string{
				"username": r.username(i), "password": r.password(i), "email": r.username(i) + "@example.com",
			}, nil)
			if err == nil && code != http.StatusCreated && code != http.StatusConflict {
				err = fmt.Errorf("register %s: status %d", r.username(i), code)
			}
			if err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return firstErr
}

// Run starts journeys until the duration has passed or ctx is done, waits for
// the journeys in flight, and returns the totals.
func (r *Runner) Run(ctx context.Context) Summary {
	start := time.Now()
	runCtx := ctx
	if r.cfg.Duration > 0 {
		var cancel context.CancelFunc
		runCtx, cancel = context.WithDeadline(ctx, start.Add(r.cfg.Duration))
		defer cancel()
	}
	every := r.cfg.ProgressEvery
	if every <= 0 {
		every = time.Second
	}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	report := time.NewTicker(every)
	defer report.Stop()
	var (
		wg     sync.WaitGroup
		tokens float64
		last   = start
	)
	// Journeys get their own context so that they finish when the duration ends
	// instead of failing en masse; only the caller's cancellation stops them.
	jctx := context.WithoutCancel(ctx)
	if ctx.Done() != nil {
		var cancel context.CancelFunc
		jctx, cancel = context.WithCancel(jctx)
		stop := context.AfterFunc(ctx, cancel)
		defer stop()
		defer cancel()
	}
loop:
	for {
		select {
		case <-runCtx.Done():
			break loop
		case now := <-report.C:
			if r.cfg.OnProgress != nil {
				r.cfg.OnProgress(r.snapshot(now.Sub(start), every))
			}
		case now := <-tick.C:
			tokens += r.cfg.RateAt(now.Sub(start)) * now.Sub(last).Seconds()
			last = now
			for ; tokens >= 1; tokens-- {
				if r.inFlight.Load() >= int64(r.cfg.MaxInFlight) {
					r.count(false)
					continue
				}
				r.count(true)
				r.inFlight.Add(1)
				wg.Go(func() {
					defer r.inFlight.Add(-1)
					r.journey(jctx)
				})
			}
		}
	}
	wg.Wait()
	return r.summary(time.Since(start))
}

func (r *Runner) count(started bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if started {
		r.started++
		r.pStarted++
	} else {
		r.dropped++
		r.pDropped++
	}
}

func (r *Runner) journey(ctx context.Context) {
	total := r.cfg.Browse + r.cfg.Login + r.cfg.Checkout
	n := rand.IntN(total)
	switch {
	case n < r.cfg.Browse:
		for range 1 + rand.IntN(2) {
			r.browse(ctx)
		}
	case n < r.cfg.Browse+r.cfg.Login:
		r.login(ctx)
	default:
		r.browse(ctx)
		if user, ok := r.login(ctx); ok {
			r.checkout(ctx, user)
		}
	}
}

func (r *Runner) browse(ctx context.Context) {
	url := fmt.Sprintf("%s/?category=cat-%d", r.cfg.CatalogURL, rand.IntN(r.cfg.Categories))
	t0 := time.Now()
	code, err := r.get(ctx, url)
	r.record("GET /", time.Since(t0), classify(code, err))
}

func (r *Runner) login(ctx context.Context) (string, bool) {
	i := rand.IntN(r.cfg.Users)
	t0 := time.Now()
	code, err := r.post(ctx, r.cfg.UserURL+"/login", map[string]string{"username": r.username(i), "password": r.password(i)}, nil)
	out := classify(code, err)
	r.record("POST /login", time.Since(t0), out)
	return r.username(i), out == OK && code == http.StatusOK
}

func (r *Runner) checkout(ctx context.Context, user string) {
	type line struct {
		SKU            string `json:"sku"`
		Qty            int64  `json:"qty"`
		UnitPriceCents int64  `json:"unit_price_cents"`
	}
	items := make([]line, 1+rand.IntN(3))
	for i := range items {
		items[i] = line{SKU: fmt.Sprintf("SKU-%d", 1+rand.IntN(r.cfg.SKUs)), Qty: 1 + rand.Int64N(2), UnitPriceCents: 100 + rand.Int64N(9900)}
	}
	t0 := time.Now()
	code, err := r.post(ctx, r.cfg.OrderURL+"/orders", map[string]any{"customer": user, "currency": "EUR", "items": items}, nil)
	out := classify(code, err)
	if out == OK && code == http.StatusAccepted {
		out = Delayed
	}
	r.record("POST /orders", time.Since(t0), out)
}

func classify(code int, err error) Outcome {
	if err != nil || code >= 500 {
		return Failed
	}
	return OK
}

func (r *Runner) record(endpoint string, d time.Duration, o Outcome) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := sample{endpoint, d, o}
	r.period = append(r.period, s)
	r.all = append(r.all, s)
}

func (r *Runner) snapshot(elapsed, period time.Duration) Progress {
	r.mu.Lock()
	samples := r.period
	r.period = nil
	started, dropped := r.pStarted, r.pDropped
	r.pStarted, r.pDropped = 0, 0
	r.mu.Unlock()
	p := Progress{
		Elapsed: elapsed, Rate: float64(started) / period.Seconds(), Requests: len(samples),
		InFlight: r.inFlight.Load(), Dropped: dropped,
	}
	ds := make([]time.Duration, 0, len(samples))
	for _, s := range samples {
		ds = append(ds, s.d)
		switch s.outcome {
		case Failed:
			p.Errors++
		case Delayed:
			p.Delayed++
		}
	}
	p.P50, p.P95, p.P99 = percentiles(ds)
	return p
}

func (r *Runner) summary(d time.Duration) Summary {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := Summary{Duration: d, Journeys: r.started, Requests: len(r.all), Dropped: r.dropped, ByEndpoint: map[string]EndpointSummary{}}
	all := make([]time.Duration, 0, len(r.all))
	per := map[string][]time.Duration{}
	for _, x := range r.all {
		all = append(all, x.d)
		per[x.endpoint] = append(per[x.endpoint], x.d)
		e := s.ByEndpoint[x.endpoint]
		e.Requests++
		switch x.outcome {
		case Failed:
			s.Errors++
			e.Errors++
		case Delayed:
			s.Delayed++
		}
		s.ByEndpoint[x.endpoint] = e
	}
	s.P50, s.P95, s.P99 = percentiles(all)
	for k, ds := range per {
		e := s.ByEndpoint[k]
		e.P50, e.P95, e.P99 = percentiles(ds)
		s.ByEndpoint[k] = e
	}
	return s
}

// percentiles returns the nearest-rank 50th, 95th and 99th percentiles; it sorts ds.
func percentiles(ds []time.Duration) (p50, p95, p99 time.Duration) {
	if len(ds) == 0 {
		return 0, 0, 0
	}
	slices.Sort(ds)
	at := func(q float64) time.Duration {
		i := int(math.Ceil(q*float64(len(ds)))) - 1
		return ds[max(0, min(i, len(ds)-1))]
	}
	return at(0.50), at(0.95), at(0.99)
}

func (r *Runner) get(ctx context.Context, url string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	return r.do(req, nil)
}

func (r *Runner) post(ctx context.Context, url string, body, out any) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.Timeout)
	defer cancel()
	data, err := json.Marshal(body)
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(data))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	return r.do(req, out)
}

func (r *Runner) do(req *http.Request, out any) (int, error) {
	resp, err := r.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if out != nil && resp.StatusCode/100 == 2 {
		return resp.StatusCode, json.NewDecoder(resp.Body).Decode(out)
	}
	_, err = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, err
}
