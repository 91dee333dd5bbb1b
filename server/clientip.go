package server

import (
	"errors"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"github.com/latchkey/latchkey"
)

// The client's address decides IP restrictions and rate limits, so it is read strictly. It is
// the socket peer, unless the peer is a trusted proxy (--trusted-proxies): then it is found in
// X-Forwarded-For or RFC 7239 Forwarded, walking from the right (the entries the trusted proxies
// appended) past every trusted proxy to the first address that is not one. An entry that is not
// an address — empty, "unknown", an obfuscated identifier, garbage — makes the request a 400,
// never a request from the proxy's own address; so does a Forwarded header that names another
// client than X-Forwarded-For (a proxy maintains one of them; the other may be the client's).

// maxForwardedEntries bounds the proxy chain walked.
const maxForwardedEntries = 64

var errForwardedTooLong = errors.New("more than 64 forwarded addresses")

// clientIP is clientIPFrom for the request's own peer.
func (s *Server) clientIP(r *http.Request) (netip.Addr, error) {
	return s.clientIPFrom(r, peerAddr(r))
}

// peerAddr is the socket peer's address.
func peerAddr(r *http.Request) netip.Addr {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		host, _, err := net.SplitHostPort(r.RemoteAddr)
		if err != nil {
			return netip.Addr{}
		}
		a, _ := netip.ParseAddr(host)
		return a.Unmap()
	}
	return ap.Addr().Unmap()
}

// clientIPFrom is the client's address for a request whose peer address is already parsed.
func (s *Server) clientIPFrom(r *http.Request, peer netip.Addr) (netip.Addr, error) {
	if !peer.IsValid() || !s.trusted(peer) {
		return peer, nil
	}
	xff, xffErr := forwardedFor(r.Header["X-Forwarded-For"])
	fwd, fwdErr := rfc7239For(r.Header["Forwarded"])
	if err := errors.Join(xffErr, fwdErr); err != nil {
		return netip.Addr{}, badForwarded(err)
	}
	a, b := s.walk(peer, xff), s.walk(peer, fwd)
	switch {
	case len(xff) == 0:
		return b, nil
	case len(fwd) == 0:
		return a, nil
	case a != b:
		return netip.Addr{}, badForwarded(errors.New("X-Forwarded-For and Forwarded name different clients"))
	}
	return a, nil
}

func badForwarded(err error) error {
	return &latchkey.Error{Code: latchkey.EInvalid, Field: "X-Forwarded-For",
		Message: "the client address the proxy forwarded cannot be read: " + err.Error(),
		Data:    map[string]any{"reason": "bad_forwarded_for"}}
}

// walk returns the right-most address of chain that is not a trusted proxy; when every one is,
// the left-most; with no chain, the peer.
func (s *Server) walk(peer netip.Addr, chain []netip.Addr) netip.Addr {
	addr := peer
	for i := len(chain) - 1; i >= 0; i-- {
		addr = chain[i]
		if !s.trusted(addr) {
			return addr
		}
	}
	return addr
}

func (s *Server) trusted(a netip.Addr) bool {
	for _, p := range s.cfg.TrustedProxies {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// forwardedFor parses X-Forwarded-For values (one header or several, each a comma-separated
// list) into addresses, left to right.
func forwardedFor(values []string) ([]netip.Addr, error) {
	var out []netip.Addr
	for _, v := range values {
		for part := range strings.SplitSeq(v, ",") {
			if len(out) == maxForwardedEntries {
				return nil, errForwardedTooLong
			}
			a, err := ParseForwardedAddr(strings.TrimSpace(part))
			if err != nil {
				return nil, err
			}
			out = append(out, a)
		}
	}
	return out, nil
}

// rfc7239For parses the for= parameters of Forwarded values (RFC 7239 §4), left to right.
// Every element must name an address.
func rfc7239For(values []string) ([]netip.Addr, error) {
	var out []netip.Addr
	for _, v := range values {
		for elem := range strings.SplitSeq(v, ",") {
			if len(out) == maxForwardedEntries {
				return nil, errForwardedTooLong
			}
			var node string
			found := false
			for pair := range strings.SplitSeq(elem, ";") {
				k, val, ok := strings.Cut(strings.TrimSpace(pair), "=")
				if ok && strings.EqualFold(strings.TrimSpace(k), "for") {
					if found {
						return nil, errors.New("a Forwarded element has two for= parameters")
					}
					node, found = strings.TrimSpace(val), true
				}
			}
			if !found {
				return nil, errors.New("a Forwarded element has no for= parameter")
			}
			if len(node) >= 2 && node[0] == '"' && node[len(node)-1] == '"' {
				node = node[1 : len(node)-1]
			}
			a, err := ParseForwardedAddr(node)
			if err != nil {
				return nil, err
			}
			out = append(out, a)
		}
	}
	return out, nil
}

// ParseForwardedAddr parses one forwarded client address: "192.0.2.1", "192.0.2.1:5555",
// "[2001:db8::1]", "[2001:db8::1]:5555" or a bare IPv6 address. Anything else — empty,
// "unknown", an obfuscated identifier, a zone, a port without an address — is an error.
func ParseForwardedAddr(s string) (netip.Addr, error) {
	if s == "" {
		return netip.Addr{}, errors.New("an empty forwarded address")
	}
	if len(s) > 64 {
		return netip.Addr{}, errors.New("a forwarded address is too long")
	}
	host, bracketed := s, strings.HasPrefix(s, "[")
	switch {
	case bracketed:
		end := strings.IndexByte(s, ']')
		if end < 0 {
			return netip.Addr{}, errors.New("an unclosed [ in a forwarded address")
		}
		host = s[1:end]
		if rest := s[end+1:]; rest != "" {
			port, ok := strings.CutPrefix(rest, ":")
			if !ok || !validPort(port) {
				return netip.Addr{}, errors.New("a forwarded address has something other than a port after ]")
			}
		}
	case strings.Count(s, ":") == 1:
		h, port, _ := strings.Cut(s, ":")
		if !validPort(port) {
			return netip.Addr{}, errors.New("a forwarded address has a bad port")
		}
		host = h
	}
	a, err := netip.ParseAddr(host)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, errors.New("a forwarded entry is not an IP address")
	}
	if bracketed && !a.Is6() {
		return netip.Addr{}, errors.New("a forwarded IPv4 address in brackets")
	}
	return a.Unmap(), nil
}

func validPort(p string) bool {
	if p == "" || len(p) > 5 {
		return false
	}
	n := 0
	for _, c := range p {
		if c < '0' || c > '9' {
			return false
		}
		n = n*10 + int(c-'0')
	}
	return n <= 65535
}
