package cli

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"runtime"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/nnx-dev/nnx/pkg/bundle"
	"github.com/nnx-dev/nnx/pkg/serve"
)

// serveGCPercent is the GOGC nnx serve runs with unless GOGC is set. A
// server keeps a small heap (a few MB) and allocates a few KB per request
// inside net/http, so the default of 100 collects some twenty times a
// second under load, and requests that meet a collection make the latency
// tail; at 1000 the heap still stays in tens of MB.
const serveGCPercent = 1000

// serveOptions are nnx serve's flags.
type serveOptions struct {
	addr     string
	maxBatch int
	grace    time.Duration
	device   string
	procs    int
}

func newServeCmd(e *env) *cobra.Command {
	o := &serveOptions{}
	c := &cobra.Command{
		Use:   "serve BUNDLE [BUNDLE...]",
		Short: "Serve predictions from model bundles over HTTP, with a page to draw digits on",
		Long: `Serve predictions from model bundles (directories nnx run writes, such as
results/best or results/<experiment>/best) over HTTP. Every file is checked
against the bundle's manifest before serving.

  GET  /             a page to draw a digit on and see the prediction
  POST /api/neural   the seed's API: {"gridValues": 784 numbers or 28 rows of
                     28 in [0, 255], "method": bundle index} -> ["<digit>", "<confidence>"]
  POST /v1/predict   {"inputs": [image, ...]} -> label, confidence and every
                     class's probability per image; ?model=NAME or index picks a bundle
  GET  /v1/models    the loaded bundles and their manifests
  GET  /healthz, /readyz, /metrics (Prometheus)

Bodies must be application/json; /api/neural takes at most 1 MiB, /v1/predict
8 MiB. It listens on localhost unless --addr says otherwise, and shuts down
gracefully on SIGTERM or Ctrl-C.

Predictions run on the CPU (--device cuda is refused: a prediction takes
microseconds there, less than one copy to and from a GPU).

It runs Go code on every core (--procs) and with GOGC=1000 unless GOGC is
set. Give --procs fewer cores than the machine has when other busy
processes share them, such as a load generator on a 2-core machine: with
more Go threads than free cores the kernel parks a thread in the middle of
requests for a scheduler slice (milliseconds), and the latency tail grows
tenfold (bench/README.md, "Serving").`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usageError{fmt.Errorf("expected at least one bundle directory, got none")}
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return runServe(cmd.Context(), e, o, args, cmd.Flags().Changed("procs"))
		},
	}
	c.Flags().StringVar(&o.addr, "addr", "127.0.0.1:8080", "address to listen on (host:port; port 0 picks a free one)")
	c.Flags().IntVar(&o.maxBatch, "max-batch", serve.DefaultMaxBatch, "most images per /v1/predict request")
	c.Flags().DurationVar(&o.grace, "grace", 10*time.Second, "how long shutdown waits for requests in flight")
	c.Flags().StringVar(&o.device, "device", "", "cpu or auto (env NNX_DEVICE; cuda is refused: see --help)")
	c.Flags().IntVar(&o.procs, "procs", 0, "cores that run Go code at once (env NNX_PROCS; 0: GOMAXPROCS if set, else every core)")
	return c
}

// runServe serves; procsSet says --procs was given (it wins over NNX_PROCS,
// even as 0).
func runServe(ctx context.Context, e *env, o *serveOptions, dirs []string, procsSet bool) error {
	switch dev := firstNonEmpty(o.device, e.getenv("NNX_DEVICE"), "cpu"); dev {
	case "cpu":
	case "auto":
		fmt.Fprintln(e.stderr, "nnx: device auto: serving on the cpu (nnx serves on the cpu only)")
	case "cuda":
		return usageError{fmt.Errorf("--device cuda: nnx serves on the cpu only: one prediction takes about 5 us (MLP) " +
			"or 30 us (CNN) there, less than a single copy to and from a GPU; use --device cpu")}
	default:
		return usageError{fmt.Errorf("--device %q: want cpu or auto", dev)}
	}
	host, _, err := net.SplitHostPort(o.addr)
	if err != nil {
		return usageError{fmt.Errorf("--addr %q: want host:port, e.g. 127.0.0.1:8080", o.addr)}
	}
	if o.maxBatch < 1 {
		return usageError{fmt.Errorf("--max-batch: want a whole number >= 1, got %d", o.maxBatch)}
	}
	procs := o.procs
	if !procsSet && e.getenv("NNX_PROCS") != "" {
		if procs, err = strconv.Atoi(e.getenv("NNX_PROCS")); err != nil || procs < 0 {
			return usageError{fmt.Errorf("NNX_PROCS=%q: want a whole number >= 0", e.getenv("NNX_PROCS"))}
		}
	}
	if procs < 0 {
		return usageError{fmt.Errorf("--procs: want a whole number >= 0 (0: GOMAXPROCS if set, else every core), got %d", procs)}
	}
	if procs > 0 {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
	}
	var entries []serve.Entry
	for _, d := range dirs {
		b, err := bundle.Load(d)
		if err != nil {
			return err
		}
		entries = append(entries, serve.Entry{Path: d, Bundle: b})
	}
	srv, err := serve.New(entries, serve.Options{MaxBatch: o.maxBatch})
	if err != nil {
		return err
	}
	if e.getenv("GOGC") == "" {
		debug.SetGCPercent(serveGCPercent)
	}
	for i, en := range entries {
		m := en.Bundle.Manifest
		fmt.Fprintf(e.stderr, "nnx: model %d: %s (%s, test accuracy %.2f%%) from %s\n",
			i, srv.Models()[i], m.Experiment, 100*m.Metrics.TestAccuracy, en.Path)
	}
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		fmt.Fprintf(e.stderr, "nnx: warning: listening on all interfaces (%s): anyone who can reach this machine can use the server\n", o.addr)
	}
	hs := &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          log.New(e.stderr, "nnx: http: ", 0),
	}
	fmt.Fprintf(e.stdout, "serving %d model(s) on http://%s/\n", len(entries), ln.Addr())
	done := make(chan error, 1)
	go func() { done <- hs.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
	}
	srv.SetReady(false)
	fmt.Fprintln(e.stderr, "nnx: shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), o.grace)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutting down: %w", err)
	}
	if err := <-done; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	fmt.Fprintln(e.stderr, "nnx: stopped")
	return nil
}
