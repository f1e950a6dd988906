// Command rca-replay runs recorded telemetry through the rootcause processor,
// in event time and as fast as possible, and prints the incidents it would
// have raised: a post-mortem of a past outage, or a dry run of a
// configuration before it is rolled out.
//
//	rca-replay --config otelcol-config.yaml --otlp-json traces.jsonl --otlp-json logs.jsonl
//	rca-replay --otlp-proto traces:spans.pb
//	rca-replay --trainticket ../shared/datasets/trainticket-2023-01-30/nezha/rca_data/2023-01-30@12:00-12:05
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/otelcol-rca/otelcol-rca/replay"
	"github.com/otelcol-rca/otelcol-rca/replay/internal/otlpfile"
	"github.com/otelcol-rca/otelcol-rca/replay/internal/recording"
	"github.com/otelcol-rca/otelcol-rca/replay/internal/trainticket"
)

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "rca-replay:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("rca-replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var jsonFiles, protoFiles, ttParts multiFlag
	configPath := fs.String("config", "", "collector configuration file to take the rootcause processor's settings from (default: the processor's defaults)")
	processorID := fs.String("processor", "", `the processor to use when the configuration has several ("rootcause/name")`)
	fs.Var(&jsonFiles, "otlp-json", "file of OTLP JSON lines, as the file exporter writes them (repeatable)")
	fs.Var(&protoFiles, "otlp-proto", "SIGNAL:FILE, length-prefixed OTLP protobuf of traces, logs or metrics (repeatable)")
	fs.Var(&ttParts, "trainticket", "DIR[@HH:MM-HH:MM], a Train Ticket dataset folder (trace/, log/, metric/) and the minutes to read (repeatable)")
	jsonOut := fs.Bool("json", false, "print every incident record as a JSON line instead of text")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q: inputs are given with --otlp-json, --otlp-proto or --trainticket", fs.Arg(0))
	}
	if len(jsonFiles)+len(protoFiles)+len(ttParts) == 0 {
		fs.Usage()
		return errors.New("no input: give --otlp-json, --otlp-proto or --trainticket")
	}
	cfg := replay.DefaultConfig()
	if *configPath != "" {
		var err error
		if cfg, err = replay.LoadConfig(ctx, *configPath, *processorID); err != nil {
			return err
		}
	}
	next, describe, err := open(jsonFiles, protoFiles, ttParts)
	if err != nil {
		return err
	}
	fmt.Fprintln(stderr, describe)

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt)
	defer stop()
	logger := zap.New(zapcore.NewCore(zapcore.NewConsoleEncoder(zap.NewDevelopmentEncoderConfig()), zapcore.AddSync(stderr), zap.WarnLevel))
	enc := json.NewEncoder(stdout)
	res, err := replay.Run(ctx, cfg, logger, next, func(in replay.Incident) {
		if *jsonOut {
			_ = enc.Encode(in)
			return
		}
		fmt.Fprintln(stdout, Describe(in))
	})
	if err != nil {
		return err
	}
	opened := 0
	for _, in := range res.Incidents {
		if in.Status == "open" {
			opened++
		}
	}
	secs := res.Elapsed.Seconds()
	fmt.Fprintf(stderr, "replayed %d spans, %d log records, %d data points in %.1fs (%.0f spans/s); %d incidents opened\n",
		res.Spans, res.Logs, res.DataPoints, secs, float64(res.Spans)/max(secs, 1e-9), opened)
	return nil
}

// Describe is the one-line summary of an incident record.
func Describe(in replay.Incident) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s  %-8s %s  %s", in.At.UTC().Format(time.RFC3339), in.Status, in.ID[:min(8, len(in.ID))], in.CulpritService)
	if in.CulpritOperation != "" {
		fmt.Fprintf(&b, " %q", in.CulpritOperation)
	}
	fmt.Fprintf(&b, " (%s, %d traces, %s..%s)", in.Kind, in.TraceCount, in.WindowStart.UTC().Format("15:04:05"), in.WindowEnd.UTC().Format("15:04:05"))
	if in.Reason != "" {
		fmt.Fprintf(&b, ": %s", in.Reason)
	}
	if len(in.Candidates) > 1 {
		n := min(5, len(in.Candidates))
		parts := make([]string, n)
		for i := range n {
			parts[i] = in.Candidates[i]
			if i < len(in.Scores) {
				parts[i] += fmt.Sprintf(" %.2f", in.Scores[i])
			}
		}
		fmt.Fprintf(&b, " [candidates: %s]", strings.Join(parts, ", "))
	}
	return b.String()
}

// open reads the inputs and merges them in event-time order.
func open(jsonFiles, protoFiles, ttParts []string) (func() (recording.Batch, bool), string, error) {
	var batches []recording.Batch
	for _, p := range jsonFiles {
		bs, err := otlpfile.ReadJSON(p)
		if err != nil {
			return nil, "", err
		}
		batches = append(batches, bs...)
	}
	for _, arg := range protoFiles {
		sig, path, ok := strings.Cut(arg, ":")
		if !ok {
			return nil, "", fmt.Errorf("--otlp-proto %q: want SIGNAL:FILE, e.g. traces:spans.pb", arg)
		}
		bs, err := otlpfile.ReadProto(path, otlpfile.Signal(sig))
		if err != nil {
			return nil, "", err
		}
		batches = append(batches, bs...)
	}
	// Files hold what a collector received, in that order; a stable sort by
	// time merges several files without reordering one.
	slices.SortStableFunc(batches, func(a, b recording.Batch) int { return a.Time.Compare(b.Time) })
	describe := fmt.Sprintf("read %d OTLP batches", len(batches))
	var tt *trainticket.Reader
	if len(ttParts) > 0 {
		opts := trainticket.Options{Traces: true, Logs: true, Metrics: true}
		for _, arg := range ttParts {
			part, err := parsePart(arg)
			if err != nil {
				return nil, "", err
			}
			opts.Parts = append(opts.Parts, part)
		}
		var err error
		if tt, err = trainticket.Open(opts); err != nil {
			return nil, "", err
		}
		describe += fmt.Sprintf("; Train Ticket: %+v", tt.Stats())
	}
	return mergeByTime(batches, tt), describe, nil
}

// mergeByTime interleaves the OTLP batches with the dataset's, by time.
func mergeByTime(batches []recording.Batch, tt *trainticket.Reader) func() (recording.Batch, bool) {
	var pending recording.Batch
	havePending := false
	return func() (recording.Batch, bool) {
		if tt != nil && !havePending {
			pending, havePending = tt.Next()
			if !havePending {
				tt = nil
			}
		}
		switch {
		case havePending && (len(batches) == 0 || !batches[0].Time.Before(pending.Time)):
			havePending = false
			return pending, true
		case len(batches) > 0:
			b := batches[0]
			batches = batches[1:]
			return b, true
		default:
			return recording.Batch{}, false
		}
	}
}

// parsePart reads DIR[@HH:MM-HH:MM].
func parsePart(arg string) (trainticket.Part, error) {
	dir, span, ok := strings.Cut(arg, "@")
	part := trainticket.Part{Dir: dir}
	if !ok {
		return part, nil
	}
	from, to, ok := strings.Cut(span, "-")
	if !ok {
		return part, fmt.Errorf("--trainticket %q: minutes must be HH:MM-HH:MM", arg)
	}
	var err error
	if part.From, err = time.Parse("15:04", from); err != nil {
		return part, fmt.Errorf("--trainticket %q: %w", arg, err)
	}
	if part.To, err = time.Parse("15:04", to); err != nil {
		return part, fmt.Errorf("--trainticket %q: %w", arg, err)
	}
	return part, nil
}
