package svcmetrics

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestObserve(t *testing.T) {
	for name, tc := range map[string]struct {
		h       http.HandlerFunc
		status  int
		outcome string
	}{
		"implicit 200": {func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) }, 200, Success},
		"nothing":      {func(http.ResponseWriter, *http.Request) {}, 200, Success},
		"202":          {func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusAccepted) }, 202, Success},
		"422": {func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusUnprocessableEntity)
			_, _ = w.Write([]byte("no"))
		}, 422, Failure},
		"503 then 200": {func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusServiceUnavailable)
			w.WriteHeader(http.StatusOK)
		}, 503, Failure},
	} {
		t.Run(name, func(t *testing.T) {
			calls := 0
			h := Observe(tc.h, func(_ context.Context, status int, seconds float64) {
				calls++
				if status != tc.status || Outcome(status) != tc.outcome || seconds < 0 {
					t.Errorf("record(%d, %g): want %d (%s)", status, seconds, tc.status, tc.outcome)
				}
			})
			h(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/", nil))
			if calls != 1 {
				t.Errorf("record called %d times, want 1", calls)
			}
		})
	}
}

func TestObserveDuration(t *testing.T) {
	var got float64
	h := Observe(func(http.ResponseWriter, *http.Request) { time.Sleep(20 * time.Millisecond) },
		func(_ context.Context, _ int, s float64) { got = s })
	h(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
	if got < 0.02 || got > 5 {
		t.Errorf("seconds = %g, want about 0.02", got)
	}
}

func TestBounds(t *testing.T) {
	for i := 1; i < len(Bounds); i++ {
		if Bounds[i] <= Bounds[i-1] {
			t.Fatalf("Bounds not increasing at %d: %v", i, Bounds)
		}
	}
	if Bounds[len(Bounds)-1] < 30 {
		t.Errorf("last bound %g < 30 s", Bounds[len(Bounds)-1])
	}
}
