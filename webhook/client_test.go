package webhook

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestCheckURL(t *testing.T) {
	dev := Options{AllowHTTPLoopback: true}
	private := Options{AllowPrivate: true}
	tests := []struct {
		opts Options
		url  string
		ok   bool
	}{
		{Options{}, "https://hooks.example.com/latchkey", true},
		{Options{}, "https://hooks.example.com:8443/a?b=c", true},
		{Options{}, "HTTPS://hooks.example.com/", true},
		{Options{}, "https://93.184.215.14/hook", true},
		{Options{}, "https://[2606:4700::1]/hook", true},
		{Options{}, "https://localhost/hook", true}, // a name: judged when connecting

		{Options{}, "http://hooks.example.com/latchkey", false},
		{dev, "http://hooks.example.com/latchkey", false},
		{Options{}, "http://127.0.0.1:8080/hook", false},
		{dev, "http://127.0.0.1:8080/hook", true},
		{dev, "http://localhost:8080/hook", true},
		{dev, "http://[::1]:8080/hook", true},
		{dev, "http://10.0.0.1/hook", false},
		{private, "http://10.0.0.1/hook", false},

		{Options{}, "https://user:pass@hooks.example.com/", false},
		{Options{}, "https://user@hooks.example.com/", false},
		{Options{}, "https://hooks.example.com/#frag", false},
		{Options{}, "https://hooks.example.com/#", false},

		{Options{}, "https://169.254.169.254/latest/meta-data", false},
		{dev, "https://169.254.169.254/", false},
		{private, "https://169.254.169.254/", false},
		{private, "https://[::ffff:169.254.169.254]/", false},
		{private, "https://[64:ff9b::a9fe:a9fe]/", false},
		{private, "https://[fe80::1%25eth0]/", false},
		{private, "https://100.100.100.200/", false},
		{private, "https://[fd00:ec2::254]/", false},
		{private, "https://0.0.0.0/", false},
		{private, "https://0.1.2.3/", false},
		{private, "https://[::]/", false},
		{private, "https://224.0.0.1/", false},
		{private, "https://255.255.255.255/", false},

		{Options{}, "https://10.0.0.1/hook", false},
		{dev, "https://10.0.0.1/hook", false},
		{private, "https://10.0.0.1/hook", true},
		{Options{}, "https://192.168.1.10/", false},
		{Options{}, "https://[fd12::1]/", false},
		{Options{}, "https://100.64.0.1/", false},
		{private, "https://100.64.0.1/", true},
		{Options{}, "https://127.0.0.1/", false},
		{Options{}, "https://[::ffff:127.0.0.1]/", false},
		{dev, "https://127.0.0.1/", true},
		{private, "https://127.0.0.1/", true},

		{Options{}, "https://hooks.example.com/" + strings.Repeat("a", 2048), false},
		{Options{}, "https://hooks.example.com/" + strings.Repeat("a", 2048-len("https://hooks.example.com/")), true},
		{Options{}, "", false},
		{Options{}, "not a url", false},
		{Options{}, "::::", false},
		{Options{}, "https://exa mple.com/", false},
		{Options{}, "https://hooks.example.com/\x00", false},
		{Options{}, "/relative/path", false},
		{Options{}, "hooks.example.com/latchkey", false},
		{Options{}, "//hooks.example.com/latchkey", false},
		{Options{}, "https:///path", false},
		{Options{}, "https://:443/", false},
		{Options{}, "https:hooks.example.com", false},
		{Options{}, "https://hooks.example.com:0/", false},
		{Options{}, "https://hooks.example.com:70000/", false},
		{Options{}, "ftp://hooks.example.com/", false},
		{Options{}, "javascript:alert(1)", false},
	}
	for _, tt := range tests {
		err := NewClient(tt.opts).CheckURL(tt.url)
		if (err == nil) != tt.ok {
			want := "nil"
			if !tt.ok {
				want = "an error"
			}
			t.Errorf("CheckURL(%q) with %+v = %v, want %s", tt.url, tt.opts, err, want)
			continue
		}
		if err != nil && (!strings.HasPrefix(err.Error(), "The client URL") || !strings.HasSuffix(err.Error(), ".")) {
			t.Errorf("CheckURL(%q) = %q, want a sentence about the client URL", tt.url, err)
		}
	}
}

func TestClassify(t *testing.T) {
	tests := []struct {
		ip     string
		kind   string
		always bool
	}{
		{"93.184.215.14", "", false},
		{"2606:4700::1", "", false},
		{"169.254.169.254", "link-local", true},
		{"::ffff:169.254.169.254", "link-local", true},
		{"fe80::1", "link-local", true},
		{"fe80::1%eth0", "link-local", true},
		{"100.100.100.200", "cloud metadata", true},
		{"fd00:ec2::254", "cloud metadata", true},
		{"0.0.0.0", "unspecified", true},
		{"::", "unspecified", true},
		{"0.255.0.1", "this-network (0.0.0.0/8)", true},
		{"255.255.255.255", "broadcast", true},
		{"240.0.0.1", "reserved (240.0.0.0/4)", true},
		{"224.0.0.251", "link-local", true},
		{"239.1.1.1", "multicast", true},
		{"ff02::1", "link-local", true},
		{"ff0e::1", "multicast", true},
		{"64:ff9b::a9fe:a9fe", "link-local", true},
		{"64:ff9b::5db8:d70e", "", false},
		{"127.0.0.1", "loopback", false},
		{"127.255.0.1", "loopback", false},
		{"::1", "loopback", false},
		{"::ffff:127.0.0.1", "loopback", false},
		{"10.1.2.3", "private", false},
		{"172.16.0.1", "private", false},
		{"192.168.0.1", "private", false},
		{"fd12:3456::1", "private", false},
		{"100.64.0.1", "shared (CGNAT)", false},
		{"100.127.255.255", "shared (CGNAT)", false},
		{"100.128.0.1", "", false},
		{"::a9fe:a9fe", "link-local", true}, // IPv4-compatible 169.254.169.254
		{"::7f00:1", "loopback", false},     // IPv4-compatible 127.0.0.1
		{"2002:a9fe:a9fe::1", "link-local", true},
		{"2002:0a00:0001::1", "private", false},
		{"2002:5db8:d70e::1", "", false},
		{"64:ff9b:1::a00:1", "private", false},
		{"fec0::1", "private", false},
		{"100::1", "discard-only (100::/64)", true},
	}
	for _, tt := range tests {
		kind, always := classify(netip.MustParseAddr(tt.ip))
		if kind != tt.kind || always != tt.always {
			t.Errorf("classify(%s) = %q, %v; want %q, %v", tt.ip, kind, always, tt.kind, tt.always)
		}
	}
}

func TestClipUTF8(t *testing.T) {
	tests := []struct {
		in        string
		max       int
		truncated bool
		want      string
	}{
		{"hello", 10, false, "hello"},
		{"héé", 4, true, "hé"},         // "é" cut in half is dropped
		{"h\xc3", 2, true, "h"},        // the same, as bytes
		{"h\xc3", 4, false, "h\uFFFD"}, // a body that really ends mid-rune
		{"\xff\xfeok", 10, false, "\uFFFDok"},
		{"a\xffb", 5, false, "a\uFFFDb"},
		{"a\xffb", 3, false, "a"}, // the replacement is longer than the byte and does not fit
		{"\xe2\x82", 2, true, ""},
		{"€€", 6, false, "€€"},
	}
	for _, tt := range tests {
		if got := clipUTF8([]byte(tt.in), tt.max, tt.truncated); got != tt.want {
			t.Errorf("clipUTF8(%q, %d, %v) = %q, want %q", tt.in, tt.max, tt.truncated, got, tt.want)
		}
	}
}

// receiver starts a real HTTP server on 127.0.0.1 and counts the requests it handled.
func receiver(t *testing.T, h http.HandlerFunc) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		h(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

func signed(t testing.TB, secret string, body []byte) http.Header {
	t.Helper()
	h, err := Sign("msg_test", time.Now(), body, secret)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	return h
}

func TestSendOK(t *testing.T) {
	secret := NewSecret()
	body := []byte(`{"type":"token.created"}`)
	srv, hits := receiver(t, func(w http.ResponseWriter, r *http.Request) {
		got, _ := io.ReadAll(r.Body)
		if err := Verify(secret, r.Header, got, time.Now()); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		if _, ok := r.Header["Idempotency-Key"]; ok {
			http.Error(w, "Idempotency-Key was sent", http.StatusBadRequest)
			return
		}
		w.Write([]byte("thanks"))
	})
	c := NewClient(Options{AllowHTTPLoopback: true})
	a := c.Send(context.Background(), srv.URL+"/hook", signed(t, secret, body), body)
	if !a.OK() || a.Status != http.StatusOK || a.Response != "thanks" || a.Error != "" || a.Duration <= 0 {
		t.Errorf("Send(2xx receiver) = %+v, want OK with status 200, response %q", a, "thanks")
	}
	if hits.Load() != 1 {
		t.Errorf("Send(2xx receiver) reached the receiver %d times, want 1", hits.Load())
	}
}

func TestSendServerError(t *testing.T) {
	srv, _ := receiver(t, func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "boom", http.StatusInternalServerError)
	})
	c := NewClient(Options{AllowHTTPLoopback: true})
	a := c.Send(context.Background(), srv.URL, signed(t, NewSecret(), []byte("{}")), []byte("{}"))
	if a.OK() || a.Status != 500 || a.Response != "boom\n" || !strings.Contains(a.Error, "500 Internal Server Error") {
		t.Errorf("Send(500 receiver) = %+v, want a failure with status 500 and response %q", a, "boom\n")
	}
}

func TestSendRedirectNotFollowed(t *testing.T) {
	target, targetHits := receiver(t, func(w http.ResponseWriter, r *http.Request) {})
	srv, _ := receiver(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL+"/elsewhere", http.StatusFound)
	})
	c := NewClient(Options{AllowHTTPLoopback: true})
	a := c.Send(context.Background(), srv.URL, signed(t, NewSecret(), []byte("{}")), []byte("{}"))
	if a.OK() || a.Status != http.StatusFound || !strings.Contains(a.Error, "redirect to \""+target.URL+"/elsewhere\" not followed") {
		t.Errorf("Send(302 receiver) = %+v, want a failure naming the redirect not followed", a)
	}
	if n := targetHits.Load(); n != 0 {
		t.Errorf("Send(302 receiver) reached the redirect target %d times, want 0", n)
	}
}

func TestSendHangingReceiver(t *testing.T) {
	release := make(chan struct{})
	srv, _ := receiver(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	t.Cleanup(func() { close(release) }) // runs before srv.Close, which waits for the handler
	c := NewClient(Options{AllowHTTPLoopback: true, Timeout: 300 * time.Millisecond})
	start := time.Now()
	a := c.Send(context.Background(), srv.URL, signed(t, NewSecret(), []byte("{}")), []byte("{}"))
	if a.OK() || a.Status != 0 || a.Error != "no response within 300ms" {
		t.Errorf("Send(hanging receiver) = %+v, want no status and error %q", a, "no response within 300ms")
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Send(hanging receiver) took %v, want it bounded by the 300ms timeout", d)
	}
}

// A receiver that streams 100 MiB is cut off after the first MaxResponse bytes (and the small
// drain): the client neither buffers nor reads the rest.
func TestSendHugeResponse(t *testing.T) {
	const huge = 100 << 20
	var written atomic.Int64
	done := make(chan error, 1)
	srv, _ := receiver(t, func(w http.ResponseWriter, r *http.Request) {
		chunk := []byte(strings.Repeat("x", 32<<10))
		for written.Load() < huge {
			n, err := w.Write(chunk)
			written.Add(int64(n))
			if err != nil {
				done <- err
				return
			}
		}
		done <- nil
	})
	c := NewClient(Options{AllowHTTPLoopback: true})
	h := signed(t, NewSecret(), []byte("{}"))

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	a := c.Send(context.Background(), srv.URL, h, []byte("{}"))
	runtime.ReadMemStats(&after)

	if !a.OK() || len(a.Response) != 4096 || a.Response != strings.Repeat("x", 4096) {
		t.Errorf("Send(100 MiB receiver) = status %d, %d bytes of response, error %q; want 200 with 4096 bytes", a.Status, len(a.Response), a.Error)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 32<<20 {
		t.Errorf("Send(100 MiB receiver) allocated %d MiB, want well under 100 MiB", grew>>20)
	}
	t.Logf("Send(100 MiB receiver) allocated %d KiB", (after.TotalAlloc-before.TotalAlloc)>>10)
	select {
	case err := <-done:
		t.Logf("the receiver wrote %d KiB before: %v", written.Load()>>10, err)
		if err == nil {
			t.Errorf("Send(100 MiB receiver): the receiver wrote all %d bytes, want it cut off", written.Load())
		}
	case <-time.After(10 * time.Second):
		t.Errorf("Send(100 MiB receiver): the receiver is still writing after 10 s (%d bytes), want it cut off", written.Load())
	}
}

func TestSendRefusesAddresses(t *testing.T) {
	var hits atomic.Int64
	tlsSrv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	t.Cleanup(tlsSrv.Close)
	plain, plainHits := receiver(t, func(w http.ResponseWriter, r *http.Request) {})
	_, tlsPort, _ := net.SplitHostPort(tlsSrv.Listener.Addr().String())
	_, plainPort, _ := net.SplitHostPort(plain.Listener.Addr().String())

	tests := []struct {
		name string
		opts Options
		url  string
		want string // in Attempt.Error
	}{
		{"loopback literal, https", Options{}, tlsSrv.URL, "127.0.0.1: loopback addresses are webhook targets only when"},
		{"loopback literal, http", Options{}, plain.URL, "must use https"},
		// The host is a name, so the URL passes CheckURL: only the check on the dialled address
		// (after DNS) stops it, as it stops a name rebound to an internal address.
		{"localhost resolved when connecting", Options{}, "https://localhost:" + tlsPort + "/", "refused to connect: loopback"},
		{"metadata even with AllowPrivate", Options{AllowPrivate: true}, "https://169.254.169.254:" + tlsPort + "/", "link-local addresses are never webhook targets"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := NewClient(tt.opts)
			a := c.Send(context.Background(), tt.url, signed(t, NewSecret(), []byte("{}")), []byte("{}"))
			if a.OK() || a.Status != 0 || !strings.Contains(a.Error, tt.want) {
				t.Errorf("Send(%s) = %+v, want a refusal containing %q", tt.url, a, tt.want)
			}
			if strings.Contains(tt.url, "localhost") && (strings.Contains(a.Error, "127.0.0.1") || strings.Contains(a.Error, "::1")) {
				t.Errorf("Send(%s) error = %q names the address the name resolved to (the operator's business, not the account's)", tt.url, a.Error)
			}
		})
	}
	if n := hits.Load() + plainHits.Load(); n != 0 {
		t.Errorf("refused sends reached a receiver %d times, want 0", n)
	}

	// The same name is reached once loopback is allowed: the refusal above was the address rule.
	c := NewClient(Options{AllowHTTPLoopback: true})
	if a := c.Send(context.Background(), "http://localhost:"+plainPort+"/", nil, []byte("{}")); !a.OK() {
		t.Errorf("Send(http://localhost) with AllowHTTPLoopback = %+v, want OK", a)
	}
}

// The dialer holds plain http to loopback addresses whatever the name resolves to.
func TestControlPlainHTTPOnlyLoopback(t *testing.T) {
	c := NewClient(Options{AllowHTTPLoopback: true, AllowPrivate: true})
	tests := []struct {
		plain bool
		addr  string
		ok    bool
	}{
		{true, "127.0.0.1:80", true},
		{true, "[::1]:80", true},
		{true, "10.0.0.1:80", false},
		{true, "93.184.215.14:80", false},
		{false, "10.0.0.1:443", true},
		{false, "93.184.215.14:443", true},
		{false, "169.254.169.254:443", false},
	}
	for _, tt := range tests {
		err := c.control(tt.plain)("tcp", tt.addr, nil)
		var r *refusedError
		if (err == nil) != tt.ok || (err != nil && !errors.As(err, &r)) {
			t.Errorf("control(plain=%v)(%s) = %v, want ok=%v", tt.plain, tt.addr, err, tt.ok)
		}
	}
}

// Deliveries to one receiver reuse kept-alive connections rather than dialling each time.
func TestSendReusesConnections(t *testing.T) {
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)

	c := NewClient(Options{AllowHTTPLoopback: true})
	body := []byte(`{"type":"token.used"}`)
	h := signed(t, NewSecret(), body)
	const workers, each = 8, 50
	var wg sync.WaitGroup
	var failed atomic.Int64
	for range workers {
		wg.Go(func() {
			for range each {
				if a := c.Send(context.Background(), srv.URL, h, body); !a.OK() {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if n := failed.Load(); n != 0 {
		t.Errorf("Send(%d deliveries) failed %d times, want 0", workers*each, n)
	}
	// A request that finds no idle connection starts a dial and takes whichever comes first, a
	// fresh connection or one freed meanwhile, so a few more than one per worker may open.
	if n := conns.Load(); n > 4*workers {
		t.Errorf("Send(%d deliveries from %d workers) opened %d connections, want at most %d", workers*each, workers, n, 4*workers)
	}
}

func TestSendCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	c := NewClient(Options{AllowHTTPLoopback: true})
	srv, hits := receiver(t, func(w http.ResponseWriter, r *http.Request) {})
	a := c.Send(ctx, srv.URL, nil, []byte("{}"))
	if a.OK() || !strings.Contains(a.Error, "canceled") {
		t.Errorf("Send(canceled context) = %+v, want a failure saying it was canceled", a)
	}
	if hits.Load() != 0 {
		t.Errorf("Send(canceled context) reached the receiver %d times, want 0", hits.Load())
	}
}

func TestNoProxy(t *testing.T) {
	t.Setenv("HTTPS_PROXY", "http://proxy.example.com:3128")
	t.Setenv("HTTP_PROXY", "http://proxy.example.com:3128")
	c := NewClient(Options{})
	if p := c.http.Transport.(*http.Transport).Proxy; p != nil {
		t.Errorf("NewClient(proxy in environment).Transport.Proxy = %p, want nil", p)
	}
}

func TestDescribeDNSError(t *testing.T) {
	c := NewClient(Options{})
	err := &url.Error{Op: "Post", URL: "https://hooks.example.com/", Err: &net.OpError{Op: "dial", Net: "tcp",
		Err: &net.DNSError{Err: "no such host", Name: "hooks.example.com", Server: "10.255.255.53:53", IsNotFound: true}}}
	if got, want := c.describe(context.Background(), err), "cannot resolve hooks.example.com: no such host"; got != want {
		t.Errorf("describe(DNS error) = %q, want %q (without latchkey's resolver)", got, want)
	}
}

// BenchmarkSend measures deliveries a second to one fast receiver over loopback (the
// dispatcher aims at 1,000/s): go test -bench Send ./webhook/
func BenchmarkSend(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	c := NewClient(Options{AllowHTTPLoopback: true})
	body := []byte(`{"type":"token.used","data":{"token_id":42}}`)
	secret := NewSecret()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			h, err := Sign("msg_bench", time.Now(), body, secret)
			if err != nil {
				b.Fatal(err)
			}
			if a := c.Send(context.Background(), srv.URL, h, body); !a.OK() {
				b.Fatalf("Send = %+v", a)
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "deliveries/s")
}
