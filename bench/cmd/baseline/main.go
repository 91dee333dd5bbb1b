// Command baseline is the yardstick for latchkey's forward-auth throughput: a bare net/http
// server that does only what any token check must do — read the Authorization header, SHA-256
// the token, look it up in a Go map — and answers 200 or 401.
package main

import (
	"crypto/sha256"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"strings"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	tokens := flag.String("tokens", "", "file of token strings, one per line")
	headers := flag.Bool("identity-headers", false, "also answer with two identity headers, as forward-auth must (a like-for-like comparison)")
	flag.Parse()
	b, err := os.ReadFile(*tokens)
	if err != nil {
		log.Fatal(err)
	}
	known := map[[32]byte]bool{}
	for _, t := range strings.Fields(string(b)) {
		known[sha256.Sum256([]byte(t))] = true
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("serving on http://%s (%d tokens)\n", ln.Addr(), len(known))
	log.Fatal(http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		if known[sha256.Sum256([]byte(tok))] {
			if *headers {
				h := w.Header()
				h["X-Latchkey-Account-Id"] = []string{"1"}
				h["X-Latchkey-Principal"] = []string{"service_token:42"}
			}
			w.WriteHeader(http.StatusOK)
			return
		}
		w.WriteHeader(http.StatusUnauthorized)
	})))
}
