// Package tests runs the otelcol-rca testbed: correctness of the rootcause
// processor on traces, metrics and logs, and load tests of the built
// collector (bin/otelcol-rca) next to its peers (passthrough, tail_sampling).
//
// `go test ./...` runs the short versions; RCA_TESTBED_FULL=1 the full ones.
// See ../README.md.
package tests

import (
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/testbed/testbed"
)

// Environment variables understood by the testbed.
const (
	envFull        = "RCA_TESTBED_FULL"         // "1": full-length runs
	envCollector   = "RCA_COLLECTOR"            // path of the collector binary (default ../../bin/otelcol-rca)
	envResults     = "RCA_TESTBED_RESULTS"      // directory where results/ is written (default: this package)
	envReport      = "RCA_TESTBED_REPORT"       // markdown peer comparison written there
	envDuration    = "RCA_TESTBED_DURATION"     // load duration per run, overrides the mode's default
	envRates       = "RCA_TESTBED_RATES"        // comma-separated span rates, overrides the mode's default
	envLogRatio    = "RCA_TESTBED_LOG_RATIO"    // log records per span (default 1)
	envMetricRatio = "RCA_TESTBED_METRIC_RATIO" // metric data points per span (default 0.1)
)

var (
	perfResults        = &testbed.PerformanceResults{}
	correctnessResults = &testbed.CorrectnessResults{}

	// collectorPath is the absolute path of the collector under test.
	collectorPath string
	// testdataDir is the absolute path of ../testdata.
	testdataDir string
	// collectorErr is set when the collector binary is missing.
	collectorErr error
)

func TestMain(m *testing.M) {
	wd, err := os.Getwd()
	if err != nil {
		log.Fatal(err)
	}
	testdataDir = filepath.Join(wd, "..", "testdata")

	collectorPath = os.Getenv(envCollector)
	if collectorPath == "" {
		collectorPath = filepath.Join(wd, "..", "..", "bin", "otelcol-rca")
	}
	if collectorPath, err = filepath.Abs(collectorPath); err != nil {
		log.Fatal(err)
	}
	if st, statErr := os.Stat(collectorPath); statErr != nil || st.IsDir() || st.Mode()&0o111 == 0 {
		collectorErr = fmt.Errorf("collector binary %s not found or not executable: run `make build` in the repository root first (or set %s)", collectorPath, envCollector)
	}

	// The testbed writes its results (and the agent and backend logs) under
	// ./results/<TestName> of the working directory: ./results here
	// (git-ignored) or $RCA_TESTBED_RESULTS/results.
	if d := os.Getenv(envResults); d != "" {
		if err = os.MkdirAll(d, 0o755); err != nil {
			log.Fatal(err)
		}
		if err = os.Chdir(d); err != nil {
			log.Fatal(err)
		}
	}
	if err = testbed.Start(perfResults); err != nil {
		log.Fatal(err)
	}
	resultsDir, err := filepath.Abs("results")
	if err != nil {
		log.Fatal(err)
	}
	correctnessResults.Init(resultsDir)

	code := m.Run()

	testbed.SaveResults(perfResults)
	correctnessResults.Save()
	if code == 0 {
		if err := writeReport(); err != nil {
			log.Printf("writing the peer comparison: %v", err)
			code = 1
		}
	}
	os.Exit(code)
}

// requireCollector fails the test when the collector binary is missing.
func requireCollector(t *testing.T) {
	t.Helper()
	if collectorErr != nil {
		t.Fatal(collectorErr)
	}
}

// fullMode reports whether full-length runs are requested.
func fullMode() bool {
	v, _ := strconv.ParseBool(os.Getenv(envFull))
	return v
}

func envDurationOr(name string, def time.Duration) time.Duration {
	if v := os.Getenv(name); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			log.Fatalf("%s=%q: %v", name, v, err)
		}
		return d
	}
	return def
}

func envFloatOr(name string, def float64) float64 {
	if v := os.Getenv(name); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 {
			log.Fatalf("%s=%q: not a non-negative number", name, v)
		}
		return f
	}
	return def
}
