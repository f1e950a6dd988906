// Command loadgen drives user journeys (browse the catalog, log in, check out)
// against the demo services at a target rate with a ramp and peaks, shows a live
// progress line (rate, latency percentiles, errors) and stops by itself after
// --duration.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/otelcol-rca/otelcol-rca/services/internal/loadgen"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c loadgen.Config
	fs.StringVar(&c.CatalogURL, "catalog-url", "http://127.0.0.1:8088", "catalog service base URL")
	fs.StringVar(&c.UserURL, "user-url", "http://127.0.0.1:8085", "user service base URL")
	fs.StringVar(&c.OrderURL, "order-url", "http://127.0.0.1:8081", "order service base URL")
	fs.Float64Var(&c.Rate, "rate", 15, "journeys started per second (before peaks)")
	fs.DurationVar(&c.Ramp, "ramp", 10*time.Second, "time to ramp from 10% to --rate")
	fs.DurationVar(&c.Duration, "duration", time.Minute, "how long to start journeys; 0 means until interrupted")
	fs.DurationVar(&c.PeakEvery, "peak-every", 0, "period of load peaks; 0 means no peaks")
	fs.DurationVar(&c.PeakDuration, "peak-duration", 10*time.Second, "length of each peak")
	fs.Float64Var(&c.PeakFactor, "peak-factor", 2, "rate multiplier during a peak")
	fs.IntVar(&c.Browse, "browse", 50, "weight of browse journeys")
	fs.IntVar(&c.Login, "login", 25, "weight of login journeys")
	fs.IntVar(&c.Checkout, "checkout", 25, "weight of checkout journeys (browse, log in, order)")
	fs.IntVar(&c.Users, "users", 100, "users registered at start")
	fs.IntVar(&c.SKUs, "skus", 10000, "SKUs ordered from (SKU-1...)")
	fs.IntVar(&c.Categories, "categories", 200, "catalog categories browsed (cat-0...)")
	fs.DurationVar(&c.Timeout, "timeout", 5*time.Second, "timeout of each request")
	fs.IntVar(&c.MaxInFlight, "max-in-flight", 200, "maximum concurrent journeys")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if err := c.Validate(); err != nil {
		fmt.Fprintf(stderr, "loadgen: %v\n", err)
		return 2
	}
	tty := isTerminal(stderr)
	c.ProgressEvery = 5 * time.Second
	if tty {
		c.ProgressEvery = time.Second
	}
	c.OnProgress = func(p loadgen.Progress) {
		if tty {
			fmt.Fprintf(stderr, "\r\033[K%s", p)
		} else {
			fmt.Fprintln(stderr, p)
		}
	}
	r := loadgen.New(c)
	fmt.Fprintf(stderr, "loadgen: registering %d users\n", c.Users)
	if err := r.Setup(ctx); err != nil {
		if ctx.Err() != nil {
			return 1
		}
		// Users registered by an earlier run still log in; a struggling system is
		// what this tool is for, so go on.
		fmt.Fprintf(stderr, "loadgen: setup: %v (continuing)\n", err)
	}
	fmt.Fprintf(stderr, "loadgen: %.1f journeys/s for %v\n", c.Rate, c.Duration)
	s := r.Run(ctx)
	if tty {
		fmt.Fprintln(stderr)
	}
	fmt.Fprint(stdout, s)
	return 0
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
