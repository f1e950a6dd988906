package faults

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

func newSet() (*Set, *[]bool) {
	var (
		mu  sync.Mutex
		got []bool
	)
	s := NewSet(slog.New(slog.NewTextHandler(io.Discard, nil)))
	s.Register("slow", "makes it slow", func(_ context.Context, on bool) error {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, on)
		return nil
	})
	s.Register("broken", "cannot be applied", func(context.Context, bool) error { return errors.New("nope") })
	return s, &got
}

func TestSwitch(t *testing.T) {
	s, got := newSet()
	ctx := context.Background()
	for _, on := range []bool{true, true, false} {
		if err := s.Switch(ctx, "slow", on); err != nil {
			t.Fatal(err)
		}
	}
	if len(*got) != 2 || !(*got)[0] || (*got)[1] {
		t.Errorf("apply calls = %v, want [true false] (a repeated state is not re-applied)", *got)
	}
	if err := s.Switch(ctx, "nope", true); err == nil || !strings.Contains(err.Error(), "known: broken, slow") {
		t.Errorf("unknown fault error = %v", err)
	}
	if err := s.Switch(ctx, "broken", true); err == nil {
		t.Error("failed apply: want an error")
	}
	if st := s.Statuses(); st[0].On {
		t.Errorf("a fault whose apply failed reports on: %+v", st[0])
	}
}

func TestHandler(t *testing.T) {
	s, _ := newSet()
	const token = "s3cret"
	h := s.Handler(token)
	auth := "Bearer " + token
	tests := []struct {
		name, method, target, remote, auth, origin string
		want                                       int
	}{
		{"list", http.MethodGet, "/admin/faults", "127.0.0.1:5000", "", "", http.StatusOK},
		{"switch", http.MethodPost, "/admin/faults?name=slow&on=true", "127.0.0.1:5000", auth, "", http.StatusOK},
		{"ipv6 loopback", http.MethodPost, "/admin/faults?name=slow&on=false", "[::1]:5000", auth, "", http.StatusOK},
		{"unknown", http.MethodPost, "/admin/faults?name=nope&on=true", "127.0.0.1:5000", auth, "", http.StatusBadRequest},
		{"bad on", http.MethodPost, "/admin/faults?name=slow&on=maybe", "127.0.0.1:5000", auth, "", http.StatusBadRequest},
		{"remote", http.MethodPost, "/admin/faults?name=slow&on=true", "10.1.2.3:5000", auth, "", http.StatusForbidden},
		{"method", http.MethodDelete, "/admin/faults", "127.0.0.1:5000", auth, "", http.StatusMethodNotAllowed},
		{"no token", http.MethodPost, "/admin/faults?name=slow&on=true", "127.0.0.1:5000", "", "", http.StatusUnauthorized},
		{"wrong token", http.MethodPost, "/admin/faults?name=slow&on=true", "127.0.0.1:5000", "Bearer guess", "", http.StatusUnauthorized},
		// A page on any site the browser of this host shows: refused even
		// were it to know the token.
		{"from a web page", http.MethodPost, "/admin/faults?name=slow&on=true", "127.0.0.1:5000", auth, "http://evil.example", http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, tt.target, nil)
			req.RemoteAddr = tt.remote
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			if tt.origin != "" {
				req.Header.Set("Origin", tt.origin)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.want {
				t.Errorf("status = %d, want %d (%s)", rec.Code, tt.want, rec.Body)
			}
		})
	}
}

func TestParseSchedule(t *testing.T) {
	got, err := ParseSchedule(" slow@30s+40s, broken@2m+1s ,")
	if err != nil {
		t.Fatal(err)
	}
	want := []Window{{"slow", 30 * time.Second, 40 * time.Second}, {"broken", 2 * time.Minute, time.Second}}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("ParseSchedule = %+v, want %+v", got, want)
	}
	for _, bad := range []string{"slow", "slow@30s", "@1s+1s", "slow@x+1s", "slow@1s+0s", "slow@-1s+1s"} {
		if _, err := ParseSchedule(bad); err == nil {
			t.Errorf("ParseSchedule(%q) = nil error", bad)
		}
	}
}

func TestRunSchedule(t *testing.T) {
	s, got := newSet()
	if err := s.Validate([]Window{{Name: "nope"}}); err == nil {
		t.Error("Validate accepted an unknown fault")
	}
	w := []Window{{"slow", 0, 30 * time.Millisecond}, {"slow", 30 * time.Millisecond, 30 * time.Millisecond}}
	s.RunSchedule(context.Background(), w)
	// Back to back: off then on at 30ms, so the fault is applied on, off, on, off.
	if len(*got) != 4 {
		t.Errorf("apply calls = %v, want 4", *got)
	}
	if s.Statuses()[1].On {
		t.Error("fault still on after its schedule")
	}
}

func TestHandlerWithoutTokenSwitchesNothing(t *testing.T) {
	s, _ := newSet()
	req := httptest.NewRequest(http.MethodPost, "/admin/faults?name=slow&on=true", nil)
	req.RemoteAddr = "127.0.0.1:5000"
	req.Header.Set("Authorization", "Bearer ")
	rec := httptest.NewRecorder()
	s.Handler("").ServeHTTP(rec, req)
	if rec.Code != http.StatusForbidden || s.Statuses()[1].On {
		t.Errorf("status = %d, faults %+v: an empty token must disable switching", rec.Code, s.Statuses())
	}
}
