package tests

import (
	"fmt"
	"log"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
)

// writeReport writes the peer comparison of the load runs as markdown to
// results/peer-comparison.md and to $RCA_TESTBED_REPORT when set.
func writeReport() error {
	loadRunsMu.Lock()
	runs := slices.Clone(loadRuns)
	loadRunsMu.Unlock()
	if len(runs) == 0 {
		return nil
	}
	md := renderReport(runs)
	paths := []string{filepath.Join("results", "peer-comparison.md")}
	if p := os.Getenv(envReport); p != "" {
		paths = append(paths, p)
	}
	for _, p := range paths {
		if dir := filepath.Dir(p); dir != "" {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return err
			}
		}
		if err := os.WriteFile(p, []byte(md), 0o644); err != nil {
			return err
		}
		abs, _ := filepath.Abs(p)
		log.Printf("peer comparison written to %s", abs)
	}
	return nil
}

func renderReport(runs []loadRun) string {
	var b strings.Builder
	mode := "short"
	if fullMode() {
		mode = "full"
	}
	fmt.Fprintf(&b, "### Testbed peer comparison\n\n")
	fmt.Fprintf(&b, "%s, %s mode, %v of load per run, %d CPUs (%s/%s). ",
		time.Now().UTC().Format("2006-01-02 15:04 UTC"), mode, runs[0].Duration, runtime.NumCPU(), runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(&b, "Load: spans/s as given, plus %.2g log records and %.2g metric data points per span, over OTLP/gRPC; "+
		"decision_wait %v for rootcause and tail_sampling. CPU in %% of one core and RSS of the collector process, "+
		"sampled every second during the load (warm-up excluded).\n\n",
		envFloatOr(envLogRatio, 1), envFloatOr(envMetricRatio, 0.1), loadDecisionWait)

	b.WriteString("| Spans/s | Configuration | CPU avg % | CPU max % | RSS avg MiB | RSS max MiB | Spans/s achieved | Items sent | Items received |\n")
	b.WriteString("|--------:|---------------|----------:|----------:|------------:|------------:|-----------------:|-----------:|---------------:|\n")
	for _, r := range runs {
		fmt.Fprintf(&b, "| %d | %s | %.1f | %.1f | %.0f | %.0f | %.0f | %d | %d |\n",
			r.Rate, r.Peer.label, r.Usage.CPUAvg, r.Usage.CPUMax, r.Usage.RAMAvg, r.Usage.RAMMax, r.AchievedRate, r.Sent, r.Received)
	}

	b.WriteString("\n| Spans/s | Ratio | CPU avg | CPU max | RSS avg | RSS max | Achieved load |\n")
	b.WriteString("|--------:|-------|--------:|--------:|--------:|--------:|--------------:|\n")
	var rates []int
	for _, r := range runs {
		if !slices.Contains(rates, r.Rate) {
			rates = append(rates, r.Rate)
		}
	}
	for _, rate := range rates {
		c, ok := findRun(runs, rate, peerRootcause)
		if !ok {
			continue
		}
		for _, base := range []peer{peerPassthrough, peerTailSampling} {
			o, ok := findRun(runs, rate, base)
			if !ok {
				continue
			}
			load := ratio(c.AchievedRate, o.AchievedRate)
			if r := c.AchievedRate / o.AchievedRate; r < 0.9 || r > 1.1 {
				load += " ⚠ not comparable"
			}
			fmt.Fprintf(&b, "| %d | rootcause / %s | %s | %s | %s | %s | %s |\n", rate, base.name,
				ratio(c.Usage.CPUAvg, o.Usage.CPUAvg), ratio(c.Usage.CPUMax, o.Usage.CPUMax),
				ratio(c.Usage.RAMAvg, o.Usage.RAMAvg), ratio(c.Usage.RAMMax, o.Usage.RAMMax), load)
		}
	}
	b.WriteString("\nAchieved load: spans/s the load generator sustained for rootcause over the other run; " +
		"beyond ±10% the machine was too busy and the ratios of that row do not compare like with like.\n")
	b.WriteString("\nTargets at 10k spans/s: rootcause CPU ≤ 1.15× passthrough and ≤ 1.0× tail_sampling; RSS ≤ tail_sampling.\n")
	return b.String()
}

func findRun(runs []loadRun, rate int, p peer) (loadRun, bool) {
	for _, r := range runs {
		if r.Rate == rate && r.Peer.name == p.name {
			return r, true
		}
	}
	return loadRun{}, false
}

func ratio(a, b float64) string {
	if b == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f×", a/b)
}
