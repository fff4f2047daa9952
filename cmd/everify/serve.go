package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/everify/everify/internal/api"
	"github.com/everify/everify/internal/imagein"
	"github.com/everify/everify/internal/store"
)

// HTTP server timeouts. Reads allow for large face-match bodies on slow
// links; writes for a face match whose images are fetched first.
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 2 * time.Minute
	writeTimeout      = 2 * time.Minute
	idleTimeout       = 2 * time.Minute
	shutdownTimeout   = 30 * time.Second
)

// runServe implements `everify serve`: the HTTP API until SIGINT/SIGTERM,
// then a graceful shutdown that lets in-flight requests finish.
func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8080", "address to listen on (HOST:PORT; port 0 picks a free one)")
	dataDir := storeFlags(fs)
	demo := fs.Bool("demo", false, "create a demo tenant key on start and print it with example requests")
	sessionTTL := fs.Duration("session-ttl", api.DefaultSessionTTL, "how long a liveness session waits for its capture")
	rate := fs.Float64("rate-limit", 0, "requests per second allowed per API key, per replica (0: no limit)")
	burst := fs.Int("rate-burst", 20, "requests an API key may send at once above --rate-limit")
	allow := fs.String("image-allow", "", "comma-separated internal hosts, IPs or CIDRs that image URLs may reach (default: public addresses only)")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageErrorf("unexpected arguments %v", fs.Args())
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return usageErrorf("--log-level: %v", err)
	}
	logger := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level}))

	db, where, err := openStore(ctx, *dataDir, store.Options{})
	if err != nil {
		return err
	}
	defer db.Close()
	var allowList []string
	for _, a := range strings.Split(*allow, ",") {
		if a = strings.TrimSpace(a); a != "" {
			allowList = append(allowList, a)
		}
	}
	images, err := imagein.NewFetcher(imagein.Options{Allow: allowList})
	if err != nil {
		return usageErrorf("--image-allow: %v", err)
	}
	srv, err := api.New(api.Config{
		Store:      db,
		Images:     images,
		Logger:     logger,
		SessionTTL: *sessionTTL,
		RateLimit:  api.RateLimit{PerSecond: *rate, Burst: *burst},
	})
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", *addr, err)
	}
	base := baseURL(ln.Addr())
	hs := &http.Server{
		Handler:           srv,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	logger.Info("serving", slog.String("url", base), slog.String("store", where))
	fmt.Fprintf(stdout, "everify listening on %s (store: %s)\nAPI documentation: %s/docs\n", base, where, base)
	if *demo {
		if err := printDemo(ctx, db, base, stdout); err != nil {
			hs.Close()
			return err
		}
	}

	select {
	case err := <-served:
		return fmt.Errorf("serving HTTP: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down", slog.String("grace", shutdownTimeout.String()))
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		return fmt.Errorf("graceful shutdown: %w", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving HTTP: %w", err)
	}
	logger.Info("stopped")
	return nil
}

// baseURL is the URL clients on this machine use to reach addr; an
// unspecified host (0.0.0.0, ::) is shown as 127.0.0.1.
func baseURL(addr net.Addr) string {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok {
		return "http://" + addr.String()
	}
	host := tcp.IP.String()
	if tcp.IP.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, fmt.Sprint(tcp.Port))
}
