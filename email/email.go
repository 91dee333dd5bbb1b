// Package email sends latchkey's email notices over SMTP (the standard library's net/smtp) and
// renders them, plain text and HTML, from the embedded templates.
package email

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"net/url"
	"strings"
	"time"
)

// Message is one email to one recipient.
type Message struct {
	To      string
	Subject string
	Text    string
	HTML    string
}

// Options tune a Sender. Zero values take the defaults.
type Options struct {
	// RootCAs are the authorities the server's certificate must chain to (default: the
	// system's); for a private CA, and for tests.
	RootCAs *x509.CertPool
	// Timeout bounds one Send (default 30 s).
	Timeout time.Duration
	// HelloName is the name given in EHLO (default "localhost").
	HelloName string
}

// Sender sends messages through one SMTP server, described by a URL:
//
//	smtp://user:pass@host:587?from=latchkey@example.com   STARTTLS (required unless host is loopback)
//	smtps://user:pass@host:465?from=…                     TLS from the first byte
//	smtp+insecure://127.0.0.1:25?from=…                   no TLS; loopback only
//
// On loopback, smtp:// upgrades with STARTTLS when the server offers it; starttls=required in
// the query insists. Credentials are sent (AUTH PLAIN) only over TLS or to localhost.
type Sender struct {
	implicitTLS bool
	requireTLS  bool
	host, addr  string
	user, pass  string
	from        *mail.Address
	opt         Options
	redacted    string
}

// Redact returns rawURL with its password replaced by "xxxxx", for logs and errors.
func Redact(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "(unparsable SMTP URL)"
	}
	return u.Redacted()
}

// New returns a Sender for rawURL. Its errors never hold the password.
func New(rawURL string, opt Options) (*Sender, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // url.Error repeats the whole URL, password included
		}
		return nil, fmt.Errorf("SMTP URL: %w", err)
	}
	s := &Sender{host: u.Hostname(), opt: opt, redacted: u.Redacted()}
	if s.opt.Timeout <= 0 {
		s.opt.Timeout = 30 * time.Second
	}
	if s.opt.HelloName == "" {
		s.opt.HelloName = "localhost"
	}
	if s.host == "" {
		return nil, fmt.Errorf("SMTP URL %s: no host", s.redacted)
	}
	loopback := isLoopback(s.host)
	port := u.Port()
	switch u.Scheme {
	case "smtp":
		s.requireTLS = !loopback || u.Query().Get("starttls") == "required"
		if port == "" {
			port = "587"
		}
	case "smtps":
		s.implicitTLS = true
		if port == "" {
			port = "465"
		}
	case "smtp+insecure":
		if !loopback {
			return nil, fmt.Errorf("SMTP URL %s: smtp+insecure is only for a server on loopback; use smtp:// (STARTTLS) or smtps://", s.redacted)
		}
		if port == "" {
			port = "25"
		}
	default:
		return nil, fmt.Errorf("SMTP URL %s: scheme must be smtp, smtps or smtp+insecure", s.redacted)
	}
	s.addr = net.JoinHostPort(s.host, port)
	if u.User != nil {
		s.user = u.User.Username()
		s.pass, _ = u.User.Password()
	}
	from := u.Query().Get("from")
	if from == "" {
		return nil, fmt.Errorf("SMTP URL %s: no sender address (?from=latchkey@example.com)", s.redacted)
	}
	if s.from, err = mail.ParseAddress(from); err != nil {
		return nil, fmt.Errorf("SMTP URL %s: from: %w", s.redacted, err)
	}
	return s, nil
}

// String returns the server's URL without its password.
func (s *Sender) String() string { return s.redacted }

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Send delivers m. Its errors name the server (host and port) and what failed, never the
// credentials.
func (s *Sender) Send(ctx context.Context, m *Message) error {
	to, err := mail.ParseAddress(m.To)
	if err != nil {
		return fmt.Errorf("recipient: %w", err)
	}
	body, err := s.compose(m, to, time.Now())
	if err != nil {
		return err
	}
	if err := s.send(ctx, to.Address, body); err != nil {
		return fmt.Errorf("send email via %s: %w", s.addr, err)
	}
	return nil
}

func (s *Sender) send(ctx context.Context, to string, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, s.opt.Timeout)
	defer cancel()
	tlsConfig := &tls.Config{ServerName: s.host, RootCAs: s.opt.RootCAs, MinVersion: tls.VersionTLS12}
	dialer := &net.Dialer{}
	var conn net.Conn
	var err error
	if s.implicitTLS {
		conn, err = (&tls.Dialer{NetDialer: dialer, Config: tlsConfig}).DialContext(ctx, "tcp", s.addr)
	} else {
		conn, err = dialer.DialContext(ctx, "tcp", s.addr)
	}
	if err != nil {
		return err
	}
	defer conn.Close()
	deadline, _ := ctx.Deadline()
	_ = conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	c, err := smtp.NewClient(conn, s.host)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Hello(s.opt.HelloName); err != nil {
		return err
	}
	if !s.implicitTLS {
		if ok, _ := c.Extension("STARTTLS"); ok {
			if err := c.StartTLS(tlsConfig); err != nil {
				return fmt.Errorf("STARTTLS: %w", err)
			}
		} else if s.requireTLS {
			return errors.New("the server does not offer STARTTLS, which is required for a server not on loopback (or with starttls=required)")
		}
	}
	if s.user != "" {
		if ok, _ := c.Extension("AUTH"); !ok {
			return errors.New("the server does not offer AUTH, but the SMTP URL has credentials")
		}
		// PlainAuth itself refuses to send credentials unencrypted except to localhost.
		if err := c.Auth(smtp.PlainAuth("", s.user, s.pass, s.host)); err != nil {
			return fmt.Errorf("AUTH PLAIN: %w", err)
		}
	}
	if err := c.Mail(s.from.Address); err != nil {
		return err
	}
	if err := c.Rcpt(to); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(body); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return c.Quit()
}

// compose builds the message: headers and a multipart/alternative body with the text and the
// HTML part, both quoted-printable.
func (s *Sender) compose(m *Message, to *mail.Address, now time.Time) ([]byte, error) {
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	var id [12]byte
	_, _ = rand.Read(id[:])
	domain := s.from.Address[strings.LastIndexByte(s.from.Address, '@')+1:]
	oneLine := strings.NewReplacer("\r", " ", "\n", " ")
	h := []struct{ k, v string }{
		{"From", s.from.String()},
		{"To", to.String()},
		{"Subject", mime.QEncoding.Encode("utf-8", oneLine.Replace(m.Subject))},
		{"Date", now.Format(time.RFC1123Z)},
		{"Message-ID", "<" + hex.EncodeToString(id[:]) + "@" + domain + ">"},
		{"MIME-Version", "1.0"},
		{"Auto-Submitted", "auto-generated"},
		{"Content-Type", `multipart/alternative; boundary="` + mw.Boundary() + `"`},
	}
	var head bytes.Buffer
	for _, kv := range h {
		head.WriteString(kv.k + ": " + kv.v + "\r\n")
	}
	head.WriteString("\r\n")
	for _, part := range []struct{ typ, body string }{{"text/plain", m.Text}, {"text/html", m.HTML}} {
		pw, err := mw.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {part.typ + "; charset=utf-8"},
			"Content-Transfer-Encoding": {"quoted-printable"},
		})
		if err != nil {
			return nil, err
		}
		qw := quotedprintable.NewWriter(pw)
		if _, err := qw.Write([]byte(part.body)); err != nil {
			return nil, err
		}
		if err := qw.Close(); err != nil {
			return nil, err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	return append(head.Bytes(), b.Bytes()...), nil
}
