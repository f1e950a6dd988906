// Command rca-demo is the program behind `make run`. It starts the otelcol-rca
// collector and the demo services on loopback ports, drives load, reproduces the
// seed incidents by switching real faults on a schedule, prints each incident
// the collector reports, and ends with a summary of expected versus detected
// culprits. Ctrl-C stops everything cleanly; a second Ctrl-C kills at once.
//
// Exit status: 0 when the run completed (with --strict, only if every fault was
// detected with the right culprit and no incident started while the faults were
// off), 1 otherwise or on a failure or interruption, 2 on bad flags.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/otelcol-rca/otelcol-rca/services/internal/demo"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("rca-demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o demo.Options
	fs.StringVar(&o.Collector, "collector", "bin/otelcol-rca", "path of the otelcol-rca collector binary")
	fs.StringVar(&o.Services, "services", "bin/rca-services", "path of the rca-services binary")
	fs.StringVar(&o.OutDir, "out", "out", "output directory: collector config, incidents.json, summary.json, logs/")
	fs.DurationVar(&o.Duration, "duration", 3*time.Minute, "length of the load: warm-up plus the fault windows")
	incidents := fs.String("incidents", strings.Join(demo.DefaultIncidents, ","), "incidents to reproduce, in order (checkout, login, catalog, gateway)")
	fs.DurationVar(&o.Warmup, "warmup", 0, "fault-free warm-up; 0 means a quarter of --duration (20s..60s)")
	fs.DurationVar(&o.FaultDuration, "fault-duration", 0, "how long each fault stays on; 0 means derived from --duration")
	fs.DurationVar(&o.Gap, "gap", 0, "fault-free gap after each fault; 0 means derived from --duration")
	fs.DurationVar(&o.Drain, "drain", 10*time.Second, "how long to wait for the collector's last verdicts after the load stops")
	fs.IntVar(&o.BasePort, "base-port", 14300, "first loopback port: collector OTLP gRPC +0, HTTP +1, health +2, incident page +3; services +10..+17; with --shards, incident stage +20..+21, shard i +22+2i..+23+2i")
	fs.IntVar(&o.Shards, "shards", 0, "run the collector as a cluster: a gateway routing by trace ID to this many rootcause shards, and an incident stage; 0 runs one collector")
	fs.Float64Var(&o.Rate, "rate", 15, "user journeys started per second")
	fs.StringVar(&o.Rootcause, "rootcause-config", "{decision_wait: 2s}", "rootcause processor configuration, a YAML flow mapping")
	fs.StringVar(&o.Alertmanager, "alertmanager", os.Getenv("ALERTMANAGER_URL"), "base URL of an Alertmanager to send the incidents to as alerts (default $ALERTMANAGER_URL; none when empty)")
	fs.DurationVar(&o.StartTimeout, "start-timeout", 90*time.Second, "how long the collector and each service may take to become healthy")
	strict := fs.Bool("strict", false, "exit 1 unless every fault was detected with the right culprit and no incident started while the faults were off")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "rca-demo: unexpected arguments %q\n", fs.Args())
		return 2
	}
	for n := range strings.SplitSeq(*incidents, ",") {
		if n = strings.TrimSpace(n); n != "" {
			o.Incidents = append(o.Incidents, n)
		}
	}
	o.Stdout = stdout
	if _, err := demo.NewPlan(o.Incidents, o.Duration, o.Warmup, o.FaultDuration, o.Gap); err != nil {
		fmt.Fprintf(stderr, "rca-demo: %v\n", err)
		return 2
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	kill := make(chan struct{})
	o.Kill = kill
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	finished := make(chan struct{})
	defer close(finished)
	go func() {
		select {
		case <-sigs:
		case <-finished:
			return
		}
		fmt.Fprintln(stderr, "\nrca-demo: stopping (Ctrl-C again to kill at once)")
		cancel()
		select {
		case <-sigs:
			close(kill)
		case <-finished:
		}
	}()

	res, err := demo.Run(ctx, o)
	if err != nil {
		fmt.Fprintf(stderr, "rca-demo: %v\n", err)
		return 1
	}
	if res.Interrupted {
		return 1
	}
	if *strict {
		ok := len(res.Warmup) == 0 && len(res.Between) == 0
		for _, f := range res.Faults {
			ok = ok && f.Ran && f.Detected
		}
		if !ok {
			return 1
		}
	}
	return 0
}
