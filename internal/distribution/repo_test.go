package distribution

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// repoRoot is the top of the repository, found from this file's location so
// the tests run from any working directory.
func repoRoot(t *testing.T) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate the test file")
	}
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// collectorBinary is the binary `make build` produces, or $RCA_COLLECTOR.
func collectorBinary(t *testing.T) string {
	t.Helper()
	bin := os.Getenv("RCA_COLLECTOR")
	if bin == "" {
		bin = filepath.Join(repoRoot(t), "bin", "otelcol-rca")
	}
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("collector binary %s is missing (run `make build`, or set RCA_COLLECTOR): %v", bin, err)
	}
	return bin
}

func runCollector(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(collectorBinary(t), args...)
	cmd.Dir = repoRoot(t)
	out, err := cmd.CombinedOutput()
	return string(out), err
}
