package imagein

import "net/http"

// Transport returns the Fetcher's HTTP transport, which connects only to
// destinations the Fetcher may fetch from: public addresses and the
// allowlist, checked on every resolved address and again on the socket
// just before it connects. It is for other outbound requests that must
// obey the same SSRF guard (webhook deliveries); the caller decides about
// redirects, which the transport does not follow.
func (f *Fetcher) Transport() http.RoundTripper { return f.client.Transport }

// CheckURL refuses URLs that must never be requested: schemes other than
// http and https, credentials, numeric hosts in non-canonical form, and IP
// literals that are internal and not allowed. Host names are checked when
// the transport resolves them. Errors are *biometric.Error values with the
// codes image_url_invalid and image_url_blocked.
func (f *Fetcher) CheckURL(rawURL string) error {
	_, err := f.checkURL(rawURL)
	return err
}
