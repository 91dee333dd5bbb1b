// Package smtptest runs an in-process SMTP server (github.com/emersion/go-smtp) on loopback that
// records what it receives. Only tests import it; the binary sends with net/smtp.
package smtptest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Message is one received email.
type Message struct {
	From, To string
	// TLS tells whether the message came over TLS (STARTTLS or implicit).
	TLS bool
	// User is who authenticated ("" for nobody).
	User string
	Raw  []byte
	// Subject is decoded; Text and HTML are the decoded parts of a multipart/alternative body.
	Subject    string
	Text, HTML string
}

// Server is a running test SMTP server.
type Server struct {
	// Addr is host:port on 127.0.0.1.
	Addr string
	// Port is Addr's port.
	Port string
	// RootCAs trusts the server's self-signed certificate (when started WithTLS).
	RootCAs *x509.CertPool

	srv  *smtp.Server
	ln   net.Listener
	mu   sync.Mutex
	msgs []*Message
	// Users are the accepted credentials (user → password); nil accepts none.
	users map[string]string
	fail  bool
}

// Option configures Start.
type Option func(*Server, *smtp.Server)

// WithTLS offers STARTTLS with a self-signed certificate for 127.0.0.1.
func WithTLS() Option {
	return func(s *Server, srv *smtp.Server) {
		cert, pool := selfSigned()
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}}
		s.RootCAs = pool
	}
}

// WithUser accepts AUTH PLAIN as user with password.
func WithUser(user, password string) Option {
	return func(s *Server, _ *smtp.Server) {
		if s.users == nil {
			s.users = map[string]string{}
		}
		s.users[user] = password
	}
}

// Start runs a server on 127.0.0.1 (on addr, when given: "127.0.0.1:port") until the test ends.
func Start(tb testing.TB, addr string, opts ...Option) *Server {
	tb.Helper()
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	s := &Server{}
	srv := smtp.NewServer(backend{s})
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true // AUTH over plain text to loopback: net/smtp allows it to localhost
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	srv.ErrorLog = discard{}
	for _, o := range opts {
		o(s, srv)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	s.srv, s.ln, s.Addr = srv, ln, ln.Addr().String()
	_, s.Port, _ = net.SplitHostPort(s.Addr)
	go srv.Serve(ln)
	tb.Cleanup(s.Close)
	return s
}

// Close stops the server.
func (s *Server) Close() { _ = s.srv.Close() }

// Messages returns what was received so far.
func (s *Server) Messages() []*Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*Message(nil), s.msgs...)
}

// To returns the messages received for one address.
func (s *Server) To(addr string) []*Message {
	var out []*Message
	for _, m := range s.Messages() {
		if m.To == addr {
			out = append(out, m)
		}
	}
	return out
}

// FailData makes the server refuse (or accept again) message bodies with a temporary error.
func (s *Server) FailData(fail bool) {
	s.mu.Lock()
	s.fail = fail
	s.mu.Unlock()
}

type discard struct{}

func (discard) Printf(string, ...any) {}
func (discard) Println(...any)        {}

type backend struct{ s *Server }

func (b backend) NewSession(c *smtp.Conn) (smtp.Session, error) { return &session{s: b.s, c: c}, nil }

type session struct {
	s        *Server
	c        *smtp.Conn
	user     string
	from, to string
}

func (ss *session) AuthMechanisms() []string {
	if ss.s.users == nil {
		return nil
	}
	return []string{sasl.Plain}
}

func (ss *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if want, ok := ss.s.users[user]; !ok || want != pass {
			return errors.New("invalid credentials")
		}
		ss.user = user
		return nil
	}), nil
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	if ss.s.users != nil && ss.user == "" {
		return &smtp.SMTPError{Code: 530, Message: "authentication required"}
	}
	ss.from = from
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error { ss.to = to; return nil }

func (ss *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	ss.s.mu.Lock()
	defer ss.s.mu.Unlock()
	if ss.s.fail {
		return &smtp.SMTPError{Code: 451, Message: "try again later"}
	}
	_, tlsOn := ss.c.TLSConnectionState()
	m := &Message{From: ss.from, To: ss.to, TLS: tlsOn, User: ss.user, Raw: raw}
	parse(m)
	ss.s.msgs = append(ss.s.msgs, m)
	return nil
}

func (ss *session) Reset()        {}
func (ss *session) Logout() error { return nil }

// parse fills Subject, Text and HTML from Raw, as a mail reader would.
func parse(m *Message) {
	msg, err := mail.ReadMessage(bytes.NewReader(m.Raw))
	if err != nil {
		return
	}
	m.Subject, _ = new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
	_, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		return
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextPart() // decodes quoted-printable
		if err != nil {
			return
		}
		b, _ := io.ReadAll(p)
		switch {
		case strings.HasPrefix(p.Header.Get("Content-Type"), "text/plain"):
			m.Text = string(b)
		case strings.HasPrefix(p.Header.Get("Content-Type"), "text/html"):
			m.HTML = string(b)
		}
	}
}

func selfSigned() (tls.Certificate, *x509.CertPool) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "smtptest"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		panic(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

// ImplicitTLS serves the same backend behind TLS from the first byte (smtps) on another port
// until the test ends, and returns that port.
func (s *Server) ImplicitTLS(tb testing.TB) string {
	tb.Helper()
	if s.srv.TLSConfig == nil {
		tb.Fatal("ImplicitTLS needs a server started WithTLS")
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", s.srv.TLSConfig)
	if err != nil {
		tb.Fatal(err)
	}
	srv := smtp.NewServer(backend{s})
	srv.Domain, srv.ErrorLog = "localhost", discard{}
	go srv.Serve(ln)
	tb.Cleanup(func() { _ = srv.Close() })
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}
