package httpx

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestPostJSON(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /echo", func(w http.ResponseWriter, r *http.Request) {
		var in map[string]string
		if !DecodeJSON(w, r, &in) {
			return
		}
		WriteJSON(w, http.StatusOK, in)
	})
	mux.HandleFunc("POST /fail", func(w http.ResponseWriter, _ *http.Request) { WriteError(w, http.StatusConflict, "taken") })
	mux.HandleFunc("POST /slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(time.Second):
		}
	})
	srv := httptest.NewServer(Instrumentation{}.Handler("test", mux))
	defer srv.Close()
	c := Instrumentation{}.Client("test", 0)
	ctx := context.Background()

	var out map[string]string
	if err := PostJSON(ctx, c, srv.URL+"/echo", nil, map[string]string{"a": "b"}, &out); err != nil || out["a"] != "b" {
		t.Fatalf("echo: %v %v", out, err)
	}
	var se *StatusError
	if err := PostJSON(ctx, c, srv.URL+"/fail", nil, map[string]string{}, nil); !errors.As(err, &se) || se.Code != http.StatusConflict {
		t.Fatalf("fail: %v", err)
	}
	tctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if err := PostJSON(tctx, c, srv.URL+"/slow", nil, map[string]string{}, nil); !IsTimeout(err) {
		t.Fatalf("slow: %v is not a timeout", err)
	}
	if IsTimeout(se) || IsTimeout(context.Canceled) {
		t.Error("IsTimeout true for a status error or a cancellation")
	}
}

func TestHealth(t *testing.T) {
	rec := httptest.NewRecorder()
	Health(func(context.Context) error { return errors.New("db down") })(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("unhealthy = %d", rec.Code)
	}
	rec = httptest.NewRecorder()
	Health(nil)(rec, httptest.NewRequest(http.MethodGet, "/healthz", nil))
	if rec.Code != http.StatusOK {
		t.Errorf("healthy = %d", rec.Code)
	}
}

func TestServe(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		errc <- Serve(ctx, discard(), "127.0.0.1:0", http.NotFoundHandler(), time.Second)
	}()
	time.Sleep(100 * time.Millisecond)
	cancel()
	if err := <-errc; err != nil {
		t.Fatalf("Serve after cancel: %v", err)
	}
	if err := Serve(context.Background(), discard(), "nonsense", nil, time.Second); err == nil {
		t.Error("Serve on a bad address: nil error")
	}
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
