package imagein

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"syscall"
	"time"

	"github.com/everify/everify/internal/biometric"
)

// Resolver looks up the addresses of a host name. *net.Resolver implements
// it; tests substitute their own to point names at chosen addresses.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Options configure a [Fetcher]. The zero Options is a safe default: default
// limits, public destinations only, the system resolver and trust store.
type Options struct {
	Limits Limits
	// Allow lists internal destinations that may be fetched anyway; see
	// [ParseAllowlist] for the entry syntax.
	Allow []string
	// Resolver replaces net.DefaultResolver.
	Resolver Resolver
	// TLSConfig replaces the default TLS client configuration, for example
	// to trust a private certificate authority.
	TLSConfig *tls.Config
	// UserAgent is sent with every request; default "everify-imagein/1".
	UserAgent string
}

// Fetcher loads images from URLs, inline base64 and raw bytes. It is safe
// for concurrent use and should be shared: it pools connections.
type Fetcher struct {
	lim      Limits
	allow    Allowlist
	resolver Resolver
	agent    string
	client   *http.Client
}

// NewFetcher builds a Fetcher. It fails only when an allowlist entry cannot
// be parsed.
func NewFetcher(opts Options) (*Fetcher, error) {
	allow, err := ParseAllowlist(opts.Allow)
	if err != nil {
		return nil, err
	}
	f := &Fetcher{
		lim:      opts.Limits.withDefaults(),
		allow:    allow,
		resolver: opts.Resolver,
		agent:    opts.UserAgent,
	}
	if f.resolver == nil {
		f.resolver = net.DefaultResolver
	}
	if f.agent == "" {
		f.agent = "everify-imagein/1"
	}
	transport := &http.Transport{
		Proxy:             nil, // never a proxy from the environment: it would see and decide the destination
		DialContext:       f.dial,
		TLSClientConfig:   opts.TLSConfig,
		ForceAttemptHTTP2: true,
		MaxIdleConns:      32,
		IdleConnTimeout:   60 * time.Second,
	}
	f.client = &http.Client{Transport: transport, CheckRedirect: f.checkRedirect}
	return f, nil
}

// Limits returns the limits the Fetcher applies, defaults filled in.
func (f *Fetcher) Limits() Limits { return f.lim }

// Source is one image as a request gives it: exactly one of URL, Base64 and
// Data is set.
type Source struct {
	URL    string // http or https URL
	Base64 string // base64 text or a data: URL (see DecodeBase64)
	Data   []byte // encoded image bytes, e.g. an uploaded frame
	// Field names the request field the image came from; it is copied onto
	// errors so the client learns which image was at fault.
	Field string
}

// Load fetches or decodes src and returns the upright image. Errors are the
// *biometric.Error values of Fetch, DecodeBase64 and Decode, with Field set
// to src.Field, plus KindInvalid (image_missing, image_ambiguous) when src
// holds no image or more than one.
func (f *Fetcher) Load(ctx context.Context, src Source) (*Image, error) {
	img, err := f.load(ctx, src)
	if err != nil {
		e := biometric.AsError(err)
		if e.Field == "" {
			e.Field = src.Field
		}
		return nil, e
	}
	return img, nil
}

func (f *Fetcher) load(ctx context.Context, src Source) (*Image, error) {
	set := 0
	for _, ok := range []bool{src.URL != "", src.Base64 != "", len(src.Data) > 0} {
		if ok {
			set++
		}
	}
	switch set {
	case 0:
		return nil, biometric.Errorf(biometric.KindInvalid, "image_missing",
			"No image was given; give a URL, base64 data or an upload.")
	case 2, 3:
		return nil, biometric.Errorf(biometric.KindInvalid, "image_ambiguous",
			"More than one image was given for the same field; give exactly one of a URL, base64 data or an upload.")
	}
	data := src.Data
	var err error
	switch {
	case src.URL != "":
		data, err = f.Fetch(ctx, src.URL)
	case src.Base64 != "":
		data, err = DecodeBase64(src.Base64, f.lim)
	}
	if err != nil {
		return nil, err
	}
	return Decode(data, f.lim)
}

// Fetch downloads the body at rawURL, refusing internal destinations, and
// returns it unparsed. Errors are *biometric.Error: KindInvalid for a bad or
// refused URL, KindTooLarge for a body over Limits.MaxBytes, and
// KindUnprocessable when the server cannot be reached, times out or answers
// with a non-2xx status.
func (f *Fetcher) Fetch(ctx context.Context, rawURL string) ([]byte, error) {
	u, err := f.checkURL(rawURL)
	if err != nil {
		return nil, err
	}
	fctx, cancel := context.WithTimeout(ctx, f.lim.FetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(fctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, invalidURL("The image URL could not be parsed.", err)
	}
	req.Header.Set("User-Agent", f.agent)
	req.Header.Set("Accept", "image/jpeg, image/png, image/webp")

	resp, err := f.client.Do(req)
	if err != nil {
		return nil, f.fetchError(ctx, fctx, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, &biometric.Error{Kind: biometric.KindUnprocessable, Code: "image_fetch_failed",
			Message: fmt.Sprintf("The image URL answered HTTP %d %s; give a URL that serves the image.",
				resp.StatusCode, http.StatusText(resp.StatusCode))}
	}
	if resp.ContentLength > f.lim.MaxBytes {
		return nil, tooLarge(resp.ContentLength, f.lim.MaxBytes)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, f.lim.MaxBytes+1))
	if err != nil {
		return nil, f.fetchError(ctx, fctx, err)
	}
	if int64(len(body)) > f.lim.MaxBytes {
		return nil, tooLarge(-1, f.lim.MaxBytes)
	}
	return body, nil
}

// checkURL parses rawURL and refuses what must never be fetched: schemes
// other than http and https, credentials, numeric hosts in non-canonical
// form, and IP literals that are internal and not allowed.
func (f *Fetcher) checkURL(rawURL string) (*url.URL, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, invalidURL("The image URL could not be parsed; give an absolute http or https URL.", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, invalidURL("The image URL must use http or https.", fmt.Errorf("scheme %q", u.Scheme))
	}
	if u.User != nil {
		return nil, invalidURL("The image URL must not contain a user name or password.", nil)
	}
	host := u.Hostname()
	if host == "" {
		return nil, invalidURL("The image URL has no host.", nil)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return nil, invalidURL("The image URL's port must be a number from 1 to 65535.", nil)
		}
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if ip.Zone() != "" {
			return nil, invalidURL("The image URL must not contain an IPv6 zone.", nil)
		}
		if err := f.checkIP(ip, false); err != nil {
			return nil, err
		}
	} else if numericHost(host) && !canonicalIPv4(host) {
		return nil, invalidURL("The image URL's host is a number in a non-standard form (decimal, octal, hexadecimal or shortened); write IPv4 addresses as four decimal parts, such as 203.0.113.7.",
			fmt.Errorf("host %q", host))
	}
	return u, nil
}

// checkRedirect applies checkURL and the redirect limit to every redirect.
func (f *Fetcher) checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) > f.lim.MaxRedirects {
		return &biometric.Error{Kind: biometric.KindUnprocessable, Code: "image_fetch_failed",
			Message: fmt.Sprintf("The image URL redirected more than %d times; give the final URL of the image.", f.lim.MaxRedirects)}
	}
	_, err := f.checkURL(req.URL.String())
	return err
}

// checkIP refuses ip unless it is public or allowed. hostAllowed is true
// when the URL's host name is on the allowlist, which opens any address it
// resolves to except those no allowlist can open.
func (f *Fetcher) checkIP(ip netip.Addr, hostAllowed bool) error {
	reason := blockedReason(ip)
	if reason == "" || !neverAllowed(ip) && (hostAllowed || f.allow.allowsIP(ip)) {
		return nil
	}
	return &biometric.Error{Kind: biometric.KindInvalid, Code: "image_url_blocked",
		Message: "The image URL leads to an internal or reserved network address, and such addresses are refused; give a public URL, or ask the operator to add the host to everify's image URL allowlist.",
		Err:     fmt.Errorf("destination %s is %s", ip, reason)}
}

// dial is the Transport's DialContext. It resolves the host itself, refuses
// the connection if any address is blocked (a name that mixes public and
// internal addresses is hostile), and dials the checked addresses with a
// dialer whose Control hook checks the socket's actual peer address again.
func (f *Fetcher) dial(ctx context.Context, network, address string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, err
	}
	hostAllowed := f.allow.allowsHost(host)
	var addrs []netip.Addr
	if ip, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{ip}
	} else {
		addrs, err = f.resolver.LookupNetIP(ctx, "ip", host)
		if err != nil {
			return nil, err
		}
		if len(addrs) == 0 {
			return nil, &net.DNSError{Err: "no addresses", Name: host, IsNotFound: true}
		}
	}
	for _, ip := range addrs {
		if err := f.checkIP(ip, hostAllowed); err != nil {
			return nil, err
		}
	}
	d := net.Dialer{
		ControlContext: func(_ context.Context, _, address string, _ syscall.RawConn) error {
			return f.checkPeer(address, hostAllowed)
		},
	}
	var firstErr error
	for _, ip := range addrs {
		conn, err := d.DialContext(ctx, network, net.JoinHostPort(ip.String(), port))
		if err == nil {
			return conn, nil
		}
		if firstErr == nil {
			firstErr = err
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, firstErr
}

// checkPeer is the last line of defence: it runs on the socket just before
// connect(2), with the numeric address the kernel is about to reach.
func (f *Fetcher) checkPeer(address string, hostAllowed bool) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("imagein: unexpected dial address %q: %w", address, err)
	}
	return f.checkIP(ap.Addr(), hostAllowed)
}

// fetchError turns a transport error into a client-safe error. parent is the
// caller's context and fctx the fetch's own, which carries the timeout.
func (f *Fetcher) fetchError(parent, fctx context.Context, err error) error {
	var be *biometric.Error
	if errors.As(err, &be) {
		return be
	}
	var dnsErr *net.DNSError
	var netErr net.Error
	switch {
	case errors.Is(parent.Err(), context.Canceled):
		return &biometric.Error{Kind: biometric.KindUnprocessable, Code: "image_fetch_failed",
			Message: "The image fetch was cancelled.", Err: err}
	case fctx.Err() != nil, errors.Is(err, context.DeadlineExceeded), errors.As(err, &netErr) && netErr.Timeout():
		return &biometric.Error{Kind: biometric.KindUnprocessable, Code: "image_fetch_timeout",
			Message: fmt.Sprintf("The image URL did not deliver the image within %s; give a faster or smaller source.", f.lim.FetchTimeout),
			Err:     err}
	case errors.As(err, &dnsErr):
		return &biometric.Error{Kind: biometric.KindUnprocessable, Code: "image_fetch_failed",
			Message: "The image URL's host name could not be resolved; check the URL.", Err: err}
	}
	return &biometric.Error{Kind: biometric.KindUnprocessable, Code: "image_fetch_failed",
		Message: "The image could not be downloaded from the URL (connection or protocol failure); check that the URL is reachable.",
		Err:     err}
}

func invalidURL(msg string, err error) *biometric.Error {
	return &biometric.Error{Kind: biometric.KindInvalid, Code: "image_url_invalid", Message: msg, Err: err}
}

// tooLarge reports an image over the byte limit; size is -1 when unknown.
func tooLarge(size, limit int64) *biometric.Error {
	msg := fmt.Sprintf("The image is larger than the %s limit; send a smaller image.", byteSize(limit))
	if size >= 0 {
		msg = fmt.Sprintf("The image is %s, over the %s limit; send a smaller image.", byteSize(size), byteSize(limit))
	}
	return &biometric.Error{Kind: biometric.KindTooLarge, Code: "image_too_large", Message: msg}
}

// byteSize formats n for people: "10.0 MiB", "2.9 KiB", "512 bytes".
func byteSize(n int64) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}
