// Command grpcload drives an ext_authz gRPC server (envoy.service.auth.v3.Authorization/Check)
// as Envoy would: a few HTTP/2 connections carrying many concurrent Check calls, each describing
// a proxied request (method, path, the authorization header and a few others, the downstream
// address), cycling through a file of tokens. It keeps -concurrency calls in flight for
// -duration and prints the completed calls per second and their latency:
//
//	<calls/s> calls/s, <n> ok, <n> denied, <n> errors, p50 <µs> µs, p99 <µs> µs
//
// It stands in for ghz (github.com/bojand/ghz), which would need the Envoy protos as files or
// server reflection, and is lighter on the two CPUs it shares with the server measured.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	authv3 "github.com/envoyproxy/go-control-plane/envoy/service/auth/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8421", "ext_authz gRPC address")
	tokens := flag.String("tokens", "tokens.txt", "file of tokens, one per line")
	method := flag.String("method", "GET", "method of the proxied request")
	path := flag.String("path", "/api/projects/1/jobs/7", "path of the proxied request")
	conns := flag.Int("conns", 2, "HTTP/2 connections (Envoy opens one per worker thread)")
	concurrency := flag.Int("concurrency", 32, "calls in flight, spread over the connections")
	dur := flag.Duration("duration", 5*time.Second, "how long to run")
	prime := flag.Bool("prime", false, "first ask once about every token, untimed (fills a server's cache)")
	flag.Parse()

	b, err := os.ReadFile(*tokens)
	if err != nil {
		log.Fatal(err)
	}
	toks := strings.Fields(string(b))
	if len(toks) == 0 {
		log.Fatalf("no tokens in %s", *tokens)
	}
	// The requests are built up front, so that the load is limited by the server.
	reqs := make([]*authv3.CheckRequest, len(toks))
	for i, t := range toks {
		reqs[i] = &authv3.CheckRequest{Attributes: &authv3.AttributeContext{
			Source: &authv3.AttributeContext_Peer{Address: &corev3.Address{Address: &corev3.Address_SocketAddress{
				SocketAddress: &corev3.SocketAddress{Address: "127.0.0.1", PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: uint32(40000 + i%20000)}}}}},
			Destination: &authv3.AttributeContext_Peer{Address: &corev3.Address{Address: &corev3.Address_SocketAddress{
				SocketAddress: &corev3.SocketAddress{Address: "127.0.0.1", PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: 8080}}}}},
			Request: &authv3.AttributeContext_Request{Http: &authv3.AttributeContext_HttpRequest{
				Id: fmt.Sprintf("%016x", i), Method: *method, Path: *path, Host: "api.example.com", Scheme: "http", Protocol: "HTTP/1.1",
				Headers: map[string]string{
					":authority": "api.example.com", ":method": *method, ":path": *path, ":scheme": "http",
					"authorization": "Token " + t, "user-agent": "curl/8.5.0", "accept": "*/*",
					"x-forwarded-proto": "http", "x-request-id": fmt.Sprintf("%016x", i),
				}}},
		}}
	}
	clients := make([]authv3.AuthorizationClient, *conns)
	for i := range clients {
		// Each ClientConn is its own HTTP/2 connection.
		cc, err := grpc.NewClient(*addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			log.Fatal(err)
		}
		defer cc.Close()
		clients[i] = authv3.NewAuthorizationClient(cc)
	}

	ctx := context.Background()
	if *prime {
		var wg sync.WaitGroup
		for w := range *concurrency {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w; i < len(reqs); i += *concurrency {
					if _, err := clients[w%len(clients)].Check(ctx, reqs[i]); err != nil {
						log.Fatal(err)
					}
				}
			}()
		}
		wg.Wait()
	}

	type result struct {
		ok, denied, errors int
		lat                []time.Duration
	}
	results := make([]result, *concurrency)
	start := time.Now()
	end := start.Add(*dur)
	var wg sync.WaitGroup
	for w := range *concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := &results[w]
			c := clients[w%len(clients)]
			for i := w; ; i += *concurrency {
				t0 := time.Now()
				if t0.After(end) {
					return
				}
				resp, err := c.Check(ctx, reqs[i%len(reqs)])
				switch {
				case err != nil:
					r.errors++
				case resp.GetStatus().GetCode() == int32(codes.OK):
					r.ok++
				default:
					r.denied++
				}
				r.lat = append(r.lat, time.Since(t0))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	var total result
	for _, r := range results {
		total.ok += r.ok
		total.denied += r.denied
		total.errors += r.errors
		total.lat = append(total.lat, r.lat...)
	}
	slices.Sort(total.lat)
	n := len(total.lat)
	if n == 0 {
		log.Fatal("no call completed")
	}
	fmt.Printf("%.0f calls/s, %d ok, %d denied, %d errors, p50 %d µs, p99 %d µs\n", float64(n)/elapsed.Seconds(),
		total.ok, total.denied, total.errors, total.lat[n/2].Microseconds(), total.lat[n*99/100].Microseconds())
}
