package server

import (
	"context"
	"crypto/subtle"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// ExtAuthz is Envoy's external authorization service over gRPC
// (envoy.service.auth.v3.Authorization/Check). It answers with the same forward-auth rules and
// verifier as /v1/forward-auth: Envoy sends the original request's method, path and headers in
// the CheckRequest itself, so no gateway header is read and the rules' gateway profile
// (`gateway: envoy` is the one for Envoy) only matters for the HTTP endpoint.
//
// Only Envoy decides what latchkey believes:
//   - the credential is the request's authorization header;
//   - the client's address is the CheckRequest's source address: the peer of the connection
//     Envoy received the request on (or the client a PROXY protocol header named), never an
//     address from X-Forwarded-For; --trusted-proxies and the request's X-Forwarded-For are not
//     read;
//   - a rule's environment_header is read from the route's context_extensions (the
//     ExtAuthzPerRoute check_settings in Envoy's route configuration), under the header's name,
//     never from the client's request headers.
//
// Like the HTTP endpoint it answers only loopback peers, or, with --forward-auth-secret, peers
// sending that secret in the x-latchkey-forward-secret metadata (Envoy's initial_metadata).
type ExtAuthz struct {
	s *Server
}

// ExtAuthz returns the server's Envoy ext_authz gRPC service, to register on a grpc.Server.
func (s *Server) ExtAuthz() *ExtAuthz { return &ExtAuthz{s: s} }

var _ authv3.AuthorizationServer = (*ExtAuthz)(nil)

// forwardSecretMetadata is the gRPC metadata key of --forward-auth-secret (lower case, as gRPC
// metadata keys are).
const forwardSecretMetadata = "x-latchkey-forward-secret"

// Check answers one ext_authz question. A caller that may not ask gets a gRPC PermissionDenied
// error (Envoy then answers its status_on_error); every other outcome is a CheckResponse: OK
// with the identity headers, or a denial carrying the HTTP status, body and x-latchkey-reason
// that /v1/forward-auth would have answered.
func (x *ExtAuthz) Check(ctx context.Context, req *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	s := x.s
	if s.cfg.ForwardAuth == nil {
		s.metrics.forward(http.StatusNotFound)
		return nil, status.Error(codes.FailedPrecondition, "forward-auth is not configured (start serve with --forward-auth-rules)")
	}
	p := grpcPeerAddr(ctx)
	if !s.grpcGatewayAllowed(ctx, p) {
		s.metrics.forward(http.StatusForbidden)
		return nil, status.Error(codes.PermissionDenied, "ext_authz: this gateway is not allowed to ask")
	}
	var a forwardAnswer
	q, err := extAuthzAsk(req.GetAttributes())
	if err != nil {
		a = forwardAnswer{status: http.StatusBadRequest, reason: "bad_request", message: err.Error()}
		var fe *forwardError
		if errors.As(err, &fe) {
			a.reason = fe.reason
		}
	} else {
		a = s.answerForward(ctx, q)
	}
	s.metrics.forward(a.status)
	if a.status == http.StatusOK {
		return extAuthzOK(a), nil
	}
	if s.log.Enabled(ctx, -4) {
		s.log.Debug("ext_authz denied", "status", a.status, "reason", a.reason, "peer", addrString(p))
	}
	return extAuthzDenied(a), nil
}

// grpcGatewayAllowed is gatewayAllowed for a gRPC caller: with a shared secret configured, the
// caller must send it in its metadata; without one, only loopback peers may ask.
func (s *Server) grpcGatewayAllowed(ctx context.Context, p netip.Addr) bool {
	if s.cfg.ForwardAuthSecret != "" {
		got := metadata.ValueFromIncomingContext(ctx, forwardSecretMetadata)
		return len(got) == 1 && subtle.ConstantTimeCompare([]byte(got[0]), []byte(s.cfg.ForwardAuthSecret)) == 1
	}
	return p.IsLoopback()
}

// grpcPeerAddr is the address of the connection's peer (invalid for a Unix socket).
func grpcPeerAddr(ctx context.Context) netip.Addr {
	p, ok := peer.FromContext(ctx)
	if !ok || p.Addr == nil {
		return netip.Addr{}
	}
	if a, ok := p.Addr.(*net.TCPAddr); ok {
		return a.AddrPort().Addr().Unmap()
	}
	ap, err := netip.ParseAddrPort(p.Addr.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// extAuthzAsk reads the question out of a CheckRequest's attributes.
func extAuthzAsk(attrs *authv3.AttributeContext) (forwardAsk, error) {
	var q forwardAsk
	h := attrs.GetRequest().GetHttp()
	if h.GetMethod() == "" || h.GetPath() == "" {
		return q, &forwardError{"missing_attributes", "the CheckRequest must carry the HTTP request's method and path (attributes.request.http)"}
	}
	// path is the request target as the client sent it, query included; answerForward
	// refuses one that is not in canonical form.
	q.method, q.uri = h.Method, h.Path
	var err error
	if h.Headers != nil || h.HeaderMap == nil {
		// Envoy lower-cases header names and joins repeated headers with commas.
		q.authorization = h.Headers["authorization"]
	} else if q.authorization, err = rawHeaderValue(h.HeaderMap, "authorization"); err != nil {
		return q, err
	}
	// The route's context extensions are the only headers the rules may read (an
	// environment_header): Envoy's configuration sets them, a client cannot.
	if ext := attrs.GetContextExtensions(); len(ext) > 0 {
		q.header = make(http.Header, len(ext))
		for k, v := range ext {
			k = http.CanonicalHeaderKey(k)
			q.header[k] = append(q.header[k], v)
		}
	}
	q.ip, err = sourceAddr(attrs.GetSource().GetAddress().GetSocketAddress().GetAddress())
	return q, err
}

// rawHeaderValue is headerValue for Envoy's raw header list (encode_raw_headers), in which
// repeated headers stay apart.
func rawHeaderValue(m *corev3.HeaderMap, name string) (string, error) {
	var v string
	found := false
	for _, hv := range m.GetHeaders() {
		if !strings.EqualFold(hv.GetKey(), name) {
			continue
		}
		x := hv.GetValue()
		if x == "" {
			x = string(hv.GetRawValue())
		}
		if found && x != v {
			return "", errAmbiguous(http.CanonicalHeaderKey(name))
		}
		v, found = x, true
	}
	return v, nil
}

// sourceAddr parses the downstream address Envoy reports. None at all (a Unix socket listener)
// is an unknown client, as for an HTTP peer whose address cannot be read; an address that does
// not parse is refused.
func sourceAddr(s string) (netip.Addr, error) {
	if s == "" {
		return netip.Addr{}, nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, &forwardError{"bad_source_address", "the CheckRequest's source address is not an IP address"}
	}
	return a.WithZone("").Unmap(), nil
}

// The header names of answers, lower case as HTTP/2 and Envoy write them.
const (
	hdrAccountID = "x-latchkey-account-id"
	hdrPrincipal = "x-latchkey-principal"
	hdrReason    = "x-latchkey-reason"
)

// overwrite sets a header, replacing any copy the request (or response) already has: a client
// must not be able to add its own x-latchkey-principal next to latchkey's.
func overwrite(key, value string) *corev3.HeaderValueOption {
	return &corev3.HeaderValueOption{
		Header:       &corev3.HeaderValue{Key: key, Value: value},
		AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD,
	}
}

// okResponse is an OK CheckResponse with its two identity headers, allocated as one object:
// Check answers OK for nearly every request a gateway proxies, and the nine small messages
// otherwise allocated for it are a measurable part of its cost.
type okResponse struct {
	resp    authv3.CheckResponse
	status  rpcstatus.Status
	oneof   authv3.CheckResponse_OkResponse
	ok      authv3.OkHttpResponse
	headers [2]*corev3.HeaderValueOption
	options [2]corev3.HeaderValueOption
	values  [2]corev3.HeaderValue
}

func extAuthzOK(a forwardAnswer) *authv3.CheckResponse {
	account, principal := a.principal.IdentityValues()
	r := &okResponse{}
	r.values[0].Key, r.values[0].Value = hdrAccountID, account[0]
	r.values[1].Key, r.values[1].Value = hdrPrincipal, principal[0]
	for i := range r.options {
		r.options[i].Header = &r.values[i]
		r.options[i].AppendAction = corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD
		r.headers[i] = &r.options[i]
	}
	r.ok.Headers = r.headers[:]
	if a.policy != "" {
		// For the client: what the token's rate limits leave it.
		r.ok.ResponseHeadersToAdd = []*corev3.HeaderValueOption{overwrite("ratelimit-policy", a.policy), overwrite("ratelimit", a.limits)}
	}
	r.oneof.OkResponse = &r.ok
	r.resp.Status = &r.status // code 0: OK
	r.resp.HttpResponse = &r.oneof
	return &r.resp
}

// extAuthzDenied answers a refusal as the HTTP endpoint would: its status, a text body with the
// message and x-latchkey-reason, with WWW-Authenticate on 401 and Retry-After on 429. A
// verification that could not be made (500: storage failed) is an error_response, which Envoy
// counts as ext_authz_error and treats as its failure_mode_allow says.
func extAuthzDenied(a forwardAnswer) *authv3.CheckResponse {
	headers := []*corev3.HeaderValueOption{
		overwrite(hdrReason, a.reason),
		overwrite("content-type", "text/plain; charset=utf-8"),
		overwrite("x-content-type-options", "nosniff"),
	}
	if a.status == http.StatusUnauthorized {
		headers = append(headers, overwrite("www-authenticate", `Token realm="latchkey"`))
	}
	if a.retryAfter != "" { // 429, and 503 while storage cannot answer
		headers = append(headers, overwrite("retry-after", a.retryAfter))
	}
	if a.policy != "" {
		headers = append(headers, overwrite("ratelimit-policy", a.policy), overwrite("ratelimit", a.limits))
	}
	d := &authv3.DeniedHttpResponse{
		Status:  &typev3.HttpStatus{Code: typev3.StatusCode(a.status)},
		Headers: headers,
		Body:    a.message + "\n",
	}
	r := &authv3.CheckResponse{Status: &rpcstatus.Status{Code: int32(grpcCode(a.status)), Message: a.reason}}
	if a.status >= 500 {
		r.HttpResponse = &authv3.CheckResponse_ErrorResponse{ErrorResponse: d}
	} else {
		r.HttpResponse = &authv3.CheckResponse_DeniedResponse{DeniedResponse: d}
	}
	return r
}

// grpcCode is the gRPC status of a CheckResponse refusing with an HTTP status. Envoy decides on
// OK or not OK and uses the HTTP status for the client; the code is for logs and metrics.
func grpcCode(httpStatus int) codes.Code {
	switch httpStatus {
	case http.StatusBadRequest:
		return codes.InvalidArgument
	case http.StatusUnauthorized:
		return codes.Unauthenticated
	case http.StatusTooManyRequests:
		return codes.ResourceExhausted
	}
	if httpStatus >= 500 {
		return codes.Unavailable
	}
	return codes.PermissionDenied
}
