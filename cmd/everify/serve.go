package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riversqlite"

	"github.com/everify/everify/internal/api"
	"github.com/everify/everify/internal/biometric"
	"github.com/everify/everify/internal/facematch"
	"github.com/everify/everify/internal/imagein"
	"github.com/everify/everify/internal/jobs"
	"github.com/everify/everify/internal/liveness"
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

// corsOriginsEnv names the environment variable with the default
// --cors-origin values, comma-separated.
const corsOriginsEnv = "EVERIFY_CORS_ORIGINS"

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }

func (l *stringList) Set(v string) error {
	*l = append(*l, v)
	return nil
}

// runServe implements `everify serve`: the HTTP API and the job workers
// until SIGINT/SIGTERM, then a graceful shutdown that lets in-flight
// requests and running jobs finish.
func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8080", "address to listen on (HOST:PORT; port 0 picks a free one)")
	dataDir := storeFlags(fs)
	demo := fs.Bool("demo", false, "create a demo tenant key on start, print it with example requests, and serve the demo page at /demo/ (its routes need no key: use only where that is intended)")
	sessionTTL := fs.Duration("session-ttl", api.DefaultSessionTTL, "how long a liveness session waits for its capture")
	protect := addProtectFlags(fs)
	allow := fs.String("image-allow", "", "comma-separated internal hosts, IPs or CIDRs that image URLs may reach (default: public addresses only)")
	models := fs.String("models", defaultModelsDir(), "models directory ($EVERIFY_MODELS sets the default)")
	faceMatch := fs.Bool("face-match", true, "load the face-match engine (false: face-match requests answer 503)")
	faceProfile := fs.String("face-profile", facematch.DefaultProfile, "face-match model profile: "+strings.Join(facematch.Profiles, " or ")+" (see docs/FACEMATCH.md)")
	livenessEngine := fs.Bool("liveness", true, "load the liveness engine (false: this process analyses no captures; they wait in the queue for one that does)")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn or error")
	var corsOrigins stringList
	fs.Var(&corsOrigins, "cors-origin", "an origin (https://shop.example) whose pages may call the capture endpoints; repeatable, \"*\" for any (default $"+corsOriginsEnv+", comma-separated)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if len(corsOrigins) == 0 {
		corsOrigins = splitList(os.Getenv(corsOriginsEnv))
	}
	if fs.NArg() > 0 {
		return usageErrorf("unexpected arguments %v", fs.Args())
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return usageErrorf("--log-level: %v", err)
	}
	logger := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level}))

	// The store enqueues each submitted capture's analysis in the
	// transaction that submits it, through the queue built on it below.
	// Likewise each finished session's webhook delivery.
	var queue *jobs.Queue
	db, where, err := openStore(ctx, *dataDir, store.Options{SubmitHook: func(ctx context.Context, tx *sql.Tx, id string) error {
		return queue.EnqueueAnalysis(ctx, tx, id)
	}, WebhookHook: func(ctx context.Context, tx *sql.Tx, s *biometric.Session) error {
		return queue.EnqueueWebhook(ctx, tx, s)
	}})
	if err != nil {
		return err
	}
	defer db.Close()
	driver, closeDriver, err := riverDriver(ctx, db)
	if err != nil {
		return err
	}
	defer closeDriver()
	eng, err := loadEngines(*models, engineChoice{faceMatch: *faceMatch, faceProfile: *faceProfile, liveness: *livenessEngine}, db)
	if err != nil {
		return err
	}
	defer eng.close()
	jobsConfig := jobs.Config{Driver: driver, Store: db, Logger: logger}
	if eng.analyzer != nil {
		jobsConfig.Analyzer = eng.analyzer
	}
	if err := protect.jobs(&jobsConfig); err != nil {
		return err
	}
	if queue, err = jobs.New(jobsConfig); err != nil {
		return err
	}
	var matcher api.FaceMatcher
	if eng.matcher != nil {
		matcher = eng.matcher
	}
	images, err := imagein.NewFetcher(imagein.Options{Allow: splitList(*allow)})
	if err != nil {
		return usageErrorf("--image-allow: %v", err)
	}
	var demoSecret string
	var demoKey *biometric.APIKey
	if *demo {
		if demoSecret, demoKey, err = createDemoKey(ctx, db); err != nil {
			return err
		}
	}
	apiConfig := api.Config{
		Store:       db,
		Images:      images,
		Logger:      logger,
		SessionTTL:  *sessionTTL,
		CORSOrigins: corsOrigins,
		DemoKey:     demoKey,
		Matcher:     matcher,
		Framing:     eng.framing,
		Challenges:  liveness.DefaultPolicy(),
	}
	protect.apply(&apiConfig, db)
	srv, err := api.New(apiConfig)
	if err != nil {
		return usageErrorf("%v", err)
	}
	// The workers outlive ctx, which ends at SIGTERM, until the graceful
	// shutdown below has stopped them.
	if err := queue.Start(context.WithoutCancel(ctx)); err != nil {
		return err
	}
	stopQueue := func() {
		sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		if err := queue.Stop(sctx); err != nil {
			logger.Error("stopping the job workers", slog.String("error", err.Error()))
		}
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		stopQueue()
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
	logger.Info("serving", slog.String("url", base), slog.String("store", where), slog.String("protection", protect.describe()))
	fmt.Fprintf(stdout, "everify listening on %s (store: %s)\nAPI documentation: %s/docs\n", base, where, base)
	if demoKey != nil {
		printDemo(stdout, base, demoSecret, demoKey)
	}

	select {
	case err := <-served:
		stopQueue()
		return fmt.Errorf("serving HTTP: %w", err)
	case <-ctx.Done():
	}
	logger.Info("shutting down", slog.String("grace", shutdownTimeout.String()))
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	err = hs.Shutdown(sctx)
	stopQueue()
	if err != nil {
		return fmt.Errorf("graceful shutdown: %w", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving HTTP: %w", err)
	}
	logger.Info("stopped")
	return nil
}

// riverDriver returns River's driver over db's connection pool. On
// PostgreSQL it listens for new jobs through a one-connection pgx pool of
// its own, which the returned function closes.
func riverDriver(ctx context.Context, db *store.DB) (riverdriver.Driver[*sql.Tx], func(), error) {
	if db.Dialect() != store.Postgres {
		return riversqlite.New(db.SQL()), func() {}, nil
	}
	cfg, err := pgxpool.ParseConfig(os.Getenv(databaseURLEnv))
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", databaseURLEnv, err)
	}
	cfg.MinConns, cfg.MaxConns = 0, 1
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("connecting the job listener: %w", err)
	}
	return riverdatabasesql.NewWithPgxListener(db.SQL(), pool), pool.Close, nil
}

// splitList splits a comma-separated list, dropping blanks.
func splitList(s string) []string {
	var out []string
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
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
