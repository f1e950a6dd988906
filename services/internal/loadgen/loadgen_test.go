package loadgen

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

func TestRateAt(t *testing.T) {
	c := Config{Rate: 10, Ramp: 10 * time.Second, PeakEvery: time.Minute, PeakDuration: 10 * time.Second, PeakFactor: 2}
	for _, tc := range []struct {
		at   time.Duration
		want float64
	}{
		{0, 1}, {5 * time.Second, 5.5}, {20 * time.Second, 10}, {55 * time.Second, 20}, {61 * time.Second, 10},
	} {
		if got := c.RateAt(tc.at); got != tc.want {
			t.Errorf("RateAt(%v) = %v, want %v", tc.at, got, tc.want)
		}
	}
}

func TestPercentiles(t *testing.T) {
	var ds []time.Duration
	for i := 1; i <= 100; i++ {
		ds = append(ds, time.Duration(101-i)*time.Millisecond)
	}
	p50, p95, p99 := percentiles(ds)
	if p50 != 50*time.Millisecond || p95 != 95*time.Millisecond || p99 != 99*time.Millisecond {
		t.Errorf("percentiles = %v %v %v", p50, p95, p99)
	}
	if a, b, c := percentiles(nil); a != 0 || b != 0 || c != 0 {
		t.Error("percentiles of nothing are not zero")
	}
}

func TestRun(t *testing.T) {
	var orders, logins, pages, registers atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) { pages.Add(1) })
	mux.HandleFunc("POST /register", func(w http.ResponseWriter, _ *http.Request) {
		registers.Add(1)
		w.WriteHeader(http.StatusCreated)
	})
	mux.HandleFunc("POST /login", func(w http.ResponseWriter, _ *http.Request) { logins.Add(1) })
	mux.HandleFunc("POST /orders", func(w http.ResponseWriter, _ *http.Request) {
		orders.Add(1)
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	var progress atomic.Int64
	c := Config{
		CatalogURL: srv.URL, UserURL: srv.URL, OrderURL: srv.URL, Rate: 50, Duration: 1200 * time.Millisecond,
		Browse: 1, Login: 1, Checkout: 1, Users: 3, SKUs: 10, Categories: 5, Timeout: time.Second, MaxInFlight: 10,
		ProgressEvery: 500 * time.Millisecond, OnProgress: func(Progress) { progress.Add(1) },
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	r := New(c)
	if err := r.Setup(context.Background()); err != nil || registers.Load() != 3 {
		t.Fatalf("setup: %v, %d registrations", err, registers.Load())
	}
	s := r.Run(context.Background())
	if s.Journeys < 40 || pages.Load() == 0 || logins.Load() == 0 || orders.Load() == 0 {
		t.Fatalf("summary %+v; pages %d logins %d orders %d", s, pages.Load(), logins.Load(), orders.Load())
	}
	if s.Errors != int(orders.Load()) || s.ByEndpoint["POST /orders"].Errors != s.Errors {
		t.Errorf("errors = %d, want the %d failed orders", s.Errors, orders.Load())
	}
	if progress.Load() < 2 {
		t.Errorf("%d progress reports, want at least 2", progress.Load())
	}
}
