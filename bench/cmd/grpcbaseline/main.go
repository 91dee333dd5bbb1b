// Command grpcbaseline is the yardstick for latchkey's ext_authz gRPC throughput: a bare gRPC
// server answering envoy.service.auth.v3.Authorization/Check with only what any token check must
// do — read the authorization header from the CheckRequest, SHA-256 the token, look it up in a
// Go map — and answering OK or a 401 denial. It is bench/cmd/baseline for gRPC.
package main

import (
	"context"
	"crypto/sha256"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"strings"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
)

type baseline struct {
	known   map[[32]byte]bool
	headers bool
}

func (b *baseline) Check(_ context.Context, req *authv3.CheckRequest) (*authv3.CheckResponse, error) {
	_, tok, _ := strings.Cut(req.GetAttributes().GetRequest().GetHttp().GetHeaders()["authorization"], " ")
	if !b.known[sha256.Sum256([]byte(tok))] {
		return &authv3.CheckResponse{
			Status: &rpcstatus.Status{Code: int32(codes.Unauthenticated)},
			HttpResponse: &authv3.CheckResponse_DeniedResponse{DeniedResponse: &authv3.DeniedHttpResponse{
				Status: &typev3.HttpStatus{Code: typev3.StatusCode_Unauthorized}}},
		}, nil
	}
	ok := &authv3.OkHttpResponse{}
	if b.headers {
		ok.Headers = []*corev3.HeaderValueOption{
			{Header: &corev3.HeaderValue{Key: "x-latchkey-account-id", Value: "1"}, AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD},
			{Header: &corev3.HeaderValue{Key: "x-latchkey-principal", Value: "service_token:42"}, AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD},
		}
	}
	return &authv3.CheckResponse{Status: &rpcstatus.Status{Code: int32(codes.OK)},
		HttpResponse: &authv3.CheckResponse_OkResponse{OkResponse: ok}}, nil
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	tokens := flag.String("tokens", "", "file of token strings, one per line")
	headers := flag.Bool("identity-headers", false, "also answer with the two identity headers, as latchkey must (a like-for-like comparison)")
	flag.Parse()
	b, err := os.ReadFile(*tokens)
	if err != nil {
		log.Fatal(err)
	}
	srv := &baseline{known: map[[32]byte]bool{}, headers: *headers}
	for _, t := range strings.Fields(string(b)) {
		srv.known[sha256.Sum256([]byte(t))] = true
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	gs := grpc.NewServer()
	authv3.RegisterAuthorizationServer(gs, srv)
	fmt.Printf("ext_authz (gRPC) listening on %s (%d tokens)\n", ln.Addr(), len(srv.known))
	log.Fatal(gs.Serve(ln))
}
