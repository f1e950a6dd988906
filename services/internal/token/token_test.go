package token

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/otelcol-rca/otelcol-rca/services/internal/testutil"
)

func post(t *testing.T, url string, body any, out any) int {
	t.Helper()
	data, _ := json.Marshal(body)
	resp, err := http.Post(url, "application/json", bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		_ = json.NewDecoder(resp.Body).Decode(out)
	}
	return resp.StatusCode
}

func TestIssueAndVerify(t *testing.T) {
	env, logs := testutil.Env(t, "token")
	metrics := testutil.Metrics(t, &env)
	srv := testutil.Serve(t, env, New(Config{Secret: strings.Repeat("k", MinSecretLen), TTL: time.Minute, Issuer: "test"}, env))

	var issued IssueResponse
	if code := post(t, srv.URL+"/token", IssueRequest{UserID: 7, Username: "ada", Email: "ada@example.com", Roles: []string{"customer"}}, &issued); code != http.StatusOK {
		t.Fatalf("issue = %d", code)
	}
	var claims Claims
	if code := post(t, srv.URL+"/verify", VerifyRequest{Token: issued.Token}, &claims); code != http.StatusOK || claims.Subject != "7" || claims.Email != "ada@example.com" {
		t.Fatalf("verify = %d %+v", code, claims)
	}
	if code := post(t, srv.URL+"/verify", VerifyRequest{Token: issued.Token + "x"}, nil); code != http.StatusUnauthorized {
		t.Fatalf("verify tampered = %d, want 401", code)
	}

	// What a degraded database answer holds: no email, no roles.
	if code := post(t, srv.URL+"/token", IssueRequest{UserID: 7, Username: "ada"}, nil); code != http.StatusUnprocessableEntity {
		t.Fatalf("issue for incomplete data = %d, want 422", code)
	}
	for _, l := range []string{"Token generation failed because user data was incomplete.", "User login failed, skipping token generation."} {
		if !logs.Contains(l) {
			t.Errorf("logs lack %q", l)
		}
	}
	// POST /token only: two requests, one failed; /verify is not token generation.
	if n := metrics.HistogramCount("token.generation.duration"); n != 2 {
		t.Errorf("token.generation.duration count = %d, want 2", n)
	}
	if n := metrics.Sum("token.generation.failures"); n != 1 {
		t.Errorf("token.generation.failures = %d, want 1", n)
	}
	if m, _ := metrics.Metric("token.generation.failures"); m.Unit != "{failure}" {
		t.Errorf("token.generation.failures unit = %q, want {failure}", m.Unit)
	}
}

func TestValidate(t *testing.T) {
	if err := (&Config{Secret: "short", TTL: time.Minute}).Validate(); err == nil || !strings.Contains(err.Error(), "TOKEN_SECRET") {
		t.Errorf("short secret: %v", err)
	}
	if err := (&Config{Secret: strings.Repeat("k", MinSecretLen), TTL: 0}).Validate(); err == nil {
		t.Error("zero TTL accepted")
	}
}

// TestTheSecretComesFromAFile: a mounted secret (Docker, Kubernetes) is read
// from its file, its trailing newline dropped; a file that cannot be read,
// or holds too short a secret, is refused, naming the flag.
func TestTheSecretComesFromAFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "secret")
	if err := os.WriteFile(good, []byte(strings.Repeat("k", MinSecretLen)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := &Config{SecretFile: good, TTL: time.Minute}
	if err := c.Validate(); err != nil || c.Secret != strings.Repeat("k", MinSecretLen) {
		t.Errorf("secret from %s: %q, %v", good, c.Secret, err)
	}
	if err := (&Config{SecretFile: filepath.Join(dir, "missing"), TTL: time.Minute}).Validate(); err == nil || !strings.Contains(err.Error(), "--secret-file") {
		t.Errorf("missing file: %v", err)
	}
	short := filepath.Join(dir, "short")
	if err := os.WriteFile(short, []byte("short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := (&Config{SecretFile: short, TTL: time.Minute}).Validate(); err == nil || !strings.Contains(err.Error(), "at least") {
		t.Errorf("short secret in a file: %v", err)
	}
}
