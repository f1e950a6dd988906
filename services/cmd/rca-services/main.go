// Command rca-services runs one of the otelcol-rca demo services:
//
//	rca-services <service> [flags]
//
// Run "rca-services <service> -h" for a service's flags. Telemetry is exported
// as the standard OTEL_* environment variables say (OTLP by default).
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/otelcol-rca/otelcol-rca/services/internal/app"
	"github.com/otelcol-rca/otelcol-rca/services/internal/catalog"
	"github.com/otelcol-rca/otelcol-rca/services/internal/database"
	"github.com/otelcol-rca/otelcol-rca/services/internal/gateway"
	"github.com/otelcol-rca/otelcol-rca/services/internal/inventory"
	"github.com/otelcol-rca/otelcol-rca/services/internal/order"
	"github.com/otelcol-rca/otelcol-rca/services/internal/payment"
	"github.com/otelcol-rca/otelcol-rca/services/internal/token"
	"github.com/otelcol-rca/otelcol-rca/services/internal/user"
)

var specs = []app.Spec{
	order.Spec, payment.Spec, inventory.Spec, gateway.Spec,
	user.Spec, database.Spec, token.Spec, catalog.Spec,
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, s := range specs {
		if s.Name == args[0] {
			return app.Main(ctx, s, args[1:], stderr)
		}
	}
	fmt.Fprintf(stderr, "rca-services: unknown service %q\n\n", args[0])
	usage(stderr)
	return 2
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: rca-services <service> [flags]\n\nservices:")
	for _, s := range specs {
		fmt.Fprintf(w, "  %-16s %s (default --listen %s)\n", s.Name, s.Summary, s.DefaultListen)
	}
}
