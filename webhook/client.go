package webhook

import (
	"bytes"
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
	"strings"
	"time"
	"unicode/utf8"
)

const (
	defaultTimeout     = 10 * time.Second
	defaultMaxResponse = 4096
	maxURLLength       = 2048
	maxResponseHeader  = 64 << 10
	// drainLimit is how much of a response beyond MaxResponse is read and discarded: a body
	// that ends within it leaves the connection reusable; a longer one is cut off.
	drainLimit = 16 << 10
	// maxLocationInError keeps a receiver's Location header from bloating a stored error.
	maxLocationInError = 256
)

// Options configure a Client. Zero values mean the defaults.
type Options struct {
	// Timeout bounds a whole attempt: connecting, sending, and reading the response.
	// Default 10 s.
	Timeout time.Duration
	// MaxResponse is how many bytes of the response body are kept in Attempt.Response.
	// Default 4096.
	MaxResponse int
	// AllowHTTPLoopback is for development: plain http is allowed, and only to loopback
	// addresses, which are then allowed over https too.
	AllowHTTPLoopback bool
	// AllowPrivate allows private (RFC 1918, fc00::/7), loopback and shared (CGNAT,
	// 100.64.0.0/10) addresses, for receivers inside the operator's network.
	AllowPrivate bool
}

// Client sends delivery attempts. It is safe for concurrent use and keeps connections alive
// between attempts to the same receiver.
type Client struct {
	http              *http.Client
	timeout           time.Duration
	maxResponse       int
	allowHTTPLoopback bool
	allowPrivate      bool
}

// plainHTTPKey marks a request's context when it goes over plain http, so the dialer can hold
// it to loopback addresses whatever the host name resolves to. The transport keeps the request
// context's values when it dials.
type plainHTTPKey struct{}

// NewClient returns a Client configured by o.
func NewClient(o Options) *Client {
	c := &Client{
		timeout:           o.Timeout,
		maxResponse:       o.MaxResponse,
		allowHTTPLoopback: o.AllowHTTPLoopback,
		allowPrivate:      o.AllowPrivate,
	}
	if c.timeout <= 0 {
		c.timeout = defaultTimeout
	}
	if c.maxResponse <= 0 {
		c.maxResponse = defaultMaxResponse
	}
	tlsDialer := &net.Dialer{Timeout: c.timeout, Control: c.control(false)}
	plainDialer := &net.Dialer{Timeout: c.timeout, Control: c.control(true)}
	t := &http.Transport{
		Proxy: nil, // a proxy would connect for us, past the address check
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if ctx.Value(plainHTTPKey{}) != nil {
				return plainDialer.DialContext(ctx, network, addr)
			}
			return tlsDialer.DialContext(ctx, network, addr)
		},
		TLSClientConfig:        &tls.Config{MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:    c.timeout,
		ForceAttemptHTTP2:      true,
		MaxResponseHeaderBytes: maxResponseHeader,
		// Responses are kept as text for people to read; asking for gzip would only add work.
		DisableCompression: true,
		// The dispatcher aims at 1,000 deliveries a second to one fast receiver: keep enough
		// connections to it open rather than dialling (and handshaking) for each.
		MaxIdleConns:        1024,
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     90 * time.Second,
	}
	c.http = &http.Client{
		Transport: t,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	return c
}

// CheckURL validates a subscription's client_url when it is created or changed, and Send
// checks it again before every attempt. The URL must be absolute with a host, use https (or
// http to localhost or a loopback address when the client allows http loopback), carry no
// user name, password or fragment, and be at most 2048 characters. A host written as an IP
// address must pass the address rules Send applies when it connects. Errors are sentences for
// the person who entered the URL.
func (c *Client) CheckURL(raw string) error {
	_, err := c.parseURL(raw)
	return err
}

func (c *Client) parseURL(raw string) (*url.URL, error) {
	if len(raw) > maxURLLength {
		return nil, fmt.Errorf("The client URL is %d characters long; it can be at most %d.", len(raw), maxURLLength)
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Opaque != "" {
		return nil, errors.New("The client URL must be an absolute URL such as https://hooks.example.com/latchkey.")
	}
	if u.User != nil {
		return nil, errors.New("The client URL must not contain a user name or password.")
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return nil, errors.New("The client URL must not contain a fragment (#…): it is never sent to the receiver.")
	}
	host := u.Hostname()
	if host == "" {
		return nil, errors.New("The client URL must name a host, such as https://hooks.example.com/latchkey.")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return nil, errors.New("The client URL's port must be a number from 1 to 65535.")
		}
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !c.allowHTTPLoopback {
			return nil, errors.New("The client URL must use https.")
		}
		if !loopbackHost(host) {
			return nil, errors.New("The client URL must use https; plain http is allowed only to localhost or a loopback address such as 127.0.0.1.")
		}
	default:
		return nil, errors.New("The client URL must use https.")
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		if err := c.checkAddr(ip); err != nil {
			var r *refusedError
			errors.As(err, &r)
			return nil, fmt.Errorf("The client URL points at %s: %s.", r.ip, r.reason)
		}
	}
	return u, nil
}

// loopbackHost reports whether an http URL's host is one plain http may go to.
func loopbackHost(host string) bool {
	if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// Attempt is the outcome of one try at delivering.
type Attempt struct {
	// Status is the response's HTTP status, 0 when there was no response.
	Status int
	// Response holds the first MaxResponse bytes of the response body as valid UTF-8: cut at
	// a rune boundary, with invalid bytes replaced by U+FFFD.
	Response string
	// Error says why the attempt failed, "" on a 2xx. It never contains a secret.
	Error string
	// Duration is how long the attempt took, response body included.
	Duration time.Duration
}

// OK reports whether the receiver accepted the delivery with a 2xx status.
func (a Attempt) OK() bool { return a.Status >= 200 && a.Status <= 299 }

// errAttemptTimeout is the cause of an attempt's context ending at Options.Timeout, to tell
// that apart from the caller cancelling.
var errAttemptTimeout = errors.New("attempt timed out")

// Send POSTs body to rawURL with headers (from Sign), once. It never follows a redirect (a 3xx
// is a failure), never uses a proxy, and connects only to addresses that pass the address
// rules, checked on the address being dialled, after DNS; see checkAddr. The whole attempt ends
// within Options.Timeout. At most Options.MaxResponse bytes of the response body are kept and
// at most 16 KiB more read (and discarded, so a connection can be reused); a longer body is cut
// off by closing the connection.
//
// The request is marked replayable (a nil Idempotency-Key, which is not sent): when a kept-alive
// connection turns out to be dead before the request was written, the transport may retry it on
// a fresh one. Receivers deduplicate by webhook-id, as Standard Webhooks asks.
func (c *Client) Send(ctx context.Context, rawURL string, headers http.Header, body []byte) Attempt {
	start := time.Now()
	a := c.send(ctx, rawURL, headers, body)
	a.Duration = time.Since(start)
	return a
}

func (c *Client) send(ctx context.Context, rawURL string, headers http.Header, body []byte) Attempt {
	u, err := c.parseURL(rawURL)
	if err != nil {
		return Attempt{Error: err.Error()}
	}
	ctx, cancel := context.WithTimeoutCause(ctx, c.timeout, errAttemptTimeout)
	defer cancel()
	if u.Scheme == "http" {
		ctx = context.WithValue(ctx, plainHTTPKey{}, true)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, rawURL, bytes.NewReader(body))
	if err != nil {
		return Attempt{Error: "cannot build the request: " + err.Error()}
	}
	req.Header = headers.Clone()
	if req.Header == nil {
		req.Header = http.Header{}
	}
	if _, ok := req.Header["Idempotency-Key"]; !ok {
		req.Header["Idempotency-Key"] = nil
	}

	resp, err := c.http.Do(req)
	if err != nil {
		return Attempt{Error: c.describe(ctx, err)}
	}
	defer resp.Body.Close()
	a := Attempt{Status: resp.StatusCode, Response: c.readResponse(resp.Body)}
	switch code := resp.StatusCode; {
	case a.OK():
	case code >= 300 && code <= 399:
		a.Error = fmt.Sprintf("the receiver answered %d %s: redirect to %s not followed",
			code, http.StatusText(code), quoteLocation(resp.Header.Get("Location")))
	default:
		a.Error = fmt.Sprintf("the receiver answered %d %s", code, http.StatusText(code))
	}
	return a
}

// describe turns a failed round trip into a sentence without the URL (which the reader knows)
// or Go's wrapping.
func (c *Client) describe(ctx context.Context, err error) string {
	var refused *refusedError
	switch {
	case errors.As(err, &refused):
		return refused.Error()
	case context.Cause(ctx) == errAttemptTimeout:
		return fmt.Sprintf("no response within %v", c.timeout)
	case ctx.Err() != nil:
		return "attempt stopped: " + context.Cause(ctx).Error()
	}
	// Name the host, not the resolver latchkey asked: that address is the operator's business.
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return fmt.Sprintf("cannot resolve %s: %s", dnsErr.Name, dnsErr.Err)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return err.Error()
}

// readResponse keeps the first maxResponse bytes of body, then reads and discards at most
// drainLimit more, so memory stays bounded whatever the receiver sends.
func (c *Client) readResponse(body io.Reader) string {
	kept, _ := io.ReadAll(io.LimitReader(body, int64(c.maxResponse)))
	more, _ := io.CopyN(io.Discard, body, drainLimit)
	return clipUTF8(kept, c.maxResponse, more > 0)
}

// clipUTF8 returns b as valid UTF-8 of at most max bytes. When the body went on beyond b
// (truncated), a rune cut in half at the end is dropped rather than replaced.
func clipUTF8(b []byte, max int, truncated bool) string {
	if truncated {
		for i := len(b) - 1; i >= 0 && i > len(b)-utf8.UTFMax; i-- {
			if utf8.RuneStart(b[i]) {
				if !utf8.FullRune(b[i:]) {
					b = b[:i]
				}
				break
			}
		}
	}
	s := strings.ToValidUTF8(string(b), "\uFFFD")
	if len(s) > max { // a replacement character is longer than the byte it replaced
		i := max
		for i > 0 && !utf8.RuneStart(s[i]) {
			i--
		}
		s = s[:i]
	}
	return s
}

func quoteLocation(loc string) string {
	if loc == "" {
		return "(no Location header)"
	}
	if len(loc) > maxLocationInError {
		loc = strings.ToValidUTF8(loc[:maxLocationInError], "") + "…"
	}
	return strconv.Quote(loc)
}
